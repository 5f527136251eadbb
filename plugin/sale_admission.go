package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// ErrNoCapacity refuses an order before its invoice exists.
var ErrNoCapacity = errors.New("no capacity")

// visibilityLag is how long a just-started workflow may be missing from
// Temporal's visibility counts.
const visibilityLag = 3 * time.Second

// countTTL bounds how often the live orders are counted near the limit: a
// visibility count costs more as orders accumulate (on SQLite it scans),
// so it is refreshed at most once a second, whatever the rate of
// createorder. Far from the limit (below 90 %) a count may be older,
// countTTLFar: this plugin adds its own starts since the count, so an old
// count can only be too high (orders ended since), never let an order in
// over the limit, and it is refreshed as soon as the limit comes near.
const (
	countTTL    = time.Second
	countTTLFar = 10 * time.Second
)

// saleAdmission decides, before an invoice exists, whether an order may be
// sold. Capacity itself is taken at payment, in the capacity workflow's
// admission (workflows.UpdateAdmit), so an unpaid invoice never holds a
// slot or a machine that a paying customer needs. What is checked here:
//
//   - a provider is registered (read from the capacity workflow's memo,
//     with the queue, at most once a second); none refuses every order;
//   - the order fits the biggest slot of a host pool;
//   - fewer than --lnplaylive-max-queued paid orders are waiting: a long
//     queue means capacity is short, and new customers are told so at
//     once rather than after paying;
//   - fewer than --lnplaylive-max-live-orders invoices are unpaid: a bound
//     on what a flood of createorder can make the node hold (invoices and
//     workflows), set far above real demand. It never keeps a payer out
//     of capacity, only out of new invoices while it is reached.
//
// Neither read holds up createorder: a reading older than its TTL is
// served while one caller refreshes it in the background (at most one
// refresh of each at a time); only a reading older than its bound
// (regMaxStale, countMaxStale), or none at all, is waited for. Under twenty concurrent callers, holding a lock
// across these Temporal calls stalled every caller behind each refresh.
type saleAdmission struct {
	max       int
	maxQueued int
	taskQueue string
	temporal  client.Client
	leases    capacity.Client
	now       func() time.Time
	log       *slog.Logger
	reg       refreshed[capacity.Registration]
	count     refreshed[int]

	mu       sync.Mutex
	starts   []time.Time // this plugin's starts, newest last
	inFlight int         // admitted, not yet started or abandoned
}

// How old a reading createorder acts on may be: the queue of paid orders
// (the registration) is told to new customers, so it is at most two
// seconds old; the count of unpaid orders may be older (this plugin adds
// its own starts since the count began, so it errs towards refusing).
const (
	regMaxStale   = 2 * time.Second
	countMaxStale = 30 * time.Second
)

// refreshed is a value read from Temporal, refreshed by one caller at a
// time while the others use the last reading.
type refreshed[T any] struct {
	mu     sync.Mutex
	val    T
	at     time.Time // when the read that gave val began
	ok     bool
	err    error
	flight chan struct{}
}

// last is the last reading, however old.
func (r *refreshed[T]) last() (T, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.val, r.at, r.ok
}

// get returns a reading no older than ttl if there is one; otherwise it
// starts a refresh and returns the last reading if younger than maxStale,
// or waits for the refresh.
func (r *refreshed[T]) get(ctx context.Context, now time.Time, ttl, maxStale time.Duration, fetch func(context.Context) (T, error)) (T, time.Time, error) {
	r.mu.Lock()
	if r.ok && now.Sub(r.at) < ttl {
		defer r.mu.Unlock()
		return r.val, r.at, nil
	}
	if r.flight == nil {
		ch := make(chan struct{})
		r.flight = ch
		go func() {
			fctx, cancel := context.WithTimeout(context.Background(), temporalCallTimeout)
			defer cancel()
			v, err := fetch(fctx)
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.err = err; err == nil {
				r.val, r.at, r.ok = v, now, true
			}
			r.flight = nil
			close(ch)
		}()
	}
	ch := r.flight
	if r.ok && now.Sub(r.at) < maxStale {
		defer r.mu.Unlock()
		return r.val, r.at, nil
	}
	r.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		var zero T
		return zero, time.Time{}, ctx.Err()
	}
	// The refresh waited for is the freshest reading there can be, even
	// if it began before this caller asked.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil || !r.ok {
		var zero T
		return zero, time.Time{}, r.err
	}
	return r.val, r.at, nil
}

