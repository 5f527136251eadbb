package plugin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

func TestStatusCacheSharesQueriesAndServesStaleOnlyOnError(t *testing.T) {
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	tick := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	var calls atomic.Int32
	fail := atomic.Bool{}
	release := make(chan struct{})
	c := newStatusCache(500*time.Millisecond, func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
		func(ctx context.Context, id order.ID) (workflows.State, error) {
			calls.Add(1)
			<-release
			if fail.Load() {
				return workflows.State{}, errors.New("temporal unavailable")
			}
			return workflows.State{InvoiceStatus: order.InvoicePaid, Deployment: &order.Deployment{Status: order.StartingDeployment}}, nil
		})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = c.get(ctx, "a") }()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 concurrent polls made %d queries", n)
	}
	if _, err := c.get(ctx, "a"); err != nil || calls.Load() != 1 {
		t.Fatalf("a fresh entry was not served from the cache: %v, %d queries", err, calls.Load())
	}
	tick(600 * time.Millisecond)
	if _, err := c.get(ctx, "a"); err != nil || calls.Load() != 2 {
		t.Fatalf("a stale entry was not refreshed: %v, %d queries", err, calls.Load())
	}
	fail.Store(true)
	tick(600 * time.Millisecond)
	st, err := c.get(ctx, "a")
	if err != nil || st.InvoiceStatus != order.InvoicePaid {
		t.Fatalf("stale-if-error: %+v %v", st, err)
	}
	if _, err := c.get(ctx, "b"); err == nil {
		t.Fatal("an order never seen was answered while the query fails")
	}
}

// An entry past half its ttl is answered at once and refreshed behind the
// poll; nothing older than ttl is ever answered.
func TestStatusCacheRefreshesAheadWithoutMakingPollsWait(t *testing.T) {
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	tick := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	var calls atomic.Int32
	gate := make(chan struct{}, 10)
	c := newStatusCache(time.Second, func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
		func(ctx context.Context, id order.ID) (workflows.State, error) {
			n := calls.Add(1)
			if n > 1 {
				<-gate // refreshes wait for the test
			}
			return workflows.State{Deployment: &order.Deployment{Status: order.DeploymentStatus([]string{"", "starting_deployment", "provisioned", "expired"}[n])}}, nil
		})
	ctx := context.Background()
	status := func() order.DeploymentStatus {
		t.Helper()
		st, err := c.get(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		return st.Deployment.Status
	}
	if got := status(); got != "starting_deployment" {
		t.Fatalf("first poll: %s", got)
	}
	tick(200 * time.Millisecond)
	if got := status(); got != "starting_deployment" || calls.Load() != 1 {
		t.Fatalf("young entry: %s after %d fetches", got, calls.Load())
	}
	tick(400 * time.Millisecond) // 600 ms: past a quarter of the ttl
	if got := status(); got != "starting_deployment" {
		t.Fatalf("aging entry answered %s, want the cached state at once", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh")
		}
		time.Sleep(time.Millisecond)
	}
	// The refresh is still running: polls go on getting the cached state,
	// and do not start a second refresh.
	_ = status()
	if calls.Load() != 2 {
		t.Fatalf("%d fetches: a second refresh started", calls.Load())
	}
	gate <- struct{}{}
	for status() != "provisioned" {
		if time.Now().After(deadline) {
			t.Fatal("the refreshed state is never served")
		}
		time.Sleep(time.Millisecond)
	}
	// Nothing older than the ttl is answered: the refreshed entry began at
	// 600 ms; at 1,700 ms a poll must wait for a fresh fetch.
	tick(1100 * time.Millisecond)
	gate <- struct{}{}
	if got := status(); got != "expired" || calls.Load() != 3 {
		t.Fatalf("stale entry answered %s after %d fetches", got, calls.Load())
	}
}

// A state in which the workflow has not yet seen the payment is served but
// not kept: the next poll asks again.
func TestStatusCacheDoesNotKeepAStateBeforeThePayment(t *testing.T) {
	var calls atomic.Int32
	c := newStatusCache(time.Second, time.Now, func(ctx context.Context, id order.ID) (workflows.State, error) {
		if calls.Add(1) == 1 {
			return workflows.State{InvoiceStatus: order.InvoiceUnpaid}, nil
		}
		return workflows.State{InvoiceStatus: order.InvoicePaid, Deployment: &order.Deployment{Status: order.StartingDeployment}}, nil
	})
	ctx := context.Background()
	if st, _ := c.get(ctx, "a"); st.Deployment != nil {
		t.Fatal("first fetch")
	}
	if st, _ := c.get(ctx, "a"); st.Deployment == nil || calls.Load() != 2 {
		t.Fatalf("the pre-payment state was kept: %d fetches", calls.Load())
	}
	if _, _ = c.get(ctx, "a"); calls.Load() != 2 {
		t.Fatal("a settled state was not kept")
	}
}
