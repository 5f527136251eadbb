package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

var errWorkflowNotFound = errors.New("order workflow not found")

// statusCache serves paid orders' states, never older than ttl: an answer
// is always a state whose fetch began less than ttl ago. An entry past 45 %
// of its ttl is refreshed in the background by the poll that finds it (45,
// not 50: a front end polling exactly twice a second against the 1 s
// default finds entries aged just about half the ttl, and must not skip a
// refresh only to find the entry expired on its next poll). So an order
// polled twice per ttl or more often is answered from memory every time and
// fetched at most twice per ttl; a poll that finds no entry young enough waits for one
// fetch, shared with every concurrent poll of the order. While Temporal
// cannot answer, the last state it gave is served (stale-if-error). The
// workflow stays the single source of truth; the cache only bounds how
// often a thousand polling front ends ask it. It keeps no goroutine or
// timer per order: refreshes are short-lived, and old entries are dropped
// when the map is swept on insert.
type statusCache struct {
	ttl   time.Duration
	now   func() time.Time
	fetch func(context.Context, order.ID) (workflows.State, error)

	mu      sync.Mutex
	entries map[order.ID]*statusEntry
	swept   time.Time
}

type statusEntry struct {
	done       chan struct{} // closed when the fetch finished
	state      workflows.State
	err        error
	fetched    time.Time // when the fetch began: the age of what it returned
	refreshing bool      // a background refresh of this entry is in flight
}

// refreshTimeout bounds a background refresh.
const refreshTimeout = 5 * time.Second

func newStatusCache(ttl time.Duration, now func() time.Time, fetch func(context.Context, order.ID) (workflows.State, error)) *statusCache {
	return &statusCache{ttl: ttl, now: now, fetch: fetch, entries: map[order.ID]*statusEntry{}}
}

func (c *statusCache) get(ctx context.Context, id order.ID) (workflows.State, error) {
	c.mu.Lock()
	e := c.entries[id]
	now := c.now()
	switch {
	case e != nil && !isDone(e.done):
		// A fetch is in flight: share it.
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.state, e.err
		case <-ctx.Done():
			return workflows.State{}, ctx.Err()
		}
	case e != nil && e.err == nil && now.Sub(e.fetched) < c.ttl:
		if now.Sub(e.fetched) >= c.ttl*9/20 && !e.refreshing {
			e.refreshing = true
			go c.refresh(id, e)
		}
		c.mu.Unlock()
		return e.state, nil
	}
	prev := e
	e = &statusEntry{done: make(chan struct{}), fetched: now}
	c.entries[id] = e
	c.sweepLocked(now)
	c.mu.Unlock()
	st, err := c.fetch(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.state, e.err = st, err
	close(e.done)
	if err == nil && !settled(st) && c.entries[id] == e {
		delete(c.entries, id)
		return st, nil
	}
	if err != nil && c.entries[id] == e {
		delete(c.entries, id) // errors are not cached
		// While Temporal cannot answer, the last state it gave is a
		// better answer than none: stale-if-error.
		if prev != nil && prev.err == nil && !errors.Is(err, errWorkflowNotFound) {
			c.entries[id] = prev
			return prev.state, nil
		}
	}
	return st, err
}

// settled tells a state worth keeping: one in which the workflow has seen
// the payment that sent the poll here. Before that (the payment is being
// relayed) the next poll asks again, so the deployment shows the moment the
// workflow has it, not up to a ttl later.
func settled(st workflows.State) bool { return st.Deployment != nil }

// refresh fetches the order's state again while old still serves polls.
func (c *statusCache) refresh(id order.ID, old *statusEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	started := c.now()
	st, err := c.fetch(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	old.refreshing = false
	if err != nil || c.entries[id] != old {
		return // old serves until its ttl; then a poll fetches again
	}
	if !settled(st) {
		delete(c.entries, id)
		return
	}
	done := make(chan struct{})
	close(done)
	c.entries[id] = &statusEntry{done: done, state: st, fetched: started}
}

func (c *statusCache) sweepLocked(now time.Time) {
	// Entries are kept for a while past their ttl, for stale-if-error.
	const keep = time.Minute
	if now.Sub(c.swept) < keep {
		return
	}
	c.swept = now
	for id, e := range c.entries {
		if isDone(e.done) && !e.refreshing && now.Sub(e.fetched) >= keep+c.ttl {
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

// fetchState reads the order's state from the memo its workflow publishes
// on every change: one describe, answered from the execution's stored state
// (no worker, no replay, also once the workflow has closed). An order whose
// workflow predates the memo is asked with a query instead.
//
// A settled state of an order that pushes to this plugin is kept in
// s.states, which answers the order's next polls (see orderStates).
func (s *Service) fetchState(ctx context.Context, id order.ID) (workflows.State, error) {
	st, seq, err := s.readMemo(ctx, id, 0)
	if err == nil && seq > 0 && settled(st) && s.states.canHold() {
		s.states.learn(id, st, seq)
	}
	return st, err
}

// readMemo reads the order's published state and its number (0 when the
// order does not push its states). A provisioned order's memo leaves its
// nodes out (workflows.State.NodesByQuery): then the workflow is asked
// for them, unless the memo is no newer than `have`, the number of the
// state already held.
func (s *Service) readMemo(ctx context.Context, id order.ID, have uint64) (workflows.State, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := s.temporal.DescribeWorkflowExecution(ctx, id.WorkflowID(), "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return workflows.State{}, 0, errWorkflowNotFound
		}
		return workflows.State{}, 0, err
	}
	fields := resp.GetWorkflowExecutionInfo().GetMemo().GetFields()
	p, ok := fields[workflows.MemoState]
	if !ok {
		st, err := s.queryState(ctx, id)
		return st, 0, err
	}
	var st workflows.State
	if err := s.dataConverter().FromPayload(p, &st); err != nil {
		return workflows.State{}, 0, fmt.Errorf("read order %s's state: %w", id, err)
	}
	var seq uint64
	if p, ok := fields[workflows.MemoStateSeq]; ok {
		if err := s.dataConverter().FromPayload(p, &seq); err != nil {
			return workflows.State{}, 0, fmt.Errorf("read order %s's state number: %w", id, err)
		}
	}
	if st.NodesByQuery {
		if seq > 0 && seq <= have {
			return workflows.State{}, seq, errNotNewer
		}
		full, err := s.queryState(ctx, id)
		return full, seq, err
	}
	return st.Served(), seq, nil
}

// errNotNewer: the memo holds nothing newer than the state already held.
var errNotNewer = errors.New("no newer state")

// recheck confirms a held state against the memo, in the background.
func (s *Service) recheck(id order.ID) {
	defer s.states.checkDone(id)
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	st, seq, err := s.readMemo(ctx, id, s.states.seq(id))
	if err == nil && seq > 0 {
		s.states.learn(id, st, seq)
	}
}

func (s *Service) dataConverter() converter.DataConverter {
	if s.cfg.DataConverter != nil {
		return s.cfg.DataConverter
	}
	return converter.GetDefaultDataConverter()
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
