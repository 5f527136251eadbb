package e2e

import (
	"strings"
	"testing"
)

// lightningd never sends these, but a plugin that dies on them would take
// the order API down with it: it must answer or ignore, never crash, and
// never write anything but JSON-RPC.
func TestPluginSurvivesGarbageOnStdin(t *testing.T) {
	s := newSystem(t, options{})
	garbage := []string{
		"not json at all\n\n",
		"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\n\n}\n\n",
		`{"jsonrpc":"2.0","id":{"a":1},"method":"lnplaylive-createorder","params":{}}` + "\n\n",
		`{"jsonrpc":"2.0","id":[1],"method":"lnplaylive-createorder","params":{}}` + "\n\n",
		`{"jsonrpc":"2.0","id":1.5,"method":"lnplaylive-createorder","params":{}}` + "\n\n",
		`{"jsonrpc":"2.0","id":true,"method":"lnplaylive-invoicestatus"}` + "\n\n",
		`{"jsonrpc":"2.0","id":"u","method":"no-such-method","params":[]}` + "\n\n",
		`{"jsonrpc":"1.0","id":"v","method":"lnplaylive-createorder","params":[8,48]}` + "\n\n",
		`{"jsonrpc":"2.0","id":7,"method":"lnplaylive-createorder","params":"x"}` + "\n\n",
		`{"jsonrpc":"2.0","method":"lnplaylive-createorder","params":[8,48]}` + "\n\n",
		`{"jsonrpc":"2.0","id":"big","method":"lnplaylive-createorder","params":["` + strings.Repeat("8", 2<<20) + `",48]}` + "\n\n",
		"]]]]\n\n",
	}
	for _, g := range garbage {
		if err := s.plugin.SendRaw([]byte(g)); err != nil {
			t.Fatal(err)
		}
	}
	// Still alive, still on protocol, still serving.
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if st := s.status(string(r.BOLT11InvoiceID)); st.InvoiceStatus != "unpaid" {
		t.Fatalf("status %+v", st)
	}
	if !s.plugin.Alive() || s.plugin.Fatal() != "" {
		t.Fatalf("plugin alive=%v fatal=%q", s.plugin.Alive(), s.plugin.Fatal())
	}
	if n := len(s.node.Invoices()); n != 1 {
		t.Fatalf("garbage created %d invoices", n-1)
	}
}
