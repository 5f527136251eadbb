package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
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
