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

// capacityGuard decides, before an invoice exists, whether an order may be
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
type capacityGuard struct {
	max       int
	maxQueued int
	taskQueue string
	temporal  client.Client
	leases    capacity.Client
	now       func() time.Time
	log       *slog.Logger

	mu        sync.Mutex
	counted   int
	countedAt time.Time
	starts    []time.Time // this plugin's starts, newest last
	inFlight  int         // admitted, not yet started or abandoned
	reg       capacity.Registration
	regAt     time.Time
}

func newCapacityGuard(cfg Config, tc client.Client, now func() time.Time, log *slog.Logger) *capacityGuard {
	return &capacityGuard{max: cfg.MaxLiveOrders, maxQueued: cfg.MaxQueued, taskQueue: cfg.TaskQueue, temporal: tc, now: now, log: log,
		leases: capacity.Client{Temporal: tc, TaskQueue: cfg.TaskQueue, DataConverter: cfg.DataConverter}}
}

// grant is an admitted order. Call done(true) once its workflow is
// started, done(false) if it was not.
type grant struct {
	done func(started bool)
}

// reserve admits the order or refuses it.
func (g *capacityGuard) reserve(ctx context.Context, nodeCount int) (grant, error) {
	if g.max <= 0 {
		return grant{}, fmt.Errorf("%w configured: this node sells no playgrounds (--lnplaylive-max-live-orders is 0)", ErrNoCapacity)
	}
	reg, err := g.registration(ctx)
	if err != nil {
		return grant{}, err
	}
	switch {
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
func (g *capacityGuard) registration(ctx context.Context) (capacity.Registration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.regAt.IsZero() && now.Sub(g.regAt) < countTTL {
		return g.reg, nil
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	reg, err := g.leases.Registration(ctx)
	if err != nil {
		return reg, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	g.reg, g.regAt = reg, now
	return reg, nil
}

// reserveCount counts unpaid orders: running OrderWorkflows on the task
// queue whose invoice is not yet paid or expired. Between counts, orders
// started since (and within the visibility lag before) the last count are
// added, so the guard may refuse at the very edge of the bound for a few
// seconds but never lets an order in over it from this plugin.
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
			Query: fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s' AND %s = '%s'",
				g.taskQueue, workflows.AttrOrderStatus.GetName(), workflows.StatusUnpaid),
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
