package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin"
)

// On a real lightningd v25.12.1, the plugin's invoicestatus (answered from
// its index and the pushed states) equals the slow path's, field by field,
// for orders sold by invoice and by offer: while it runs, and after it was
// stopped, an offer paid meanwhile, and started again as an operator does
// (`lightning-cli plugin start` inside the running node). Started without
// the workers' codec keys, it refuses at init with the reason.
func TestIndexOnRealCoreLightning(t *testing.T) {
	sys := newSystem(t, options{})
	s := sellerOn(t, sys)
	// The slow path: the plugin's service in this process, on the same
	// lightningd and Temporal, asking lightningd on every call.
	slow := plugin.NewService(plugin.Config{TaskQueue: sys.taskQueue, Products: order.DefaultProducts(), StatusTTL: time.Second,
		DataConverter: sys.dataConverter(), Offers: true}, s.rpc, sys.client(), slog.New(slog.DiscardHandler))

	a := s.orderOn(t, order.PaymentTypeBolt11)
	b := s.orderOn(t, order.PaymentTypeBolt12)
	c := s.orderOn(t, order.PaymentTypeBolt12)
	s.payInvoice(t, a.BOLT11Invoice)
	s.payOffer(t, b.BOLT12Offer)
	ids := []order.ID{a.BOLT11InvoiceID, b.BOLT11InvoiceID, c.BOLT11InvoiceID}
	settled := func(id order.ID, pt string) {
		s.waitDeployment(t, id, pt, "a settled deployment step", func(d *order.Deployment) bool {
			return d.Status == order.StartingDeployment && d.Progress != nil && d.Progress.Step == "acquiring_host"
		})
	}
	settled(a.BOLT11InvoiceID, order.PaymentTypeBolt11)
	settled(b.BOLT11InvoiceID, order.PaymentTypeBolt12)
	s.sameAnswers(t, slow, ids...)

	// The plugin stops; the third order's offer is paid meanwhile (the
	// wallet fetches its invoice from lightningd's offers plugin).
	pluginBin, err := testbin.Path("lnplaylive-plugin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.node.Call("plugin", "subcommand=stop", "plugin="+filepath.Base(pluginBin)); err != nil {
		t.Fatalf("plugin stop: %v", err)
	}
	s.payOffer(t, c.BOLT12Offer)

	// Started again without the workers' codec keys: refused at init.
	// (lightningd keeps the options its command line gave a plugin for a
	// restart of it, so "without" is said explicitly.)
	opts := []string{"subcommand=start", "plugin=" + pluginBin}
	for k, v := range sys.pluginCfg.Options {
		if k != "lnplaylive-codec-keys-file" {
			opts = append(opts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	wrong := filepath.Join(t.TempDir(), "wrong.keys")
	if err := os.WriteFile(wrong, []byte(codec.NewKeyLine("other-1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for keys, want := range map[string]string{"": "no codec keys are configured", wrong: "which the configured keys file lacks"} {
		out, err := s.node.Call("plugin", append(opts, "lnplaylive-codec-keys-file="+keys)...)
		if err == nil || !strings.Contains(err.Error(), "disabled itself at init") || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "test-1") {
			t.Fatalf("plugin started with codec keys %q: %v %s", keys, err, out)
		}
	}
	// With them, as an operator would.
	if _, err := s.node.Call("plugin", append(opts, "lnplaylive-codec-keys-file="+sys.codecKeys)...); err != nil {
		t.Fatalf("plugin start: %v", err)
	}
	settled(c.BOLT11InvoiceID, order.PaymentTypeBolt12)
	s.sameAnswers(t, slow, ids...)
	if st := s.status(t, c.BOLT11InvoiceID, order.PaymentTypeBolt12); st.InvoiceStatus != order.InvoicePaid {
		t.Fatalf("the offer paid while the plugin was down: %s", st.InvoiceStatus)
	}
}

// orderOn creates an order through the real lightningd (no adopting: the
// system's provider is parked).
func (s *seller) orderOn(t *testing.T, paymentType string) order.CreateReply {
	t.Helper()
	var r order.CreateReply
	if err := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3, "payment_type": paymentType}, &r); err != nil {
		t.Fatalf("createorder: %v", err)
	}
	return r
}

// sameAnswers compares, for every order and both payment types, the
// plugin's answer through lightningd with the slow path's, field by field.
func (s *seller) sameAnswers(t *testing.T, slow *plugin.Service, ids ...order.ID) {
	t.Helper()
	for _, id := range ids {
		for _, pt := range []string{order.PaymentTypeBolt11, order.PaymentTypeBolt12} {
			params := map[string]any{"payment_type": pt, "invoice_id": id}
			var got map[string]any
			gotErr := s.call("lnplaylive-invoicestatus", params, &got)
			raw, _ := json.Marshal(params)
			want, wantErr := slow.InvoiceStatusFromNode(context.Background(), raw)
			if (gotErr != nil) != (wantErr != nil) {
				t.Errorf("order %s (%s): plugin error %v, slow path error %v", id, pt, gotErr, wantErr)
				continue
			}
			if gotErr != nil {
				if !strings.Contains(gotErr.Error(), wantErr.Error()) {
					t.Errorf("order %s (%s): plugin %v, slow path %v", id, pt, gotErr, wantErr)
				}
				continue
			}
			wraw, _ := json.Marshal(want)
			var w map[string]any
			_ = json.Unmarshal(wraw, &w)
			for k := range w {
				if !reflect.DeepEqual(got[k], w[k]) {
					t.Errorf("order %s (%s): %s is %v from the plugin, %v from lightningd", id, pt, k, got[k], w[k])
				}
			}
			if len(got) != len(w) {
				t.Errorf("order %s (%s): %d fields from the plugin, %d from lightningd", id, pt, len(got), len(w))
			}
		}
	}
}
