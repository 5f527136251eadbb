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
		if r.PaymentType != PaymentTypeBolt11 && r.PaymentType != PaymentTypeBolt12 {
			t.Fatalf("accepted payment type %q from %q", r.PaymentType, params)
		}
		// What was sold is recoverable from the invoice (or offer) alone;
		// how it was paid, from where the payment came.
		sold := r
		sold.PaymentType = ""
		if back, err := ParseDescription(Description(r)); err != nil || back != sold {
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
		id, paymentType, err := ParseInvoiceStatus(json.RawMessage(params))
		if err != nil {
			return
		}
		if paymentType != PaymentTypeBolt11 && paymentType != PaymentTypeBolt12 {
			t.Fatalf("accepted payment type %q", paymentType)
		}
		if again, err := ParseID(string(id)); err != nil || again != id || id.Label() != LabelPrefix+string(id) {
			t.Fatalf("accepted id %q does not round-trip", id)
		}
	})
}

func FuzzParseExtendOrder(f *testing.F) {
	for _, s := range []string{`{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","hours":3}`,
		`["lnplaylive-8d33e17d-0385-46c0-82f2-16c989f7b112","24","bolt12"]`, `{"invoice_id":"x","hours":1}`,
		`{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","hours":0}`, `[1,2,3,4]`, `{"hours":505}`} {
		f.Add([]byte(s))
	}
	p := DefaultProducts()
	f.Fuzz(func(t *testing.T, params []byte) {
		r, err := ParseExtendOrder(json.RawMessage(params), p)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) && !errors.Is(err, ErrNoSuchOrder) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if r.Hours < 1 || r.Hours > p.MaxHours || (r.PaymentType != PaymentTypeBolt11 && r.PaymentType != PaymentTypeBolt12) {
			t.Fatalf("accepted %+v from %q", r, params)
		}
		// Its label and description lead back to the order and the hours.
		for n := 1; n <= 3; n++ {
			if id, back, ok := ExtensionFromLabel(ExtensionLabel(r.ID, n)); !ok || id != r.ID || back != n {
				t.Fatalf("label of extension %d of %s does not round-trip", n, r.ID)
			}
		}
		if id, h, err := ParseExtendDescription(ExtendDescription(r.ID, r.Hours)); err != nil || id != r.ID || h != r.Hours {
			t.Fatalf("description of %+v does not round-trip: %s %d %v", r, id, h, err)
		}
	})
}

func FuzzExtensionFromLabel(f *testing.F) {
	for _, s := range []string{"lnplaylive-8d33e17d-0385-46c0-82f2-16c989f7b112-ext-1", "lnplaylive-8d33e17d-0385-46c0-82f2-16c989f7b112",
		"lnplaylive-8d33e17d-0385-46c0-82f2-16c989f7b112-ext-01", "lnplaylive-x-ext-1", "-ext-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		id, n, ok := ExtensionFromLabel(label)
		if _, isOrder := IDFromLabel(label); isOrder && ok {
			t.Fatalf("%q is both an order and an extension label", label)
		}
		if ok && ExtensionLabel(id, n) != label {
			t.Fatalf("%q parsed to %s/%d, which labels %q", label, id, n, ExtensionLabel(id, n))
		}
	})
}
