package hetzner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
)

// With no type pinned, every size sold gets the cheapest type Hetzner
// sells today that holds it, in the first location that sells it.
func TestEachSizeGetsTheCheapestTypeOnSaleToday(t *testing.T) {
	api := hetznertest.New(t)
	for _, c := range []struct {
		name      string
		locations []string
		archs     []hcloud.Architecture
		want      map[int]string // size → "type@location"
	}{
		{"the EU, x86", []string{"fsn1", "nbg1"}, nil,
			map[int]string{8: "cx23@fsn1", 16: "cx33@fsn1", 32: "cx33@fsn1", 64: "cx43@fsn1"}},
		// cx23 is listed in hel1 but sold out there.
		{"hel1 alone", []string{"hel1"}, nil,
			map[int]string{8: "cx33@hel1", 16: "cx33@hel1", 32: "cx33@hel1", 64: "cx43@hel1"}},
		// The CX Gen 3 types are not sold in the US: CPX Gen 1 is, and a
		// dedicated ccx13 undercuts it where memory decides.
		{"the US", []string{"ash"}, nil,
			map[int]string{8: "cpx21@ash", 16: "ccx13@ash", 32: "cpx31@ash", 64: "cpx41@ash"}},
		// Multi-arch images: Arm types compete on price, and lose to CX here.
		{"multi-arch", []string{"nbg1"}, []hcloud.Architecture{hcloud.ArchitectureX86, hcloud.ArchitectureARM},
			map[int]string{8: "cx23@nbg1", 64: "cx43@nbg1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t, api, func(cfg *Config) { cfg.Locations, cfg.Architectures = c.locations, c.archs })
			plan, err := p.Plan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for n, want := range c.want {
				got := plan.BySize[n]
				if len(got) == 0 || got[0].Type+"@"+got[0].Location != want {
					t.Errorf("%d nodes: %v; want %s first", n, got, want)
				}
				for _, cand := range got {
					for _, gone := range hetznertest.Removed {
						if cand.Type == gone {
							t.Errorf("%d nodes: the removed type %s", n, gone)
						}
					}
				}
			}
		})
	}
}

// A size the plugin sells beyond the planned ones (its price table is the
// operator's) still gets the cheapest type that holds it.
func TestAnUnplannedSizeGetsTheCheapestFit(t *testing.T) {
	api := hetznertest.New(t)
	p := newProvider(t, api)
	if _, err := p.Acquire(context.Background(), infra.Spec{OrderID: "o-24", NodeCount: 24}, noBeat); err != nil {
		t.Fatal(err)
	}
	if s := api.Servers(); len(s) != 1 || s[0].Type != "cx33" {
		t.Fatalf("servers %+v; want one cx33 for 24 nodes (3 vCPU, 5.75 GB)", s)
	}
}

// The sizing rule itself, as SPEC §5 states its floor.
func TestNeedHoldsTheSpecsFloor(t *testing.T) {
	for n, wantCores := range map[int]int{8: 2, 16: 2, 32: 4, 64: 8} {
		cores, mem := Need(n)
		if cores != wantCores || mem < float64(n)*0.150 {
			t.Errorf("%d nodes: %d vCPU, %.2f GB", n, cores, mem)
		}
	}
}

// A candidate the API says is unavailable at order time (sold out since
// the catalogue was read) gives way to the next location, then the next
// type, and still one server is made.
func TestSoldOutAtOrderTimeFallsToTheNextLocationThenType(t *testing.T) {
	api := hetznertest.New(t)
	p := newProvider(t, api)
	if _, err := p.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Read before these went: fsn1 and nbg1 are both sold out of cx23.
	for i := range api.Catalogue {
		if api.Catalogue[i].Name == "cx23" {
			for j := range api.Catalogue[i].Locations {
				api.Catalogue[i].Locations[j].Available = false
			}
		}
	}
	if _, err := p.Acquire(context.Background(), spec("o-sold-out"), noBeat); err != nil {
		t.Fatal(err)
	}
	s := api.Servers()
	if len(s) != 1 || s[0].Type != "cx33" || s[0].Location != "fsn1" {
		t.Fatalf("servers %+v; want one cx33 in fsn1", s)
	}
}

