package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/lnplaylive/lnplaylive/internal/testworld/clntest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// seller is the plugin inside a lightningd, on a fault environment's
// Temporal, worker and machines, with a customer who can pay it: a real
// lightningd v25.12.1 (LNPLAYLIVE_REAL_CLN) with a second real node holding
// a channel to it, or (shopSeller without a build) the system's own
// lightningd stand-in, which takes payments as a peer's would arrive.
type seller struct {
	f       *faultEnv
	node    *realcln.Node // nil on the stand-in
	payer   *realcln.Node
	standIn *clntest.Node // nil on a real lightningd
	rpcFile string        // lightningd's socket, as the storefront dials it
	rpc     *cln.Client
}

func newSeller(t *testing.T, f *faultEnv) *seller {
	t.Helper()
	s := sellerOn(t, f.system)
	s.f = f
	return s
}

// sellerOn is the plugin inside a real lightningd on a system's Temporal
// and worker, with a paying node; orders need no adopting (a host pool).
// It skips without LNPLAYLIVE_REAL_CLN.
func sellerOn(t *testing.T, sys *system) *seller {
	t.Helper()
	pluginBin, err := testbin.Path("lnplaylive-plugin")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--developer", "--dev-bitcoind-poll=1", "--plugin=" + pluginBin}
	for k, v := range sys.pluginCfg.Options {
		args = append(args, fmt.Sprintf("--%s=%v", k, v))
	}
	node := realcln.Start(t, args...)
	s := &seller{node: node, payer: realPayer(t, node), rpcFile: filepath.Join(node.Dir, "regtest", "lightning-rpc")}
	s.dial(t)
	return s
}

// shopSeller is sellerOn where LNPLAYLIVE_REAL_CLN names a build, and
// otherwise the system's lightningd stand-in with its plugin: what the
// storefront sees through the socket is the same either way.
func shopSeller(t *testing.T, sys *system) *seller {
	t.Helper()
	if os.Getenv(realcln.CLNEnv) != "" {
		return sellerOn(t, sys)
	}
	s := &seller{standIn: sys.node, rpcFile: filepath.Join(sys.node.Dir, sys.node.RPCFile)}
	s.dial(t)
	return s
}

func (s *seller) dial(t *testing.T) {
	t.Helper()
	var err error
	s.rpc, err = cln.Dial(context.Background(), s.rpcFile, "e2e-seller")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.rpc.Close() })
}

// needsRealCLN skips what only a real lightningd can do (offers: onion
// messages and the offers plugin).
func (s *seller) needsRealCLN(t *testing.T) {
	t.Helper()
	if s.node == nil {
		t.Skipf("%s: skipped (%s unset): offers need lightningd's offers plugin", realcln.TierCLN, realcln.CLNEnv)
	}
}

// call calls one of the plugin's methods through lightningd.
func (s *seller) call(method string, params map[string]any, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.rpc.Call(ctx, method, params, out)
}

// order creates an order through the real lightningd, and its machine.
func (s *seller) order(t *testing.T, hours int, paymentType string) order.CreateReply {
	t.Helper()
	var r order.CreateReply
	if err := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": hours, "payment_type": paymentType}, &r); err != nil {
		t.Fatalf("createorder: %v", err)
	}
	s.f.adopt(string(r.BOLT11InvoiceID), hours)
	return r
}

// payOffer is the wallet paying an offer: it fetches an invoice from the
// seller over onion messages and pays it over the channel.
func (s *seller) payOffer(t *testing.T, offer string) {
	t.Helper()
	s.needsRealCLN(t)
	var fi struct {
		Invoice string `json:"invoice"`
	}
	if err := s.payer.Get(&fi, "fetchinvoice", "offer="+offer); err != nil {
		t.Fatalf("fetchinvoice: %v", err)
	}
	if _, err := s.payer.Call("pay", "bolt11="+fi.Invoice); err != nil {
		t.Fatalf("pay the fetched invoice: %v", err)
	}
}

// payInvoice pays over the real channel, or (on the stand-in) settles the
// invoice as a peer's payment would: lightningd marks it paid and notifies.
func (s *seller) payInvoice(t *testing.T, bolt11 string) {
	t.Helper()
	if s.standIn != nil {
		for _, inv := range s.standIn.Invoices() {
			if inv.Bolt11 == bolt11 {
				if err := s.standIn.Pay(inv.Label); err != nil {
					t.Fatalf("pay: %v", err)
				}
				return
			}
		}
		t.Fatalf("pay: the stand-in holds no invoice %s", bolt11)
	}
	if _, err := s.payer.Call("pay", "bolt11="+bolt11); err != nil {
		t.Fatalf("pay: %v", err)
	}
}

