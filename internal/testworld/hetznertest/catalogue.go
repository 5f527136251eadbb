package hetznertest

import (
	"fmt"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// The catalogue as Hetzner's API lists it today (2026-12), in hcloud-go's
// schema types: which types exist, in which locations each is available,
// and what it costs there.
//
//   - Hetzner deprecated the CX Gen 2 (cx22…cx52) and CPX Gen 1 EU types on
//     2025-10-16, "no longer available for order as of 2025-12-31", and has
//     removed them from the API since: they are not listed, and a create
//     naming one is refused with invalid_input on server_type.
//   - Their successors: CX Gen 3 (cx23, cx33, cx43, cx53) in the EU
//     locations, CPX Gen 2 (cpx12…cpx62) in the EU, the Arm CAX types in the
//     EU, dedicated CCX everywhere, and CPX Gen 1 still in the US.
//   - Since 2025-09 deprecation is per location (`locations[].deprecation`),
//     and since 2026-04 availability is too (`locations[].available`):
//     a type can be listed yet sold out in one location.
//
// Monthly net prices (EUR) are those of Hetzner's public price table read
// in 2026, the same in every location of a region; the stand-in uses them
// to order types, not to bill.
var euLocations = []string{"fsn1", "nbg1", "hel1"}
var usLocations = []string{"ash", "hil"}

type offer struct {
	name, arch, cpu string
	cores           int
	memory          float32
	disk            int
	monthly         float64
	locations       []string
	soldOut         map[string]bool // listed, not available now
}

var today = []offer{
	{"cx23", "x86", "shared", 2, 4, 40, 5.99, euLocations, map[string]bool{"hel1": true}},
	{"cx33", "x86", "shared", 4, 8, 80, 8.99, euLocations, nil},
	{"cx43", "x86", "shared", 8, 16, 160, 16.49, euLocations, nil},
	{"cx53", "x86", "shared", 16, 32, 320, 29.99, euLocations, nil},
	{"cax11", "arm", "shared", 2, 4, 40, 6.49, euLocations, nil},
	{"cax21", "arm", "shared", 4, 8, 80, 10.99, euLocations, nil},
	{"cax31", "arm", "shared", 8, 16, 160, 21.49, euLocations, nil},
	{"cax41", "arm", "shared", 16, 32, 320, 41.49, euLocations, nil},
	{"cpx12", "x86", "shared", 1, 2, 40, 11.99, euLocations, nil},
	{"cpx22", "x86", "shared", 2, 4, 80, 19.99, euLocations, nil},
	{"cpx32", "x86", "shared", 4, 8, 160, 35.99, euLocations, nil},
	{"cpx42", "x86", "shared", 8, 16, 320, 69.99, euLocations, nil},
	{"cpx52", "x86", "shared", 12, 24, 480, 100.99, euLocations, nil},
	{"cpx62", "x86", "shared", 16, 32, 640, 130.49, euLocations, nil},
	{"cpx11", "x86", "shared", 2, 2, 40, 17.99, usLocations, nil},
	{"cpx21", "x86", "shared", 3, 4, 80, 32.49, usLocations, nil},
	{"cpx31", "x86", "shared", 4, 8, 160, 62.99, usLocations, nil},
	{"cpx41", "x86", "shared", 8, 16, 240, 120.99, usLocations, nil},
	{"cpx51", "x86", "shared", 16, 32, 360, 238.49, usLocations, nil},
	{"ccx13", "x86", "dedicated", 2, 8, 80, 43.49, append(append([]string{}, euLocations...), usLocations...), nil},
	{"ccx23", "x86", "dedicated", 4, 16, 160, 86.49, append(append([]string{}, euLocations...), usLocations...), nil},
	{"ccx33", "x86", "dedicated", 8, 32, 240, 138.99, append(append([]string{}, euLocations...), usLocations...), nil},
}

// Removed lists the types Hetzner sold until 2025-12-31 and no longer
// lists: what older configurations (ours included) still name.
var Removed = []string{"cx22", "cx32", "cx42", "cx52"}

var locationIDs = map[string]int64{"fsn1": 1, "nbg1": 2, "hel1": 3, "ash": 4, "hil": 5, "sin": 6}

// TodaysCatalogue is the list GET /server_types answers.
func TodaysCatalogue() []schema.ServerType {
	out := make([]schema.ServerType, 0, len(today))
	for i, o := range today {
		t := schema.ServerType{ID: int64(100 + i), Name: o.name, Description: o.name, Category: "shared", Cores: o.cores, Memory: o.memory,
			Disk: o.disk, StorageType: "local", CPUType: o.cpu, Architecture: o.arch}
		if o.cpu == "dedicated" {
			t.Category = "dedicated"
		}
		for _, loc := range o.locations {
			t.Locations = append(t.Locations, schema.ServerTypeLocation{ID: locationIDs[loc], Name: loc, Available: !o.soldOut[loc], Recommended: !o.soldOut[loc]})
			net := fmt.Sprintf("%.4f", o.monthly)
			gross := fmt.Sprintf("%.4f", o.monthly*1.19)
			t.Prices = append(t.Prices, schema.PricingServerTypePrice{Location: loc,
				PriceHourly:  schema.Price{Net: fmt.Sprintf("%.4f", o.monthly/730), Gross: fmt.Sprintf("%.4f", o.monthly*1.19/730)},
				PriceMonthly: schema.Price{Net: net, Gross: gross}, IncludedTraffic: 20 << 40})
		}
		out = append(out, t)
	}
	return out
}

// Deprecate marks a listed type deprecated in every location, as Hetzner
// announces a retirement: still orderable until unavailableAfter.
func Deprecate(types []schema.ServerType, name string, announced, unavailableAfter time.Time) {
	for i := range types {
		if types[i].Name != name {
			continue
		}
		d := &schema.DeprecationInfo{Announced: announced, UnavailableAfter: unavailableAfter}
		for j := range types[i].Locations {
			types[i].Locations[j].DeprecatableResource = schema.DeprecatableResource{Deprecation: d}
		}
	}
}
