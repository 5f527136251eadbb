package clnschema

import (
	"strings"
	"testing"
)

func TestSchemasAcceptLightningdShapesAndRejectOthers(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	s := Load(dir)
	hash := strings.Repeat("ab", 32)
	cases := []struct {
		name, part, doc string
		ok              bool
	}{
		{"invoice", "request", `{"amount_msat":76800000,"label":"lnplaylive-x","description":"d","expiry":300}`, true},
		{"invoice", "request", `{"amount_msat":"1000msat","label":"l","description":"d"}`, true},
		{"invoice", "request", `{"msatoshi":1000,"label":"l","description":"d"}`, false},
		{"invoice", "request", `{"amount_msat":1000,"label":"l"}`, false},
		{"invoice", "response", `{"bolt11":"lnbcrt1","payment_hash":"` + hash + `","payment_secret":"` + hash + `","expires_at":1,"created_index":1}`, true},
		{"invoice", "response", `{"bolt11":"lnbcrt1","payment_hash":"xyz","payment_secret":"` + hash + `","expires_at":1,"created_index":1}`, false},
		{"invoice", "response", `{"bolt11":"lnbcrt1","payment_hash":"` + hash + `","payment_secret":"` + hash + `","expires_at":1,"created_index":1,"label":"l"}`, false},
		{"listinvoices", "response", `{"invoices":[{"label":"l","bolt11":"b","payment_hash":"` + hash + `","status":"paid","pay_index":1,"amount_received_msat":5,"paid_at":2,"payment_preimage":"` + hash + `","expires_at":3,"created_index":1,"updated_index":1,"amount_msat":5,"description":"d"}]}`, true},
		{"listinvoices", "response", `{"invoices":[{"label":"l","bolt11":"b","payment_hash":"` + hash + `","status":"paid","expires_at":3,"created_index":1}]}`, false},
		{"listinvoices", "response", `{"invoices":[{"label":"l","bolt11":"b","payment_hash":"` + hash + `","status":"unpaid","amount_msat":"5msat","expires_at":3,"created_index":1}]}`, false},
		{"notification/invoice_payment", "response", `{"msat":12345,"preimage":"` + hash + `","label":"a"}`, true},
		{"notification/invoice_payment", "response", `{"msat":"12345msat","preimage":"` + hash + `","label":"a"}`, false},
		{"waitanyinvoice", "request", `{"lastpay_index":-1}`, false},
		{"datastore", "request", `{"key":["lnplaylive","lastpay_index"],"string":"4","mode":"create-or-replace"}`, true},
		{"datastore", "request", `{"key":["a"],"string":"4","mode":"sometimes"}`, false},
	}
	for _, c := range cases {
		var err error
		if c.part == "request" {
			err = s.ValidateRequest(c.name, []byte(c.doc))
		} else {
			err = s.ValidateResponse(c.name, []byte(c.doc))
		}
		if (err == nil) != c.ok {
			t.Errorf("%s %s %s: ok=%v, err=%v", c.name, c.part, c.doc, c.ok, err)
		}
	}
}
