package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
const visibilityLag = 3 * time.Second

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
	query := fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", g.taskQueue)
	resp, err := g.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return nil, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
	}
	live := int(resp.GetCount())
	// Orders this plugin started moments ago count too, unless visibility
	// already shows them (then they are in the count).
	now := g.now()
	var recent []string
	for id, at := range g.recent {
		if now.Sub(at) > visibilityLag {
			delete(g.recent, id)
		} else {
			recent = append(recent, "'"+id+"'")
		}
	}
	if len(recent) > 0 {
		seen, err := g.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(len(recent)),
			Query:    query + " AND WorkflowId IN (" + strings.Join(recent, ",") + ")",
		})
		if err != nil {
			return nil, fmt.Errorf("%w: count live orders: %v", ErrUnavailable, err)
		}
		live += len(recent) - len(seen.GetExecutions())
	}
	if live+g.inFlight >= g.max {
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
