package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/internal/testworld/clntest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// The index's answers are held to the slow path's: for every order, by
// both payment types, invoicestatus from memory equals invoicestatus asked
// of lightningd, field by field. Each test runs the plugin's service on
// the lightningd stand-in and a real Temporal dev server, through the same
// RPC socket calls the plugin makes inside lightningd.

// indexedPlugin is one plugin's service on a node: started, stopped and
// started again as lightningd would run it.
type indexedPlugin struct {
	*Service
	node   *clntest.Node
	rpc    *cln.Client
	cancel context.CancelFunc
	done   chan error
}

func startIndexed(t *testing.T, node *clntest.Node, tc client.Client) *indexedPlugin {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sock := filepath.Join(node.Dir, node.RPCFile)
	rpc, err := cln.Dial(ctx, sock, "lnplaylive")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := cln.Dial(ctx, sock, "lnplaylive-index")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{TaskQueue: "index-test", Products: order.DefaultProducts(), StatusTTL: time.Second}
	p := &indexedPlugin{Service: NewService(cfg, rpc, tc, slog.New(slog.NewTextHandler(io.Discard, nil))),
		node: node, rpc: rpc, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- p.RunIndex(ctx, idx) }()
	t.Cleanup(p.stop)
	return p
}

// stop is the plugin going down: its index goes with it.
func (p *indexedPlugin) stop() {
	p.cancel()
	p.rpc.Close()
}

func (p *indexedPlugin) ready() bool {
	p.index.mu.RLock()
	defer p.index.mu.RUnlock()
	return p.index.ready
}

func (p *indexedPlugin) waitReady(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !p.ready(); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-p.done:
			t.Fatalf("index stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("index never built")
		}
	}
}

// sellingNode is a lightningd stand-in and a connection to its RPC socket,
// for selling as another plugin instance would.
func sellingNode(t *testing.T) (*clntest.Node, *cln.Client) {
	t.Helper()
	node := clntest.NewNode(t)
	rpc, err := cln.Dial(context.Background(), filepath.Join(node.Dir, node.RPCFile), "seller")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rpc.Close() })
	return node, rpc
}

// sell makes an order's invoice as createorder does (label, description,
// expiry), without this plugin knowing: another instance, or an earlier
// process, made it.
func sell(t *testing.T, rpc *cln.Client, expiry time.Duration) order.ID {
	t.Helper()
	id := order.NewID()
	req := order.Request{NodeCount: 8, Hours: 3, Topology: order.DefaultTopology}
	if _, err := rpc.CreateInvoice(context.Background(), cln.InvoiceRequest{AmountMsat: 24_000_000, Label: id.Label(),
		Description: order.Description(req), Expiry: uint64(expiry / time.Second)}); err != nil {
		t.Fatal(err)
	}
	return id
}

// answer is one invoicestatus answer, or its error, as the caller sees it.
func answer[R any](t *testing.T, f func(context.Context, json.RawMessage) (R, error), id order.ID, paymentType string) map[string]any {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"payment_type": paymentType, "invoice_id": id})
	r, err := f(context.Background(), params)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// equivalent checks every order by both payment types: memory equals the
// slow path, field by field. It returns the memory answers by order.
func equivalent(t *testing.T, p *indexedPlugin, ids ...order.ID) map[order.ID]map[string]any {
	t.Helper()
	out := map[order.ID]map[string]any{}
	for _, id := range ids {
		for _, pt := range []string{order.PaymentTypeBolt11, order.PaymentTypeBolt12} {
			mem := answer(t, p.InvoiceStatusJSON, id, pt)
			slow := answer(t, p.InvoiceStatusFromNode, id, pt)
			for k := range merged(mem, slow) {
				if !reflect.DeepEqual(mem[k], slow[k]) {
					t.Errorf("order %s (%s): %s from memory is %v, from lightningd %v", id, pt, k, mem[k], slow[k])
				}
			}
			if pt == order.PaymentTypeBolt11 {
				out[id] = mem
			}
		}
	}
	return out
}

func merged(a, b map[string]any) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

// rpcCalls is what the plugin asked of lightningd that a status could need.
func rpcCalls(n *clntest.Node) int {
	return n.Calls("listinvoices") + n.Calls("listdatastore")
}

