package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// ErrNoCapacity refuses an order before its invoice exists.
var ErrNoCapacity = errors.New("no capacity")

// visibilityLag is how long a just-started workflow may be missing from
// Temporal's visibility counts.
const visibilityLag = 3 * time.Second

// countTTL bounds how often the live orders are counted: a visibility count
// costs more as orders accumulate (on SQLite it scans), so it is refreshed
// at most once a second, whatever the rate of createorder.
const countTTL = time.Second

// capacityGuard counts live orders: every running OrderWorkflow on the task
// queue is either unpaid with an invoice not yet expired, or paid and not
// yet torn down. Between counts, orders started since (and within the
// visibility lag before) the last count are added, so the guard may refuse
// at the very edge of capacity for a few seconds but never lets an order
// in over the limit from this plugin.
type capacityGuard struct {
	max       int
	taskQueue string
	temporal  client.Client
	now       func() time.Time

	mu        sync.Mutex
	counted   int
	countedAt time.Time
	starts    []time.Time // this plugin's starts, newest last
	inFlight  int         // reserved, not yet started or abandoned
}

// reserve takes a place or refuses. Call done(true) once the order's
// workflow is started, done(false) if it was not.
func (g *capacityGuard) reserve(ctx context.Context) (done func(started bool), err error) {
	if g.max <= 0 {
		return nil, fmt.Errorf("%w configured: this node sells no playgrounds (--lnplaylive-max-live-orders is 0)", ErrNoCapacity)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Sub(g.countedAt) >= countTTL {
		ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
		defer cancel()
		resp, err := g.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", g.taskQueue),
		})
		if err != nil {
			return nil, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
		}
		g.counted, g.countedAt = int(resp.GetCount()), now
	}
	since := g.countedAt.Add(-visibilityLag)
	for len(g.starts) > 0 && g.starts[0].Before(since) {
		g.starts = g.starts[1:]
	}
	if g.counted+len(g.starts)+g.inFlight >= g.max {
		return nil, fmt.Errorf("%w: all %d playgrounds are taken, try again later", ErrNoCapacity, g.max)
	}
	g.inFlight++
	var once sync.Once
	return func(started bool) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.inFlight--
			if started {
				g.starts = append(g.starts, g.now())
			}
		})
	}, nil
}
