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
	"github.com/lnplaylive/lnplaylive/order"
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

// lapseGrace keeps a pool slot reserved a while past the invoice's expiry:
// a payment lightningd accepted at the last moment may be relayed late.
const lapseGrace = 10 * time.Minute

// capacityGuard admits an order before its invoice exists. What it checks
// depends on the provider the worker registered with the task queue's
// capacity workflow (read from its memo, at most once a second):
//
//   - none: every order is refused ("no capacity configured");
//   - hosts: a slot is reserved in the capacity workflow for the invoice's
//     lifetime, so admission is exact: two callers never get one slot, and
//     a paid order always finds its slot;
//   - hetzner (or no worker registered yet): live orders are counted
//     against --lnplaylive-max-live-orders.
type capacityGuard struct {
	max       int
	taskQueue string
	temporal  client.Client
	leases    capacity.Client
	now       func() time.Time
	log       *slog.Logger

	mu        sync.Mutex
	counted   int
	countedAt time.Time
	starts    []time.Time // this plugin's starts, newest last
	inFlight  int         // reserved, not yet started or abandoned
	kind      string      // registered provider ("" unknown)
	kindAt    time.Time
	// updating bounds this plugin's slot updates in flight: Temporal admits
	// only a few concurrent updates per workflow (10 by default) and makes
	// the rest retry, so a burst of createorders waits here, in order,
	// instead of in the server's back-off.
	updating chan struct{}
}

// maxSlotUpdates is how many slot updates this plugin has in flight.
const maxSlotUpdates = 4

func newCapacityGuard(cfg Config, tc client.Client, now func() time.Time, log *slog.Logger) *capacityGuard {
	return &capacityGuard{max: cfg.MaxLiveOrders, taskQueue: cfg.TaskQueue, temporal: tc, now: now, log: log,
		updating: make(chan struct{}, maxSlotUpdates),
		leases:   capacity.Client{Temporal: tc, TaskQueue: cfg.TaskQueue, DataConverter: cfg.DataConverter}}
}

// grant is an admitted order. Call done(true) once its workflow is
// started, done(false) if it was not.
type grant struct {
	done func(started bool)
	slot bool // a pool slot is reserved for the invoice
}

// reserve admits the order or refuses it.
func (g *capacityGuard) reserve(ctx context.Context, id order.ID, nodeCount int, invoiceExpiry time.Time) (grant, error) {
	if g.max <= 0 {
		return grant{}, fmt.Errorf("%w configured: this node sells no playgrounds (--lnplaylive-max-live-orders is 0)", ErrNoCapacity)
	}
	kind, err := g.provider(ctx)
	if err != nil {
		return grant{}, err
	}
	switch kind {
	case workflows.ProviderNone:
		return grant{}, fmt.Errorf("%w configured: the worker has no provider to deploy on (it needs HCLOUD_TOKEN or LNPLAYLIVE_HOSTS_FILE)", ErrNoCapacity)
	case workflows.ProviderHosts:
		return g.reserveSlot(ctx, id, nodeCount, invoiceExpiry.Add(lapseGrace))
	}
	return g.reserveCount(ctx)
}

// provider reads the registered provider kind, at most once a second; ""
// when no worker has registered yet.
func (g *capacityGuard) provider(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.kindAt.IsZero() && now.Sub(g.kindAt) < countTTL {
		return g.kind, nil
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	kind, err := g.leases.Provider(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	g.kind, g.kindAt = kind, now
	return kind, nil
}

// reserveSlot holds a pool slot for the invoice in the capacity workflow.
func (g *capacityGuard) reserveSlot(ctx context.Context, id order.ID, nodeCount int, until time.Time) (grant, error) {
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	select {
	case g.updating <- struct{}{}:
		defer func() { <-g.updating }()
	case <-ctx.Done():
		return grant{}, fmt.Errorf("%w: reserve a slot: %v", ErrUnavailable, ctx.Err())
	}
	_, err := g.leases.Reserve(ctx, id.String(), nodeCount, until)
	switch {
	case errors.Is(err, capacity.ErrNoFreeSlot):
		return grant{}, fmt.Errorf("%w: every playground slot for %d nodes is taken, try again later", ErrNoCapacity, nodeCount)
	case err != nil:
		return grant{}, fmt.Errorf("%w: reserve a slot: %v", ErrUnavailable, err)
	}
	var once sync.Once
	return grant{slot: true, done: func(started bool) {
		once.Do(func() {
			if !started {
				g.release(id)
			}
		})
	}}, nil
}

// release frees a slot reserved for an order that was not created. Best
// effort: the reservation lapses on its own.
func (g *capacityGuard) release(id order.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.leases.Release(ctx, id.String()); err != nil {
		g.log.Warn("free the slot of an order not created; it lapses on its own", "order", id, "error", err)
	}
}

// reserveCount counts live orders: every running OrderWorkflow on the task
// queue is either unpaid with an invoice not yet expired, or paid and not
// yet torn down. Between counts, orders started since (and within the
// visibility lag before) the last count are added, so the guard may refuse
// at the very edge of capacity for a few seconds but never lets an order
// in over the limit from this plugin.
func (g *capacityGuard) reserveCount(ctx context.Context) (grant, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	ttl := countTTL
	if 10*(g.counted+len(g.starts)+g.inFlight) < 9*g.max {
		ttl = countTTLFar
	}
	if now.Sub(g.countedAt) >= ttl {
		ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
		defer cancel()
		resp, err := g.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", g.taskQueue),
		})
		if err != nil {
			return grant{}, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
		}
		g.counted, g.countedAt = int(resp.GetCount()), now
	}
	since := g.countedAt.Add(-visibilityLag)
	for len(g.starts) > 0 && g.starts[0].Before(since) {
		g.starts = g.starts[1:]
	}
	if g.counted+len(g.starts)+g.inFlight >= g.max {
		return grant{}, fmt.Errorf("%w: all %d playgrounds are taken, try again later", ErrNoCapacity, g.max)
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
