package plugin

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

func deployed(status order.DeploymentStatus) workflows.State {
	return workflows.State{InvoiceStatus: order.InvoicePaid, Deployment: &order.Deployment{Status: status}}
}

func TestHeldStatesKeepTheNewestPush(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o := newOrderStates(func() time.Time { return now })
	id := order.ID("8d33e17d-0385-46c0-82f2-16c989f7b112")
	if _, ok, _ := o.get(id); ok {
		t.Fatal("a state before any push")
	}
	ctx := context.Background()
	for _, p := range []workflows.PushedState{
		{OrderID: id, Seq: 3, State: deployed(order.Provisioned)},
		{OrderID: id, Seq: 2, State: deployed(order.StartingDeployment)}, // a late retry
	} {
		if err := o.PushStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	st, ok, recheck := o.get(id)
	if !ok || st.Deployment.Status != order.Provisioned || recheck {
		t.Fatalf("held %+v ok=%v recheck=%v", st.Deployment, ok, recheck)
	}
	// Unconfirmed for stateRecheck: one caller is told to check, not two.
	now = now.Add(stateRecheck)
	if _, _, recheck := o.get(id); !recheck {
		t.Fatal("no recheck after stateRecheck")
	}
	if _, _, recheck := o.get(id); recheck {
		t.Fatal("a second concurrent recheck")
	}
	o.checkDone(id)
	// A memo read numbered like the pushes counts as one.
	o.learn(id, deployed(order.Expired), 4)
	if st, _, _ := o.get(id); st.Deployment.Status != order.Expired {
		t.Fatalf("held %s after a newer memo read", st.Deployment.Status)
	}
}

func TestHeldStatesAreDroppedWhenIdleOrWhenPushesStop(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o := newOrderStates(func() time.Time { return now })
	o.setActive(true)
	if !o.canHold() {
		t.Fatal("an active worker cannot hold memo reads")
	}
	for i := range 1000 {
		o.learn(order.NewID(), deployed(order.Provisioned), uint64(i+1))
	}
	kept := order.NewID()
	now = now.Add(stateIdle)
	o.learn(kept, deployed(order.Provisioned), 1) // sweeps on insert
	if n := o.len(); n != 1 {
		t.Fatalf("%d states held after %s idle, want only the new one", n, stateIdle)
	}
	// Without the worker, pushes may be going nowhere: nothing is held.
	o.setActive(false)
	if o.canHold() || o.len() != 0 {
		t.Fatalf("held %d states with no worker", o.len())
	}
}

func TestAnOverdueHeldStateIsNotServed(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	d := &order.Deployment{Status: order.Provisioned, VMExpirationDate: order.FormatTime(now)}
	if !overdue(d, now) || overdue(d, now.Add(-time.Second)) {
		t.Fatal("overdue misjudged the end")
	}
	d.Status = order.Expired
	if overdue(d, now.Add(time.Hour)) {
		t.Fatal("an expired state is what it says")
	}
}

// The attendees' proxy may relay only to a node of a live order: the
// held states say which addresses those are, and nothing else is one.
func TestProxyTargetsAreTheNodesOfLiveOrdersOnly(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := NewService(Config{Products: order.DefaultProducts()}, nil, nil, slog.New(slog.DiscardHandler))
	s.now = func() time.Time { return now }
	s.states = newOrderStates(s.now)
	live, ended, coming := order.NewID(), order.NewID(), order.NewID()
	withNodes := func(status order.DeploymentStatus, until time.Time, host string) workflows.State {
		st := deployed(status)
		st.Deployment.VMExpirationDate = order.FormatTime(until)
		for i := 1; i <= 8; i++ {
			st.Deployment.Nodes = append(st.Deployment.Nodes, order.Node{Index: i, Host: host, P2PPort: 9735 + i, WSPort: 6000 + i})
		}
		return st
	}
	s.states.learn(live, withNodes(order.Provisioned, now.Add(time.Hour), "203.0.113.5"), 1)
	s.states.learn(ended, withNodes(order.Provisioned, now.Add(-time.Minute), "203.0.113.6"), 1)
	s.states.learn(coming, withNodes(order.StartingDeployment, now.Add(time.Hour), "203.0.113.7"), 1)
	ctx := context.Background()
	r, err := s.ProxyTarget(ctx, []byte(`{"address":"203.0.113.5:9738"}`))
	if err != nil || r.InvoiceID != live || r.Node != 3 || r.Until != order.FormatTime(now.Add(time.Hour)) {
		t.Fatalf("a live node: %+v %v", r, err)
	}
	for _, addr := range []string{
		`"203.0.113.5:6003"`, // its websocket port, not its Lightning port
		`"203.0.113.5:22"`, `"203.0.113.5"`, `"127.0.0.1:9736"`,
		`"203.0.113.6:9736"`, // an order past its end
		`"203.0.113.7:9736"`, // not provisioned yet
	} {
		if _, err := s.ProxyTarget(ctx, []byte(`{"address":`+addr+`}`)); !errors.Is(err, order.ErrNotALiveNode) {
			t.Errorf("%s: %v; want refused", addr, err)
		}
	}
	var pe *order.ParamError
	for _, bad := range []string{`{}`, `{"address":"x:0"}`, `{"address":"x:99999"}`, `{"address":5}`, `{"address":"a:1","extra":1}`} {
		if _, err := s.ProxyTarget(ctx, []byte(bad)); !errors.As(err, &pe) {
			t.Errorf("%s: %v; want a parameter error", bad, err)
		}
	}
}

// After a restart the plugin holds no state of an order provisioned long
// ago: the proxy's question reads the paid orders' states (once per
// interval, however many addresses are tried) and finds its nodes.
func TestProxyTargetsOfPaidOrdersThePluginNoLongerHolds(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := NewService(Config{Products: order.DefaultProducts()}, nil, nil, slog.New(slog.DiscardHandler))
	s.now = func() time.Time { return now }
	id := order.NewID()
	s.index.paid(cln.Invoice{Label: id.Label(), Status: cln.StatusPaid, PaidAt: now.Add(-time.Hour).Unix()})
	s.index.setReady(true)
	reads := 0
	s.statuses.fetch = func(_ context.Context, got order.ID) (workflows.State, error) {
		reads++
		st := deployed(order.Provisioned)
		st.Deployment.VMExpirationDate = order.FormatTime(now.Add(time.Hour))
		st.Deployment.Nodes = []order.Node{{Index: 1, Host: "203.0.113.5", P2PPort: 9736}}
		return st, nil
	}
	ctx := context.Background()
	r, err := s.ProxyTarget(ctx, []byte(`{"address":"203.0.113.5:9736"}`))
	if err != nil || r.InvoiceID != id || r.Node != 1 {
		t.Fatalf("a node of a paid order not held: %+v %v", r, err)
	}
	for _, addr := range []string{"203.0.113.5:22", "198.51.100.1:9736", "203.0.113.5:9737"} {
		if _, err := s.ProxyTarget(ctx, []byte(`{"address":"`+addr+`"}`)); !errors.Is(err, order.ErrNotALiveNode) {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d state reads for four questions in one interval; want 1", reads)
	}
}
