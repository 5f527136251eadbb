package order

import (
	"encoding/json"
	"errors"
	"testing"
)

func FuzzParseCreateOrder(f *testing.F) {
	for _, s := range []string{`{"node_count":8,"hours":48}`, `[8,48]`, `["8","48"]`, `{}`, `[]`, `null`, `"x"`,
		`{"node_count":8.5,"hours":3}`, `{"node_count":-8,"hours":3}`, `{"node_count":8,"hours":48,"x":1}`, `[8,48,1]`,
		`{"node_count":8,"hours":48,"topology":"prism"}`, `[8,48,"none"]`, `[8,48,"ring"]`, `[8,48,"mesh",1]`} {
		f.Add([]byte(s))
	}
	p := DefaultProducts()
	f.Fuzz(func(t *testing.T, params []byte) {
		r, err := ParseCreateOrder(json.RawMessage(params), p)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// Anything accepted can be sold.
		if _, ok := p.RateMsat[r.NodeCount]; !ok || r.Hours < p.MinHours || r.Hours > p.MaxHours || p.PriceMsat(r) == 0 {
			t.Fatalf("accepted %+v from %q", r, params)
		}
		// What was sold is recoverable from the invoice alone.
		if back, err := ParseDescription(Description(r)); err != nil || back != r {
			t.Fatalf("%+v does not survive its description: %+v %v", r, back, err)
		}
	})
}

func FuzzParseDescription(f *testing.F) {
	for _, s := range []string{"lnplay.live - 8 nodes for 48 hours.", "lnplay.live - 8 nodes for 48 hours, prism channels.",
		"lnplay.live - 8 nodes for 48 hours, none channels.", "lnplay.live - 8 nodes for 48 hours, ring channels.", "coffee"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseDescription(s)
		if err != nil {
			return
		}
		// Whatever parses is a sellable shape that survives a rewrite.
		if back, err := ParseDescription(Description(r)); err != nil || back != r || r.Topology.OrDefault() != r.Topology {
			t.Fatalf("%q parsed to %+v, which does not survive its own description: %+v %v", s, r, back, err)
		}
	})
}

func FuzzParseInvoiceStatus(f *testing.F) {
	for _, s := range []string{`{"payment_type":"bolt11","invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112"}`,
		`["bolt11","lnplaylive-8d33e17d-0385-46c0-82f2-16c989f7b112"]`, `{"payment_type":"bolt12"}`, `[1,2,3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		id, err := ParseInvoiceStatus(json.RawMessage(params))
		if err != nil {
			return
		}
		if again, err := ParseID(string(id)); err != nil || again != id || id.Label() != LabelPrefix+string(id) {
			t.Fatalf("accepted id %q does not round-trip", id)
		}
	})
}