// status is invoicestatus through the real lightningd.
func (s *seller) status(t *testing.T, id order.ID, paymentType string) order.StatusReply {
	t.Helper()
	var st order.StatusReply
	if err := s.call("lnplaylive-invoicestatus", map[string]any{"payment_type": paymentType, "invoice_id": id}, &st); err != nil {
		t.Fatalf("invoicestatus %s: %v", id, err)
	}
	return st
}

// waitDeployment waits until an order's deployment satisfies ok.
func (s *seller) waitDeployment(t *testing.T, id order.ID, paymentType, what string, ok func(*order.Deployment) bool) *order.Deployment {
	t.Helper()
	var last any
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		st := s.status(t, id, paymentType)
		last = st.DeploymentDetails
		if d, isD := st.DeploymentDetails.(*order.Deployment); isD && ok(d) {
			return d
		}
	}
	t.Fatalf("order %s: %s not reached; last %+v", id, what, last)
	return nil
}

func isProvisioned(d *order.Deployment) bool { return d.Status == order.Provisioned }

func (s *seller) extend(t *testing.T, id order.ID, hours int, paymentType string) order.ExtendReply {
	t.Helper()
	var r order.ExtendReply
	if err := s.call("lnplaylive-extendorder", map[string]any{"invoice_id": id, "hours": hours, "payment_type": paymentType}, &r); err != nil {
		t.Fatalf("extendorder: %v", err)
	}
	return r
}

// restartPlugin stops the plugin in lightningd, runs during, and starts
// it again with the options lightningd was started with.
func (s *seller) restartPlugin(t *testing.T, during func()) {
	t.Helper()
	if _, err := s.node.Call("plugin", "subcommand=stop", "plugin=lnplaylive-plugin"); err != nil {
		t.Fatalf("plugin stop: %v", err)
	}
	during()
	pluginBin, _ := testbin.Path("lnplaylive-plugin")
	args := []string{"subcommand=start", "plugin=" + pluginBin}
	for k, v := range s.f.pluginCfg.Options {
		args = append(args, fmt.Sprintf("%s=%v", k, v))
	}
	if out, err := s.node.Call("plugin", args...); err != nil {
		t.Fatalf("plugin start: %v %s", err, out)
	}
}