// A pinned type wins; a pinned type Hetzner removed is refused with its
// fix (before any order is sold: the worker asks for the plan at start);
// a pinned type whose retirement is announced is served, with a warning.
func TestPinnedTypesAreCheckedAgainstTheCatalogue(t *testing.T) {
	api := hetznertest.New(t)
	ctx := context.Background()
	pinned := newProvider(t, api, func(c *Config) { c.ServerTypes = map[int]string{8: "cpx22", 64: "cx23"} })
	plan, err := pinned.Plan(ctx)
	if err != nil || plan.BySize[8][0].Type != "cpx22" || plan.BySize[16][0].Type != "cx33" || plan.BySize[64][0].Type != "cx23" {
		t.Fatalf("pinned cpx22 for 8: %v %v", plan.BySize, err)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "cx23 for 64 nodes has 2 vCPU") {
		t.Fatalf("a pinned type too small for its size: warnings %v", plan.Warnings)
	}

	removed := newProvider(t, api, func(c *Config) { c.ServerTypes = map[int]string{8: "cx22"} })
	_, err = removed.Plan(ctx)
	var perm *infra.PermanentError
	var pe *PlanError
	if !errors.As(err, &perm) || !errors.As(err, &pe) || pe.Nodes != 8 || !strings.Contains(pe.Why, `"cx22" is not in Hetzner's catalogue`) ||
		!strings.Contains(pe.Fix, "LNPLAYLIVE_HETZNER_SERVER_TYPES") || !strings.Contains(pe.Fix, "cx23 in fsn1") {
		t.Fatalf("removed pinned type: %v", err)
	}
	if _, err := removed.Acquire(ctx, spec("o-removed"), noBeat); !errors.As(err, &perm) {
		t.Fatalf("an order on a removed pinned type: %v", err)
	}

	hetznertest.Deprecate(api.Catalogue, "cx33", time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC))
	deprecated := newProvider(t, api, func(c *Config) { c.ServerTypes = map[int]string{32: "cx33"} })
	plan, err = deprecated.Plan(ctx)
	if err != nil || plan.BySize[32][0].Type != "cx33" {
		t.Fatalf("a deprecated pinned type is still sold: %v %v", plan.BySize, err)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "cx33") || !strings.Contains(plan.Warnings[0], "2027-02-01") {
		t.Fatalf("warnings %v", plan.Warnings)
	}
	// The worker never chooses a deprecated type by itself.
	if got := plan.BySize[16][0].Type; got == "cx33" {
		t.Fatalf("16 nodes chose the deprecated %s", got)
	}
	if len(api.Servers()) != 0 {
		t.Fatal("a server was made")
	}
}

// The stand-in answers a removed type as the API does.
func TestTheAPIRefusesARemovedType(t *testing.T) {
	api := hetznertest.New(t)
	c := hcloud.NewClient(hcloud.WithToken(api.Token), hcloud.WithEndpoint(api.URL))
	for _, name := range hetznertest.Removed {
		if st, _, err := c.ServerType.GetByName(context.Background(), name); err != nil || st != nil {
			t.Fatalf("%s is listed: %v %v", name, st, err)
		}
		_, _, err := c.Server.Create(context.Background(), hcloud.ServerCreateOpts{Name: "x-" + name, ServerType: &hcloud.ServerType{Name: name},
			Image: &hcloud.Image{Name: "debian-12"}, Location: &hcloud.Location{Name: "fsn1"}, SSHKeys: []*hcloud.SSHKey{{ID: 7}}, Labels: map[string]string{}})
		var he hcloud.Error
		if !hcloud.IsError(err, hcloud.ErrorCodeInvalidInput) || !errors.As(err, &he) || he.Message != "invalid input in field 'server_type'" {
			t.Fatalf("create %s: %v", name, err)
		}
	}
}

// The start-up check: a token Hetzner rejects fails for good (sales stop,
// with the fix); Hetzner not answering is transient (sales go on); on
// today's catalogue every check passes.
func TestTheStartUpCheckTellsLastingFromPassingFailures(t *testing.T) {
	api := hetznertest.New(t)
	ctx := context.Background()
	if failed := infra.Failed(newProvider(t, api).Check(ctx)); failed != "" {
		t.Fatalf("today's catalogue: %s", failed)
	}
	checks := newProvider(t, api, func(c *Config) { c.Token = "revoked" }).Check(ctx)
	if len(checks) != 1 || checks[0].Err == nil || checks[0].Transient() || !strings.Contains(infra.Failed(checks), "HCLOUD_TOKEN") {
		t.Fatalf("a rejected token: %+v", checks)
	}
	api.Inject(hetznertest.Fault{Method: "GET", Path: "/server_types", Times: 100, Status: 503})
	checks = newProvider(t, api).Check(ctx)
	if checks[0].Err == nil || !checks[0].Transient() || infra.Failed(checks) != "" {
		t.Fatalf("Hetzner not answering: %+v", checks)
	}
}
