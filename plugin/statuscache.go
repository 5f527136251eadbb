package plugin

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

var errWorkflowNotFound = errors.New("order workflow not found")

// statusCache serves paid orders' states for up to ttl after a query, and
// the last known state while Temporal cannot be asked. The
// workflow stays the single source of truth; the cache only bounds how often
// a thousand polling front ends ask it. Concurrent misses for one order share
// one query. It keeps no goroutine or timer per order: stale entries are
// dropped when the map is swept on insert.
type statusCache struct {
	ttl   time.Duration
	now   func() time.Time
	fetch func(context.Context, order.ID) (workflows.State, error)

	mu      sync.Mutex
	entries map[order.ID]*statusEntry
	swept   time.Time
}

type statusEntry struct {
	done    chan struct{} // closed when the fetch finished
	state   workflows.State
	err     error
	fetched time.Time
}

func newStatusCache(ttl time.Duration, now func() time.Time, fetch func(context.Context, order.ID) (workflows.State, error)) *statusCache {
	return &statusCache{ttl: ttl, now: now, fetch: fetch, entries: map[order.ID]*statusEntry{}}
}

func (c *statusCache) get(ctx context.Context, id order.ID) (workflows.State, error) {
	c.mu.Lock()
	e := c.entries[id]
	now := c.now()
	fresh := e != nil && (!isDone(e.done) || (e.err == nil && now.Sub(e.fetched) < c.ttl))
	if !fresh {
		prev := e
		e = &statusEntry{done: make(chan struct{})}
		c.entries[id] = e
		c.sweepLocked(now)
		c.mu.Unlock()
		st, err := c.fetch(ctx, id)
		c.mu.Lock()
		e.state, e.err, e.fetched = st, err, c.now()
		close(e.done)
		if err != nil && c.entries[id] == e {
			delete(c.entries, id) // errors are not cached
			// While Temporal cannot answer, the last state it gave is a
			// better answer than none: stale-if-error.
			if prev != nil && prev.err == nil && !errors.Is(err, errWorkflowNotFound) {
				c.entries[id] = prev
				c.mu.Unlock()
				return prev.state, nil
			}
		}
		c.mu.Unlock()
		return st, err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.state, e.err
	case <-ctx.Done():
		return workflows.State{}, ctx.Err()
	}
}

func (c *statusCache) sweepLocked(now time.Time) {
	// Entries are kept for a while past their ttl, for stale-if-error.
	const keep = time.Minute
	if now.Sub(c.swept) < keep {
		return
	}
	c.swept = now
	for id, e := range c.entries {
		if isDone(e.done) && now.Sub(e.fetched) >= keep+c.ttl {
			delete(c.entries, id)
		}
	}
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// queryState asks the order's workflow for its state.
func (s *Service) queryState(ctx context.Context, id order.ID) (workflows.State, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, id.WorkflowID(), "", workflows.QueryStatus)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return workflows.State{}, errWorkflowNotFound
		}
		return workflows.State{}, err
	}
	var st workflows.State
	if err := v.Get(&st); err != nil {
		return workflows.State{}, err
	}
	return st, nil
}
