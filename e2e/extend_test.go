package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
	"github.com/lnplaylive/lnplaylive/order"
)

// Extensions are sold only for a provisioned order before its end, within
// the cap on paid hours, and as bolt12 only where offers are on. Every
// refusal names its cause and creates nothing in lightningd.
func TestExtensionRefusalsCreateNothing(t *testing.T) {
	f := newFaultEnvWith(t, func(api *hetznertest.API) {
		// The first order's server is refused for good: that order fails.
		api.Inject(hetznertest.Fault{Method: "POST", Path: "/servers", Times: 1, Status: 400, Code: "invalid_input"})
	}, options{pluginOptions: map[string]any{"lnplaylive-offers": false}})
	refused := func(id string, hours int, paymentType, want string) {
		t.Helper()
		invoices := len(f.node.Invoices())
		_, rerr := f.call("lnplaylive-extendorder", map[string]any{"invoice_id": id, "hours": hours, "payment_type": paymentType})
		if rerr == nil || rerr.Code != -32602 || !strings.Contains(rerr.Message, want) {
			t.Fatalf("extend %s by %d (%s): got %v, want a refusal containing %q", id, hours, paymentType, rerr, want)
		}
		if n := len(f.node.Invoices()); n != invoices {
			t.Fatalf("a refused extension created %d invoices", n-invoices)
		}
	}

	failed := f.order()
	f.pay(failed)
	f.waitAnyStatus(failed, "failed", 90*time.Second)
	refused(failed, 3, "bolt11", "is failed; only a provisioned order can be extended")

	unpaid := f.order()
	refused(unpaid, 3, "bolt11", "is not paid (its invoice is unpaid)")
	refused("0d6c1c07-9fd8-4b4c-8a53-2d0f0e2b5b1a", 3, "bolt11", "no such order")

	long := f.orderFor(f.plugin, 500)
	f.pay(long)
	f.waitAnyStatus(long, "provisioned", 90*time.Second)
	refused(long, 5, "bolt11", "has 500 paid hours of at most 504; it can be extended by at most 4 (got 5)")
	refused(long, 4, "bolt12", "offers are disabled")
	if n := f.node.Calls("offer"); n != 0 {
		t.Fatalf("with --lnplaylive-offers=false the plugin called offer %d times", n)
	}
	if _, rerr := f.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3, "payment_type": "bolt12"}); rerr == nil || !strings.Contains(rerr.Message, "offers are disabled") {
		t.Fatalf("bolt12 order with offers off: %v", rerr)
	}

	// The cap counts paid extensions: after 4 more hours, none is left.
	ext := f.extend(long, 4, "bolt11")
	if err := f.node.Pay(ext.Label); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(long, 30*time.Second, func(st status) bool { return len(st.deployment(t).Extensions) == 1 })
	refused(long, 1, "bolt11", "has 504 paid hours of at most 504; it can be extended by at most 0")

	if out, err := f.cli("", "orders", "teardown", "--yes", long); err != nil {
		t.Fatalf("teardown: %v: %s", err, out)
	}
	f.waitAnyStatus(long, string(order.Expired), 60*time.Second)
	refused(long, 1, "bolt11", "expired")
}
