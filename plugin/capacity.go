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
// Temporal's visibility counts. Orders this plugin started within it are
// counted on top, which may refuse an order at the very edge of capacity
// for a few seconds but never lets one through over it.
const visibilityLag = 5 * time.Second

// capacityGuard counts live orders: every running OrderWorkflow on the task
// queue is either unpaid with an invoice not yet expired, or paid and not
// yet torn down.
type capacityGuard struct {
	max       int
	taskQueue string
	temporal  client.Client
	now       func() time.Time

	mu       sync.Mutex
	recent   []time.Time // starts within visibilityLag
	inFlight int         // reserved, not yet started or abandoned
}

// reserve takes a place or refuses. Call done(true) once the order's
// workflow is started, done(false) if it was not.
func (g *capacityGuard) reserve(ctx context.Context) (done func(started bool), err error) {
	if g.max <= 0 {
		return nil, fmt.Errorf("%w configured: this node sells no playgrounds (--lnplaylive-max-live-orders is 0)", ErrNoCapacity)
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	resp, err := g.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", g.taskQueue),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
	}
	now := g.now()
	for len(g.recent) > 0 && now.Sub(g.recent[0]) > visibilityLag {
		g.recent = g.recent[1:]
	}
	live := int(resp.GetCount()) + len(g.recent) + g.inFlight
	if live >= g.max {
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
				g.recent = append(g.recent, g.now())
			}
		})
	}, nil
}
