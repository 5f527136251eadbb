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
// Temporal's visibility. Orders this plugin started within it are added to
// what visibility lists, by id, so none is counted twice or missed.
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
	recent   map[string]time.Time // workflow ids started within visibilityLag
	inFlight int                  // reserved, not yet started or abandoned
}

// reserve takes a place or refuses. Call done(id) with the workflow id once
// the order's workflow is started, done("") if it was not.
func (g *capacityGuard) reserve(ctx context.Context) (done func(workflowID string), err error) {
	if g.max <= 0 {
		return nil, fmt.Errorf("%w configured: this node sells no playgrounds (--lnplaylive-max-live-orders is 0)", ErrNoCapacity)
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	// List at most max+1 live orders: enough to know whether one more fits.
	resp, err := g.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(g.max + 1),
		Query:    fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", g.taskQueue),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
	}
	live := map[string]bool{}
	for _, e := range resp.GetExecutions() {
		live[e.GetExecution().GetWorkflowId()] = true
	}
	now := g.now()
	for id, at := range g.recent {
		if now.Sub(at) > visibilityLag {
			delete(g.recent, id)
		} else {
			live[id] = true
		}
	}
	if n := len(live) + g.inFlight; n >= g.max || len(resp.GetNextPageToken()) > 0 {
		return nil, fmt.Errorf("%w: all %d playgrounds are taken, try again later", ErrNoCapacity, g.max)
	}
	g.inFlight++
	var once sync.Once
	return func(workflowID string) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.inFlight--
			if workflowID != "" {
				if g.recent == nil {
					g.recent = map[string]time.Time{}
				}
				g.recent[workflowID] = g.now()
			}
		})
	}, nil
}
