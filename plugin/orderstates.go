package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// Why pushes, and why an activity: invoicestatus is polled every second by
// every open order page, and asking Temporal per poll (a describe, even
// cached for a second) puts the front end's load on the history service
// and its database. Instead each order's workflow pushes every change of
// its paid state to the plugin that created it, as an activity on that
// plugin's own task queue (OrderInput.StatusQueue). An activity is
// Temporal's own delivery: durable while the plugin is away (the task waits
// on the queue and is retried), visible in the order's history, and served
// by an ordinary worker in the plugin, with no listener, port or
// credentials of ours. Pushes are numbered; the plugin keeps the newest.
//
// The plugin answers paid orders from orderStates. What it does not hold
// (after a restart, or for orders that do not push) it reads once from the
// memo and keeps; any change after that read is pushed to it, because its
// queue outlives its process. An entry is checked against the memo in the
// background every stateRecheck as a guard against a push lost beyond its
// retries; entries nobody polled for stateIdle are dropped.

// StatusQueueKey is where the plugin keeps, in lightningd's datastore, the
// name of its status task queue: stable across restarts, so pushes that
// wait for a restarting plugin reach the new process, and distinct per
// node, so two plugins on one namespace never take each other's.
var StatusQueueKey = []string{"lnplaylive", "status_queue"}

const (
	stateRecheck = 30 * time.Second
	stateIdle    = 10 * time.Minute
)

// statusQueueName reads the node's status queue name, making it on first use.
func statusQueueName(ctx context.Context, ds interface {
	GetString(context.Context, []string) (string, bool, error)
	PutString(context.Context, []string, string, string) error
}) (string, error) {
	for range 2 {
		name, found, err := ds.GetString(ctx, StatusQueueKey)
		if err != nil {
			return "", fmt.Errorf("read %v from the datastore: %w", StatusQueueKey, err)
		}
		if found {
			return name, nil
		}
		raw := make([]byte, 8)
		_, _ = rand.Read(raw)
		// must-create: should two starts race, the name stored first
		// wins and both read it back.
		_ = ds.PutString(ctx, StatusQueueKey, "lnplaylive-status-"+hex.EncodeToString(raw), cln.ModeMustCreate)
	}
	return "", fmt.Errorf("could not store %v in the datastore", StatusQueueKey)
}

type knownState struct {
	state    workflows.State
	seq      uint64
	checked  time.Time // last push or memo read that confirmed it
	polled   time.Time
	checking bool
}

// orderStates is what the plugin knows of paid orders' states.
type orderStates struct {
	now func() time.Time

	mu     sync.Mutex
	m      map[order.ID]*knownState
	swept  time.Time
	active bool // the status worker runs: pushes reach this process
}

func newOrderStates(now func() time.Time) *orderStates {
	return &orderStates{now: now, m: map[order.ID]*knownState{}}
}

// PushStatus is the activity the order workflows call.
func (o *orderStates) PushStatus(_ context.Context, p workflows.PushedState) error {
	o.learn(p.OrderID, p.State.Served(), p.Seq)
	return nil
}

// learn keeps st if it is newer than what is held.
func (o *orderStates) learn(id order.ID, st workflows.State, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	k := o.m[id]
	if k == nil {
		k = &knownState{polled: now}
		o.m[id] = k
		o.sweepLocked(now)
	} else if seq < k.seq {
		return
	}
	k.state, k.seq, k.checked = st, seq, now
}

// get returns a held state; recheck tells the caller to confirm it against
// the memo in the background (one caller at a time).
func (o *orderStates) get(id order.ID) (st workflows.State, ok, recheck bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.m[id]
	if k == nil {
		return workflows.State{}, false, false
	}
	now := o.now()
	k.polled = now
	if now.Sub(k.checked) >= stateRecheck && !k.checking {
		k.checking, recheck = true, true
	}
	return k.state, true, recheck
}

// holds tells whether a state is held for id (without counting it as a
// poll, as get does).
func (o *orderStates) holds(id order.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.m[id] != nil
}

// nodeAt finds the provisioned, unexpired order with a node whose
// Lightning port is host:port.
func (o *orderStates) nodeAt(host string, port int, now time.Time) (order.ProxyTargetReply, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, k := range o.m {
		d := k.state.Deployment
		if d == nil || d.Status != order.Provisioned || overdue(d, now) {
			continue
		}
		for _, n := range d.Nodes {
			if n.P2PPort == port && n.Host == host {
				return order.ProxyTargetReply{InvoiceID: id, Node: n.Index, Until: d.VMExpirationDate}, true
			}
		}
	}
	return order.ProxyTargetReply{}, false
}

// seq is the number of the state held for id (0: none).
func (o *orderStates) seq(id order.ID) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k := o.m[id]; k != nil {
		return k.seq
	}
	return 0
}

func (o *orderStates) checkDone(id order.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k := o.m[id]; k != nil {
		k.checking = false
	}
}

// canHold tells whether memo reads may be kept: only while pushes reach
// this process, or a change after the read would go unseen.
func (o *orderStates) canHold() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.active
}

func (o *orderStates) setActive(v bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.active = v
	if !v {
		o.m = map[order.ID]*knownState{}
	}
}

func (o *orderStates) sweepLocked(now time.Time) {
	if now.Sub(o.swept) < time.Minute {
		return
	}
	o.swept = now
	for id, k := range o.m {
		if now.Sub(k.polled) >= stateIdle && now.Sub(k.checked) >= stateIdle && !k.checking {
			delete(o.m, id)
		}
	}
}

// len is the number of held states (for tests and metrics).
func (o *orderStates) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m)
}

// runStatusWorker serves the plugin's status queue until ctx ends. Temporal
// being down at start is retried: the plugin answers from the memo
// meanwhile.
func runStatusWorker(ctx context.Context, tc client.Client, queue string, states *orderStates, log *slog.Logger) {
	w := worker.New(tc, queue, worker.Options{
		// Pushes are tiny map writes.
		// (No workflows are registered, so none are polled.)
		MaxConcurrentActivityExecutionSize: 100,
		MaxConcurrentActivityTaskPollers:   2,
	})
	w.RegisterActivityWithOptions(states.PushStatus, activity.RegisterOptions{Name: workflows.ActivityPushStatus})
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		err := w.Start()
		if err == nil {
			break
		}
		log.Warn("status queue worker not started; invoicestatus reads Temporal until it is", "queue", queue, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	states.setActive(true)
	log.Info("status pushes served", "queue", queue)
	<-ctx.Done()
	states.setActive(false)
	w.Stop()
}