func TestIndexAnswersAsLightningdDoesAcrossRestarts(t *testing.T) {
	tc := devserver.Start(t).Client(t)
	node, seller := sellingNode(t)

	// Orders older than the plugin: paid, unpaid, and one expiring soon.
	paidBefore, unpaid := sell(t, seller, time.Hour), sell(t, seller, time.Hour)
	expiresUp := sell(t, seller, 5*time.Second)
	expiresUpAt := time.Now().Add(5 * time.Second)
	if err := node.Pay(paidBefore.Label()); err != nil {
		t.Fatal(err)
	}
	p := startIndexed(t, node, tc)
	p.waitReady(t)
	if n := p.index.len(); n != 3 {
		t.Fatalf("index holds %d orders after its rebuild, want 3", n)
	}
	paidUp := sell(t, seller, time.Hour)
	if err := node.Pay(paidUp.Label()); err != nil {
		t.Fatal(err)
	}
	// The index's follower sees the payment; until then the order is one
	// it does not hold (made after the rebuild by someone else).
	waitFor(t, "payment in the index", func() bool { e, _, _ := p.index.lookup(paidUp, "bolt11"); return e != nil && e.inv.Status == "paid" })
	got := equivalent(t, p, paidBefore, unpaid, expiresUp, paidUp)
	for id, want := range map[order.ID]string{paidBefore: "paid", unpaid: "unpaid", expiresUp: "unpaid", paidUp: "paid"} {
		if got[id]["invoice_status"] != want {
			t.Errorf("order %s: %v, want %s", id, got[id]["invoice_status"], want)
		}
	}

	// From memory: no lightningd call and no Temporal call. A paid
	// order's deployment is what its workflow pushed.
	for _, id := range []order.ID{paidBefore, paidUp} {
		p.states.learn(id, workflows.State{InvoiceStatus: order.InvoicePaid,
			Deployment: &order.Deployment{Status: order.StartingDeployment, VMExpirationDate: order.FormatTime(time.Now().Add(3 * time.Hour))}}, 1)
	}
	tcBefore := p.temporal
	p.temporal = nil // any Temporal call would panic
	calls := rpcCalls(node)
	for range 50 {
		for _, id := range []order.ID{paidBefore, unpaid, paidUp} {
			if a := answer(t, p.InvoiceStatusJSON, id, "bolt11"); a["error"] != nil {
				t.Fatalf("order %s: %v", id, a["error"])
			}
		}
	}
	if d := rpcCalls(node) - calls; d != 0 {
		t.Errorf("150 statuses of held orders made %d lightningd calls, want 0", d)
	}
	p.temporal = tcBefore
	// A new pushed state is a new answer, not the one sent before.
	p.states.learn(paidUp, workflows.State{InvoiceStatus: order.InvoicePaid,
		Deployment: &order.Deployment{Status: order.StartingDeployment, VMExpirationDate: order.FormatTime(time.Now().Add(3 * time.Hour)),
			Progress: &order.Progress{Step: "acquiring_host", NodeCount: 8}}}, 2)
	if a := answer(t, p.InvoiceStatusJSON, paidUp, "bolt11"); a["deployment_details"].(map[string]any)["progress"] == nil {
		t.Errorf("the answer after a new pushed state is the one before it: %v", a)
	}

	// An expiry while up: lightningd confirms it once, then memory answers.
	time.Sleep(time.Until(expiresUpAt.Add(time.Second)))
	equivalent(t, p, expiresUp)
	calls = rpcCalls(node)
	if a := answer(t, p.InvoiceStatus, expiresUp, "bolt11"); a["invoice_status"] != "expired" {
		t.Fatalf("expired order answered %v", a)
	}
	if d := rpcCalls(node) - calls; d != 0 {
		t.Errorf("a confirmed expiry asked lightningd again (%d calls)", d)
	}

	// The plugin goes down; meanwhile one order is paid and one expires.
	expiresDown := sell(t, seller, 2*time.Second)
	p.stop()
	if err := node.Pay(unpaid.Label()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	p2 := startIndexed(t, node, tc)
	p2.waitReady(t)
	got = equivalent(t, p2, paidBefore, unpaid, expiresUp, paidUp, expiresDown)
	if got[unpaid]["invoice_status"] != "paid" || got[expiresDown]["invoice_status"] != "expired" {
		t.Errorf("after the restart: paid while down %v, expired while down %v", got[unpaid], got[expiresDown])
	}
	if _, found, known := p2.index.lookup(unpaid, "bolt11"); !found || !known {
		t.Error("the order paid while the plugin was down is not answered from the rebuilt index")
	}
}

// Statuses polled while the index is rebuilt are answered (the slow way),
// and equal lightningd's before, during and after.
func TestIndexPolledDuringItsRebuild(t *testing.T) {
	tc := devserver.Start(t).Client(t)
	node, seller := sellingNode(t)
	// Pages of other invoices, with orders among them.
	var ids []order.ID
	for i := range 2600 {
		if i%100 == 0 {
			id := sell(t, seller, time.Hour)
			ids = append(ids, id)
			if i%200 == 0 {
				if err := node.Pay(id.Label()); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if _, err := seller.CreateInvoice(context.Background(), cln.InvoiceRequest{AmountMsat: 1000, Label: fmt.Sprintf("other-%d", i), Description: "not an order", Expiry: 3600}); err != nil {
			t.Fatal(err)
		}
	}
	p := startIndexed(t, node, tc)
	var during, after atomic.Int32
	for i := 0; after.Load() < int32(len(ids)); i++ {
		wasReady := p.ready()
		equivalent(t, p, ids[i%len(ids)])
		if !wasReady && !p.ready() {
			during.Add(1)
		}
		if wasReady {
			after.Add(1)
		}
		if t.Failed() {
			return
		}
	}
	if during.Load() == 0 {
		t.Log("the rebuild finished before a poll met it; no poll ran during it")
	}
	if p.index.len() != len(ids) {
		t.Errorf("index holds %d orders, want %d", p.index.len(), len(ids))
	}
	t.Logf("%d polls during the rebuild, %d after", during.Load(), after.Load())
}

// Two plugins, on two nodes, share one Temporal: each knows its own
// orders, and neither answers for the other's.
func TestIndexesOfTwoPluginsOnOneTemporal(t *testing.T) {
	tc := devserver.Start(t).Client(t)
	var plugins []*indexedPlugin
	var own [][]order.ID
	for range 2 {
		node, seller := sellingNode(t)
		ids := []order.ID{sell(t, seller, time.Hour), sell(t, seller, time.Hour)}
		if err := node.Pay(ids[0].Label()); err != nil {
			t.Fatal(err)
		}
		p := startIndexed(t, node, tc)
		p.waitReady(t)
		plugins, own = append(plugins, p), append(own, ids)
	}
	for i, p := range plugins {
		mine := equivalent(t, p, own[i]...)
		theirs := equivalent(t, p, own[1-i]...)
		for _, id := range own[i] {
			if mine[id]["error"] != nil {
				t.Errorf("plugin %d: its own order %s: %v", i, id, mine[id]["error"])
			}
		}
		for _, id := range own[1-i] {
			if theirs[id]["error"] != order.ErrNoSuchOrder.Error() {
				t.Errorf("plugin %d answered the other's order %s: %v", i, id, theirs[id])
			}
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The index stays bounded: a payment older than the longest an order can
// run is not kept, and orders leave it ten minutes after their invoice
// expired or their deployment ended.
func TestIndexKeepsOnlyOrdersThatMayStillRun(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	x := newInvoiceIndex(func() time.Time { return now }, 24*time.Hour)
	old, live, ended := order.NewID(), order.NewID(), order.NewID()
	x.paid(cln.Invoice{Label: old.Label(), Status: cln.StatusPaid, PaidAt: now.Add(-25 * time.Hour).Unix()})
	x.paid(cln.Invoice{Label: live.Label(), Status: cln.StatusPaid, PaidAt: now.Add(-time.Hour).Unix()})
	x.add(ended, payment{paymentType: order.PaymentTypeBolt11, label: ended.Label(), expiresAt: now.Add(time.Minute)})
	if n := x.len(); n != 2 {
		t.Fatalf("%d orders held, want 2 (the old payment left out)", n)
	}
	now = now.Add(time.Minute + indexGrace + time.Second)
	x.paid(cln.Invoice{Label: order.NewID().Label(), Status: cln.StatusPaid, PaidAt: now.Unix()}) // any change sweeps
	x.mu.RLock()
	_, endedHeld := x.byID[ended]
	_, liveHeld := x.byID[live]
	x.mu.RUnlock()
	if endedHeld || !liveHeld {
		t.Fatalf("after the sweep: expired order held %v, running order held %v", endedHeld, liveHeld)
	}
	x.forget(live)
	if n := x.len(); n != 1 {
		t.Fatalf("%d orders held after the running one ended, want 1", n)
	}
}