// The whole BOLT12 path on real Core Lightning: an order sold as a
// single-use offer, a wallet fetching an invoice from it and paying it, the
// order provisioned, then extended by offer and by invoice; and the outages
// SPEC §4 promises to survive, for offers.
func TestBOLT12OnRealCoreLightning(t *testing.T) {
	f := newFaultEnv(t, nil)
	s := newSeller(t, f)

	t.Run("order by offer, provisioned, extended by offer and by invoice", func(t *testing.T) {
		created := time.Now()
		// 20 development hours (100 s) leave room for a slow provisioning
		// before the extensions are sold.
		r := s.order(t, 20, order.PaymentTypeBolt12)
		if r.BOLT11Invoice != "" || !strings.HasPrefix(r.BOLT12Offer, "lno1") {
			t.Fatalf("reply %+v: want bolt12_offer and no bolt11_invoice", r)
		}
		// What the wallet sees in the offer: lightningd's own decoder.
		var dec struct {
			Valid          bool   `json:"valid"`
			AmountMsat     uint64 `json:"offer_amount_msat"`
			Description    string `json:"offer_description"`
			Issuer         string `json:"offer_issuer"`
			AbsoluteExpiry int64  `json:"offer_absolute_expiry"`
		}
		if err := s.payer.Get(&dec, "decode", "string="+r.BOLT12Offer); err != nil {
			t.Fatal(err)
		}
		want := order.DefaultProducts().PriceMsat(order.Request{NodeCount: 8, Hours: 20})
		if !dec.Valid || dec.AmountMsat != want || dec.Description != "lnplay.live - 8 nodes for 20 hours." || dec.Issuer != "lnplay.live order "+string(r.BOLT11InvoiceID) {
			t.Fatalf("decoded offer %+v; want %d msat and the SPEC description", dec, want)
		}
		if exp := time.Unix(dec.AbsoluteExpiry, 0); exp.Before(created.Add(299*time.Second)) || exp.After(time.Now().Add(301*time.Second)) {
			t.Fatalf("offer expires at %s; want the invoice expiry, 300 s after creation", exp)
		}
		if st := s.status(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12); st.InvoiceStatus != order.InvoiceUnpaid || st.PaymentType != "bolt12" {
			t.Fatalf("before payment: %+v", st)
		}
		// The order has no BOLT11 invoice.
		var none json.RawMessage
		if err := s.call("lnplaylive-invoicestatus", map[string]any{"payment_type": "bolt11", "invoice_id": r.BOLT11InvoiceID}, &none); err == nil || !strings.Contains(err.Error(), "no such order") {
			t.Fatalf("bolt11 status of a bolt12 order: %s %v", none, err)
		}
		s.payOffer(t, r.BOLT12Offer)
		f.paidElsewhere[string(r.BOLT11InvoiceID)] = true
		d := s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "provisioned", isProvisioned)
		end, _ := time.Parse(time.RFC3339, d.VMExpirationDate)

		// The offer was single use: a second wallet payment is refused.
		var fi json.RawMessage
		if err := s.payer.Get(&fi, "fetchinvoice", "offer="+r.BOLT12Offer); err == nil {
			t.Fatal("a second invoice was fetched from a single-use offer that was paid")
		}

		ext := s.extend(t, r.BOLT11InvoiceID, 2, order.PaymentTypeBolt12)
		if ext.Extension != 1 || !strings.HasPrefix(ext.BOLT12Offer, "lno1") || ext.AmountMsat != order.DefaultProducts().ExtensionPriceMsat(8, 2) ||
			ext.VMExpirationDateIfPaid != order.FormatTime(end.Add(2*devHour)) {
			t.Fatalf("extension reply %+v (end %s)", ext, d.VMExpirationDate)
		}
		s.payOffer(t, ext.BOLT12Offer)
		d = s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "extension 1", func(d *order.Deployment) bool { return len(d.Extensions) == 1 })
		if d.VMExpirationDate != order.FormatTime(end.Add(2*devHour)) || d.Extensions[0].Hours != 2 || d.Extensions[0].AmountMsat != ext.AmountMsat {
			t.Fatalf("after the offer extension: %+v", d)
		}
		ext2 := s.extend(t, r.BOLT11InvoiceID, 1, order.PaymentTypeBolt11)
		if ext2.Extension != 2 || !strings.HasPrefix(ext2.BOLT11Invoice, "lnbcrt") || ext2.Label != order.ExtensionLabel(r.BOLT11InvoiceID, 2) {
			t.Fatalf("second extension reply %+v", ext2)
		}
		s.payInvoice(t, ext2.BOLT11Invoice)
		d = s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "extension 2", func(d *order.Deployment) bool { return len(d.Extensions) == 2 })
		if d.VMExpirationDate != order.FormatTime(end.Add(3*devHour)) {
			t.Fatalf("after both extensions: %s, want %s", d.VMExpirationDate, order.FormatTime(end.Add(3*devHour)))
		}
		f.hours[string(r.BOLT11InvoiceID)] += 3
	})

	// An offer's id is the hash of its fields: before each offer named its
	// order in its issuer, two buyers of one shape in the same second asked
	// lightningd for the same offer, and the second was refused ("Already
	// exists, but isn't active") or handed the first buyer's.
	t.Run("many offers of one shape in the same second, each paid and served once", func(t *testing.T) {
		const n = 6
		replies := make([]order.CreateReply, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3, "payment_type": order.PaymentTypeBolt12}, &replies[i])
			}()
		}
		wg.Wait()
		offers := map[string]bool{}
		for i, r := range replies {
			if errs[i] != nil {
				t.Fatalf("createorder %d of %d: %v", i+1, n, errs[i])
			}
			var dec struct {
				OfferID string `json:"offer_id"`
				Issuer  string `json:"offer_issuer"`
			}
			if err := s.payer.Get(&dec, "decode", "string="+r.BOLT12Offer); err != nil {
				t.Fatal(err)
			}
			if offers[dec.OfferID] || dec.Issuer != "lnplay.live order "+string(r.BOLT11InvoiceID) {
				t.Fatalf("order %s: offer %s (issuer %q) is not its own", r.BOLT11InvoiceID, dec.OfferID, dec.Issuer)
			}
			offers[dec.OfferID] = true
			s.f.adopt(string(r.BOLT11InvoiceID), 3)
		}
		for _, r := range replies {
			s.payOffer(t, r.BOLT12Offer)
			f.paidElsewhere[string(r.BOLT11InvoiceID)] = true
		}
		for _, r := range replies {
			d := s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "served", func(d *order.Deployment) bool {
				return d.Status == order.Provisioned || d.Status == order.Expired
			})
			if len(d.UnservedPayments) != 0 {
				t.Fatalf("order %s: unserved payments %+v", r.BOLT11InvoiceID, d.UnservedPayments)
			}
		}
	})

	t.Run("offer paid while the plugin is down", func(t *testing.T) {
		r := s.order(t, 3, order.PaymentTypeBolt12)
		s.restartPlugin(t, func() { s.payOffer(t, r.BOLT12Offer) })
		f.paidElsewhere[string(r.BOLT11InvoiceID)] = true
		s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "deploying", func(*order.Deployment) bool { return true })
	})

	t.Run("offer paid while Temporal is down", func(t *testing.T) {
		r := s.order(t, 3, order.PaymentTypeBolt12)
		f.temporal.Stop()
		s.payOffer(t, r.BOLT12Offer)
		f.paidElsewhere[string(r.BOLT11InvoiceID)] = true
		time.Sleep(time.Second)
		f.temporal.Start()
		s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "deploying", func(*order.Deployment) bool { return true })
	})

	t.Run("paid offer whose workflow is missing is rebuilt from lightningd", func(t *testing.T) {
		r := s.order(t, 3, order.PaymentTypeBolt12)
		c := f.client()
		wid := r.BOLT11InvoiceID.WorkflowID()
		if _, err := c.WorkflowService().DeleteWorkflowExecution(context.Background(), &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid}}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, err := c.DescribeWorkflowExecution(context.Background(), wid, ""); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("workflow not deleted")
			}
		}
		s.payOffer(t, r.BOLT12Offer)
		f.paidElsewhere[string(r.BOLT11InvoiceID)] = true
		s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt12, "deploying", func(*order.Deployment) bool { return true })
	})

	t.Run("an extension paid after the order ended extends nothing and is listed for refund", func(t *testing.T) {
		// Room to provision on a loaded machine; the order is ended by an
		// operator rather than by waiting for its paid time.
		r := s.order(t, 40, order.PaymentTypeBolt11)
		s.payInvoice(t, r.BOLT11Invoice)
		f.paidElsewhere[string(r.BOLT11InvoiceID)] = true
		s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt11, "provisioned", isProvisioned)
		ext := s.extend(t, r.BOLT11InvoiceID, 1, order.PaymentTypeBolt11)
		wid := r.BOLT11InvoiceID.WorkflowID()
		// The plugin is down from the payment until the order has ended:
		// its relay comes after the end.
		s.restartPlugin(t, func() {
			s.payInvoice(t, ext.BOLT11Invoice)
			if out, err := f.cli("", "orders", "teardown", string(r.BOLT11InvoiceID), "--yes"); err != nil {
				t.Fatalf("teardown: %v: %s", err, out)
			}
			f.tornDown[string(r.BOLT11InvoiceID)] = true
			waitClosed(t, f, wid)
		})
		d := s.waitDeployment(t, r.BOLT11InvoiceID, order.PaymentTypeBolt11, "the unserved payment", func(d *order.Deployment) bool { return len(d.UnservedPayments) == 1 })
		u := d.UnservedPayments[0]
		if d.Status != order.Expired || len(d.Extensions) != 0 || u.Label != ext.Label || u.AmountMsat != ext.AmountMsat || u.Reason != order.UnservedOrderEnded {
			t.Fatalf("after the late extension: %+v", d)
		}
		// The operator's refund list has it: the follower recorded it.
		out, err := f.cli("", "orders", "unserved")
		if err != nil {
			t.Fatalf("lnplaylive orders unserved: %v\n%s", err, out)
		}
		if !strings.Contains(out, ext.Label) || !strings.Contains(out, fmt.Sprint(ext.AmountMsat)) {
			t.Fatalf("lnplaylive orders unserved:\n%s", out)
		}
		// A later extension of the ended order is refused.
		var e json.RawMessage
		if err := s.call("lnplaylive-extendorder", map[string]any{"invoice_id": r.BOLT11InvoiceID, "hours": 1}, &e); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("extension of an expired order: %s %v", e, err)
		}
	})

	f.converge("BOLT12 on real lightningd: offers paid, extended, during outages, late", 3*time.Minute)
}

// waitClosed waits until a workflow is no longer running.
func waitClosed(t *testing.T, f *faultEnv, wid string) {
	t.Helper()
	c := f.client()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		d, err := c.DescribeWorkflowExecution(context.Background(), wid, "")
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s still running", wid)
		}
	}
}