func newSaleAdmission(cfg Config, tc client.Client, now func() time.Time, log *slog.Logger) *saleAdmission {
	return &saleAdmission{max: cfg.MaxLiveOrders, maxQueued: cfg.MaxQueued, taskQueue: cfg.TaskQueue, temporal: tc, now: now, log: log,
		leases: capacity.Client{Temporal: tc, TaskQueue: cfg.TaskQueue, DataConverter: cfg.DataConverter}}
}

// grant is an admitted order. Call done(true) once its workflow is
// started, done(false) if it was not.
type grant struct {
	done func(started bool)
}

// reserve admits the order or refuses it.
func (g *saleAdmission) reserve(ctx context.Context, nodeCount int) (grant, error) {
	if g.max <= 0 {
		return grant{}, fmt.Errorf("%w configured: this node sells no playgrounds (--lnplaylive-max-live-orders is 0)", ErrNoCapacity)
	}
	reg, err := g.registration(ctx)
	if err != nil {
		return grant{}, err
	}
	switch {
	case reg.Admission.Unavailable != "":
		return grant{}, fmt.Errorf("%w: the worker cannot deploy now: %s", ErrNoCapacity, reg.Admission.Unavailable)
	case reg.Provider == workflows.ProviderNone:
		return grant{}, fmt.Errorf("%w configured: the worker has no provider to deploy on (it needs HCLOUD_TOKEN or LNPLAYLIVE_HOSTS_FILE)", ErrNoCapacity)
	case reg.Admission.MaxNodes > 0 && nodeCount > reg.Admission.MaxNodes:
		return grant{}, fmt.Errorf("%w for %d nodes: the biggest playground this operator runs has %d", ErrNoCapacity, nodeCount, reg.Admission.MaxNodes)
	case reg.Admission.Queued > 0 && reg.Admission.Queued >= g.maxQueued:
		return grant{}, fmt.Errorf("%w: %d paid orders are waiting for a playground, try again later", ErrNoCapacity, reg.Admission.Queued)
	}
	return g.reserveCount(ctx)
}

// registration reads the registered provider and the admission queue, at
// most once a second; a zero provider means no worker registered yet.
func (g *saleAdmission) registration(ctx context.Context) (capacity.Registration, error) {
	reg, _, err := g.reg.get(ctx, g.now(), countTTL, regMaxStale, g.leases.Registration)
	if err != nil {
		return reg, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return reg, nil
}

// reserveCount counts unpaid orders: running OrderWorkflows on the task
// queue whose invoice is not yet paid or expired. Between counts, orders
// started since (and within the visibility lag before) the last count are
// added, so the guard may refuse at the very edge of the bound for a few
// seconds but never lets an order in over it from this plugin.
func (g *saleAdmission) reserveCount(ctx context.Context) (grant, error) {
	g.mu.Lock()
	ttl := countTTL
	if last, at, ok := g.count.last(); ok && 10*(last+g.startsSinceLocked(at)+g.inFlight) < 9*g.max {
		ttl = countTTLFar
	}
	g.mu.Unlock()
	counted, countedAt, err := g.count.get(ctx, g.now(), ttl, countMaxStale, g.countUnpaid)
	if err != nil {
		return grant{}, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if counted+g.startsSinceLocked(countedAt)+g.inFlight >= g.max {
		return grant{}, fmt.Errorf("%w: %d invoices are waiting to be paid, the most this node holds; try again in a few minutes", ErrNoCapacity, g.max)
	}
	g.inFlight++
	var once sync.Once
	return grant{done: func(started bool) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.inFlight--
			if started {
				g.starts = append(g.starts, g.now())
			}
		})
	}}, nil
}

// startsSinceLocked is this plugin's starts a count begun at `at` may not
// show yet. Starts older than any count still used are forgotten.
func (g *saleAdmission) startsSinceLocked(at time.Time) int {
	forget := g.now().Add(-countMaxStale - visibilityLag)
	for len(g.starts) > 0 && g.starts[0].Before(forget) {
		g.starts = g.starts[1:]
	}
	since := at.Add(-visibilityLag)
	n := 0
	for _, s := range g.starts {
		if !s.Before(since) {
			n++
		}
	}
	return n
}

// countUnpaid counts running OrderWorkflows on the task queue whose
// invoice is not yet paid or expired.
func (g *saleAdmission) countUnpaid(ctx context.Context) (int, error) {
	resp, err := g.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s' AND %s = '%s'",
			g.taskQueue, workflows.AttrOrderStatus.GetName(), workflows.StatusUnpaid),
	})
	return int(resp.GetCount()), err
}
