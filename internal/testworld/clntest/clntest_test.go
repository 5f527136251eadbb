package clntest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// fakePlugin writes a shell script that answers getmanifest with manifest
// and init with {}, then prints extra after init.
func fakePlugin(t *testing.T, manifest, extra string) string {
	t.Helper()
	script := `#!/bin/sh
read_msg() { while IFS= read -r line; do [ -z "$line" ] && return 0; buf="$buf$line"; done; }
buf=""; read_msg
printf '%s\n\n' '{"jsonrpc":"2.0","id":"cln:getmanifest#0","result":` + manifest + `}'
buf=""; read_msg
printf '%s\n\n' '{"jsonrpc":"2.0","id":"cln:init#1","result":{}}'
printf '%s\n\n' '` + extra + `'
sleep 5
`
	path := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The stand-in must refuse what lightningd refuses, or it proves nothing.
func TestStandInRejectsWhatLightningdRejects(t *testing.T) {
	good := `{"rpcmethods":[{"name":"m","usage":"a"}],"options":[],"dynamic":true}`
	cases := []struct {
		name, manifest, extra, want string
	}{
		{"no rpcmethods", `{"options":[]}`, ``, "rpcmethods missing"},
		{"bad option type", `{"rpcmethods":[],"options":[{"name":"x","type":"float","description":"d"}]}`, ``, "type"},
		{"no jsonrpc", good, `{"method":"log","params":{"level":"info","message":"hi"}}`, `does not contain "jsonrpc"`},
		{"bad log level", good, `{"jsonrpc":"2.0","method":"log","params":{"level":"loud","message":"hi"}}`, "unknown level"},
		{"not json", good, `hello`, "unparseable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := NewNode(&quietTB{TB: t})
			p, err := n.StartPlugin(PluginConfig{Path: fakePlugin(t, c.manifest, c.extra)})
			deadline := time.Now().Add(5 * time.Second)
			for err == nil && p.Fatal() == "" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = p.Fatal()
			}
			if !strings.Contains(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// Requests that violate CLN's schemas are refused and recorded.
func TestStandInValidatesRequestsAgainstCLNSchemas(t *testing.T) {
	n := NewNode(&quietTB{TB: t})
	c, err := cln.Dial(context.Background(), filepath.Join(n.Dir, n.RPCFile), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// glightning's CreateInvoice still sends msatoshi: CLN refuses it.
	err = c.Call(ctx, "invoice", map[string]any{"msatoshi": 1000, "label": "a", "description": "d"}, nil)
	if !cln.IsCode(err, -32602) || len(n.Violations()) != 1 {
		t.Fatalf("msatoshi accepted: %v %v", err, n.Violations())
	}
	if _, err := c.CreateInvoice(ctx, cln.InvoiceRequest{AmountMsat: 1000, Label: "a", Description: "d", Expiry: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateInvoice(ctx, cln.InvoiceRequest{AmountMsat: 1000, Label: "a", Description: "d"}); !cln.IsCode(err, cln.CodeInvoiceLabelExists) {
		t.Fatalf("duplicate label: %v", err)
	}
	if _, err := c.WaitAnyInvoice(ctx, 0, 1); !cln.IsCode(err, cln.CodeInvoiceWaitTimeout) {
		t.Fatalf("waitanyinvoice timeout: %v", err)
	}
	if err := n.Pay("a"); err != nil {
		t.Fatal(err)
	}
	inv, err := c.WaitAnyInvoice(ctx, 0, 1)
	if err != nil || inv.PayIndex != 1 || inv.Status != "paid" || inv.AmountReceivedMsat != 1000 {
		t.Fatalf("%+v %v", inv, err)
	}
	if err := c.DeleteInvoice(ctx, "a", "unpaid"); !cln.IsCode(err, cln.CodeInvoiceStatusChanged) {
		t.Fatalf("delinvoice of a paid invoice as unpaid: %v", err)
	}
	if err := c.PutString(ctx, []string{"k"}, "1", cln.ModeMustCreate); err != nil {
		t.Fatal(err)
	}
	if err := c.PutString(ctx, []string{"k"}, "2", cln.ModeMustCreate); !cln.IsCode(err, cln.CodeDatastoreExists) {
		t.Fatalf("must-create twice: %v", err)
	}
	if v, ok, err := c.GetString(ctx, []string{"k"}); err != nil || !ok || v != "1" {
		t.Fatalf("%q %v %v", v, ok, err)
	}
	var raw json.RawMessage
	if err := c.Call(ctx, "listinvoices", map[string]any{"label": "a", "payment_hash": strings.Repeat("00", 32)}, &raw); !cln.IsCode(err, -32602) {
		t.Fatalf("two selectors: %v", err)
	}
	if len(n.Violations()) != 1 {
		t.Fatalf("violations %v", n.Violations())
	}
}

// quietTB lets a test provoke violations on purpose without failing.
type quietTB struct{ testing.TB }

func (q *quietTB) Errorf(string, ...any) {}

// listinvoices pages as lightningd v25.12.1 does (checked against the real
// binary): start and limit need an index, and by updated_index an invoice
// never updated is listed too. (An unknown index fails CLN's schema.)
func TestStandInPagesListinvoicesAsLightningd(t *testing.T) {
	n := NewNode(t)
	c, err := cln.Dial(context.Background(), filepath.Join(n.Dir, n.RPCFile), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, l := range []string{"a", "b", "c"} {
		if _, err := c.CreateInvoice(ctx, cln.InvoiceRequest{AmountMsat: 1000, Label: l, Description: "d", Expiry: 60}); err != nil {
			t.Fatal(err)
		}
	}
	for params, want := range map[string]map[string]any{
		"Can only specify {start} with {index}": {"start": 1},
		"Can only specify {limit} with {index}": {"limit": 1},
	} {
		if err := c.Call(ctx, "listinvoices", want, nil); !cln.IsCode(err, -32602) || !strings.Contains(err.Error(), params) {
			t.Errorf("listinvoices %v: %v, want %q", want, err, params)
		}
	}
	page, err := c.ListInvoicesPage(ctx, 2, 1)
	if err != nil || len(page) != 1 || page[0].Label != "b" {
		t.Fatalf("index=created start=2 limit=1: %v %v", page, err)
	}
	var res struct {
		Invoices []cln.Invoice `json:"invoices"`
	}
	if err := c.Call(ctx, "listinvoices", map[string]any{"index": "updated"}, &res); err != nil || len(res.Invoices) != 3 {
		t.Fatalf("index=updated: %d invoices, %v; want the 3 never updated", len(res.Invoices), err)
	}
}
