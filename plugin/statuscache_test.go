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
			return workflows.State{InvoiceStatus: order.InvoicePaid}, nil
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
