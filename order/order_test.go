package order

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPriceMatchesTheSpecExample(t *testing.T) {
	p := DefaultProducts()
	r, err := ParseCreateOrder(json.RawMessage(`{"node_count":8,"hours":48}`), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.PriceMsat(r); got != 76_800_000 {
		t.Fatalf("price %d, want 76,800,000 msat", got)
	}
	for nodes, want := range map[int]uint64{16: 220_000 * 16 * 3, 32: 240_000 * 32 * 3, 64: 260_000 * 64 * 3} {
		if got := p.PriceMsat(Request{NodeCount: nodes, Hours: 3}); got != want {
			t.Errorf("%d nodes: %d, want %d", nodes, got, want)
		}
	}
}

func TestParseCreateOrderAcceptsEveryFormLightningCliSends(t *testing.T) {
	p := DefaultProducts()
	for _, params := range []string{
		`{"node_count":8,"hours":48}`, `{"node_count":"8","hours":"48"}`, `[8,48]`, `["8","48"]`,
		`{"hours":48,"node_count":8}`, `[8,"48"]`, `{"node_count":"08","hours":48}`,
	} {
		r, err := ParseCreateOrder(json.RawMessage(params), p)
		if err != nil || r != (Request{NodeCount: 8, Hours: 48, Topology: DefaultTopology, PaymentType: PaymentTypeBolt11}) {
			t.Errorf("%s: %+v %v", params, r, err)
		}
	}
	for params, want := range map[string]string{`[8,48,null,"bolt12"]`: PaymentTypeBolt12,
		`{"node_count":8,"hours":48,"payment_type":"bolt11"}`: PaymentTypeBolt11} {
		if r, err := ParseCreateOrder(json.RawMessage(params), p); err != nil || r.PaymentType != want {
			t.Errorf("%s: %+v %v", params, r, err)
		}
	}
	for _, params := range []string{`[8,48,null,"bolt13"]`, `{"node_count":8,"hours":48,"payment_type":12}`} {
		var pe *ParamError
		if _, err := ParseCreateOrder(json.RawMessage(params), p); !errors.As(err, &pe) || pe.Param != "payment_type" {
			t.Errorf("%s: %v, want a payment_type error", params, err)
		}
	}
	for params, want := range map[string]Topology{
		`{"node_count":8,"hours":48,"topology":"prism"}`: TopologyPrism, `[8,48,"none"]`: TopologyNone,
		`{"node_count":8,"hours":48,"topology":"mesh"}`: TopologyMesh, `[8,48,null]`: DefaultTopology,
	} {
		r, err := ParseCreateOrder(json.RawMessage(params), p)
		if err != nil || r.Topology != want {
			t.Errorf("%s: %+v %v, want topology %s", params, r, err, want)
		}
	}
}

func TestParseCreateOrderRefusalsNameTheParameter(t *testing.T) {
	p := DefaultProducts()
	for params, param := range map[string]string{
		`{"node_count":9,"hours":48}`: "node_count", `{"node_count":8,"hours":1}`: "hours",
		`{"node_count":8}`: "hours", `{"node_count":8,"hours":48,"x":1}`: "x", `{"node_count":1e1,"hours":48}`: "node_count",
		`{"node_count":8,"hours":48,"topology":"ring"}`: "topology", `[8,48,"Prism"]`: "topology",
		`{"node_count":8,"hours":48,"topology":1}`: "topology", `[8,48,""]`: "topology", `[8,48,["mesh"]]`: "topology",
	} {
		_, err := ParseCreateOrder(json.RawMessage(params), p)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != param {
			t.Errorf("%s: %v, want an error about %s", params, err, param)
		}
	}
}

func TestIDsAcceptBareAndPrefixedUUIDsOnly(t *testing.T) {
	id := NewID()
	for _, s := range []string{string(id), "lnplaylive-" + string(id)} {
		if got, err := ParseID(s); err != nil || got != id {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "lnplaylive-", "{" + string(id) + "}", "urn:uuid:" + string(id), "8d33e17d-0385-16c0-82f2-16c989f7b112"} {
		if _, err := ParseID(s); !errors.Is(err, ErrNoSuchOrder) {
			t.Errorf("%q accepted", s)
		}
	}
	if _, ok := IDFromLabel("coffee"); ok {
		t.Error("a foreign label was taken for an order")
	}
}

func TestDescriptionRoundTrips(t *testing.T) {
	for _, topo := range Topologies {
		r := Request{NodeCount: 64, Hours: 504, Topology: topo}
		if got, err := ParseDescription(Description(r)); err != nil || got != r {
			t.Fatalf("%q: %+v %v", Description(r), got, err)
		}
	}
	// SPEC §2's examples: the default leaves the seed's description alone.
	if d := Description(Request{NodeCount: 8, Hours: 48, Topology: DefaultTopology}); d != "lnplay.live - 8 nodes for 48 hours." {
		t.Fatalf("default description %q", d)
	}
	if d := Description(Request{NodeCount: 8, Hours: 48, Topology: TopologyPrism}); d != "lnplay.live - 8 nodes for 48 hours, prism channels." {
		t.Fatalf("prism description %q", d)
	}
	for _, bad := range []string{"lnplay.live - x nodes for 3 hours.", "lnplay.live - 8 nodes for 3 hours, ring channels.",
		"lnplay.live - 8 nodes for 3 hours, mesh channels.", "lnplay.live - 8 nodes for 3 hours, prism channels",
		"lnplay.live - 8 nodes for 3 hours, prism."} {
		if _, err := ParseDescription(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPricesConfigurationIsValidated(t *testing.T) {
	for _, s := range []string{"", "8", "8:0", "0:100", "8:1,8:2", "x:1"} {
		if _, err := ParsePrices(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseExtendOrder(t *testing.T) {
	p := DefaultProducts()
	const id = "8d33e17d-0385-46c0-82f2-16c989f7b112"
	for params, want := range map[string]ExtendRequest{
		`{"invoice_id":"` + id + `","hours":3}`:                         {ID: id, Hours: 3, PaymentType: PaymentTypeBolt11},
		`["lnplaylive-` + id + `","504","bolt12"]`:                      {ID: id, Hours: 504, PaymentType: PaymentTypeBolt12},
		`{"invoice_id":"` + id + `","hours":1,"payment_type":"bolt11"}`: {ID: id, Hours: 1, PaymentType: PaymentTypeBolt11},
	} {
		if r, err := ParseExtendOrder(json.RawMessage(params), p); err != nil || r != want {
			t.Errorf("%s: %+v %v", params, r, err)
		}
	}
	for params, param := range map[string]string{
		`{"invoice_id":"` + id + `","hours":0}`:                          "hours",
		`{"invoice_id":"` + id + `","hours":505}`:                        "hours",
		`{"invoice_id":"` + id + `"}`:                                    "hours",
		`{"hours":3}`:                                                    "invoice_id",
		`{"invoice_id":"` + id + `","hours":3,"payment_type":"onchain"}`: "payment_type",
		`{"invoice_id":"` + id + `","hours":3,"node_count":8}`:           "node_count",
	} {
		var pe *ParamError
		if _, err := ParseExtendOrder(json.RawMessage(params), p); !errors.As(err, &pe) || pe.Param != param {
			t.Errorf("%s: %v, want an error about %s", params, err, param)
		}
	}
	if _, err := ParseExtendOrder(json.RawMessage(`{"invoice_id":"nope","hours":3}`), p); !errors.Is(err, ErrNoSuchOrder) {
		t.Errorf("bad id: %v", err)
	}
}

func TestExtensionLabelsAndDescriptions(t *testing.T) {
	id := ID("8d33e17d-0385-46c0-82f2-16c989f7b112")
	if l := ExtensionLabel(id, 2); l != "lnplaylive-8d33e17d-0385-46c0-82f2-16c989f7b112-ext-2" {
		t.Fatalf("label %q", l)
	}
	if _, ok := IDFromLabel(ExtensionLabel(id, 1)); ok {
		t.Fatal("an extension label reads as an order label: the follower would deploy it")
	}
	if d := ExtendDescription(id, 5); d != "lnplay.live - extend 8d33e17d-0385-46c0-82f2-16c989f7b112 by 5 hours." {
		t.Fatalf("description %q", d)
	}
	if _, err := ParseDescription(ExtendDescription(id, 5)); err == nil {
		t.Fatal("an extension description reads as an order's")
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for end, want := range map[time.Time]time.Duration{now.Add(time.Hour): 300 * time.Second,
		now.Add(90 * time.Second): 90 * time.Second, now.Add(-time.Second): 0} {
		if got := ExtensionExpiry(300*time.Second, now, end); got != want {
			t.Errorf("end in %s: expiry %s, want %s", end.Sub(now), got, want)
		}
	}
}

func TestMachineIDsAreOrderOrWarmIDsInCanonicalForm(t *testing.T) {
	id := string(NewID())
	for s, want := range map[string]bool{
		id: true, NewWarmID(): true, WarmPrefix + id: true,
		"lnplaylive-" + id: false, strings.ToUpper(id): false, "warm-" + strings.ToUpper(id): false,
		"warm-": false, "warm-x; rm -rf /": false, id + " ": false, "": false,
	} {
		if got := ValidMachineID(s); got != want {
			t.Errorf("ValidMachineID(%q) = %v, want %v", s, got, want)
		}
	}
}
