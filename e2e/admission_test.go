package e2e

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// 200 createorder calls in a minute from one caller, none paid, while the
// only slot runs a paid playground; then a customer orders and pays. The
// flood took no capacity: the payer gets an invoice, is first in line
// with the running order's end as its estimate, and is served when that
// order ends. Nothing is ever oversold: at most one lease and one
// playground at any moment.
func TestAFloodOfUnpaidOrdersNeverKeepsAPayerOut(t *testing.T) {
	p := newPool(t, 1, 1)
	s := newSystem(t, options{workerEnv: p.env})
	running := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(running.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	d := deploymentOf(t, s.waitStatus(string(running.BOLT11InvoiceID), 90*time.Second, provisioned))

	// Oversold would be a second lease or a second playground at once.
	stop := make(chan struct{})
	var most atomic.Int64
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			n := max(len(s.capacityState().Leases), len(p.projects(t)))
			if int64(n) > most.Load() {
				most.Store(int64(n))
			}
		}
	}()
	defer func() { close(stop); <-watched }()

	began := time.Now()
	var refused atomic.Int64
	var wg sync.WaitGroup
	calls := make(chan struct{}, 200)
	for range 200 {
		calls <- struct{}{}
	}
	close(calls)
	for range 8 {
		wg.Go(func() {
			for range calls {
				if _, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3}); rerr != nil {
					refused.Add(1)
					t.Errorf("flood call refused: %v", rerr)
				}
			}
		})
	}
	wg.Wait()
	if took := time.Since(began); took > time.Minute {
		t.Logf("the flood took %s (a minute was the aim)", took)
	}
	if n := len(s.node.Invoices()); n != 201 || refused.Load() != 0 {
		t.Fatalf("%d invoices, %d refused; want 201 and none", n, refused.Load())
	}
	if cs := s.capacityState(); len(cs.Leases) != 1 || len(cs.Queue) != 0 {
		t.Fatalf("after the flood: %d leases, %d queued; unpaid invoices must hold nothing", len(cs.Leases), len(cs.Queue))
	}

	payer := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(payer.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	dq := deploymentOf(t, s.waitStatus(string(payer.BOLT11InvoiceID), 30*time.Second, func(st status) bool { return queuedAt(st) == 1 }))
	if dq.Progress.EstimatedStart != d.VMExpirationDate {
		t.Fatalf("the payer's estimate %q; want the running order's end %s", dq.Progress.EstimatedStart, d.VMExpirationDate)
	}
	if out, err := s.cli("", "orders", "teardown", string(running.BOLT11InvoiceID), "--yes"); err != nil {
		t.Fatalf("teardown: %v: %s", err, out)
	}
	s.waitStatus(string(payer.BOLT11InvoiceID), 120*time.Second, provisioned)
	if m := most.Load(); m != 1 {
		t.Fatalf("at most %d leases or playgrounds at once on a one-slot pool", m)
	}
	if strings.Contains(s.worker.out.String(), "panic") {
		t.Fatal("the worker panicked")
	}
}
