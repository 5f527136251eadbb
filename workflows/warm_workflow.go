package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/order"
)

// The warm pool (issue 15): per size, K playgrounds built ahead of any
// order (channels included, no runes), so a paid order gets one in
// seconds. The capacity workflow keeps the pool: it decides when to build
// one (a WarmPlaygroundWorkflow, holding a capacity lease under the warm
// playground's id), and hands ready ones to paid orders (UpdateClaim), one
// at a time, so a claim is exclusive. The WarmPlaygroundWorkflow owns the
// machine from creation to deletion: it is what the sweeper finds running
// for the machine's order label, so a machine no warm workflow holds is an
// orphan and is deleted.

// WarmConfig is what a worker keeps warm (LNPLAYLIVE_WARM…).
type WarmConfig struct {
	// Targets is K by node count: how many ready playgrounds to keep.
	Targets map[int]int `json:"targets,omitempty"`
	// MaxMachines caps the warm machines (building or ready); 0: the sum
	// of the targets.
	MaxMachines int `json:"max_machines,omitempty"`
	// IdleLifetime retires a warm playground nobody claimed (a fresh one
	// replaces it); 0: DefaultWarmIdle.
	IdleLifetime time.Duration `json:"idle_lifetime,omitempty"`
}

// DefaultWarmIdle is the idle lifetime of a warm playground by default.
const DefaultWarmIdle = 24 * time.Hour

func (w WarmConfig) maxMachines() int {
	if w.MaxMachines > 0 {
		return w.MaxMachines
	}
	n := 0
	for _, k := range w.Targets {
		n += k
	}
	return n
}

func (w WarmConfig) idle() time.Duration {
	if w.IdleLifetime > 0 {
		return w.IdleLifetime
	}
	return DefaultWarmIdle
}

// Warm playground states, as the pool sees them.
const (
	WarmBuilding = "building"
	WarmReady    = "ready"
	WarmClaimed  = "claimed"
	// WarmRetiring: told to retire (K lowered, or evicted for a paid
	// order); never claimed, gone once its machine is released.
	WarmRetiring = "retiring"
)

// WarmPlayground is one playground of the pool.
type WarmPlayground struct {
	ID        string       `json:"id"` // "warm-<uuid>": the machine's order label
	NodeCount int          `json:"node_count"`
	State     string       `json:"state"`
	ClaimedBy string       `json:"claimed_by,omitempty"`
	StartedAt time.Time    `json:"started_at"`
	ReadyAt   time.Time    `json:"ready_at,omitzero"`
	Host      infra.Host   `json:"host,omitzero"`
	Nodes     []order.Node `json:"nodes,omitempty"` // ids and ports; never a rune
}

// WarmStats is what the pool has cost and served, carried across runs.
type WarmStats struct {
	Built   int `json:"built"`   // became ready
	Claimed int `json:"claimed"` // handed to an order
	Retired int `json:"retired"` // ended unclaimed (idle, evicted, failed)
	// WarmSeconds is machine time spent warm: from a build's start to its
	// claim or its end. Per served order: WarmSeconds / Claimed.
	WarmSeconds float64 `json:"warm_seconds"`
	// RefillSeconds sums start-to-ready of the builds that became ready.
	RefillSeconds float64 `json:"refill_seconds"`
}

// WarmWorkflowID names a warm playground's workflow: the same form as an
// order's, so the sweeper's lookup by machine label finds it.
func WarmWorkflowID(id string) string { return order.LabelPrefix + id }

// Names of the warm pool's messages.
const (
	// UpdateClaim (on the capacity workflow) carries a ClaimRequest and
	// returns a WarmClaim; idempotent per order.
	UpdateClaim = "claim"
	// SignalWarmReady (to the capacity workflow) carries a WarmPlayground
	// built and ready; SignalWarmGone carries the id of one that ended (its
	// machine released).
	SignalWarmReady = "warm-ready"
	SignalWarmGone  = "warm-gone"
	// SignalWarmClaimed (to a WarmPlaygroundWorkflow) carries the claiming
	// order's id; SignalWarmRetire (no payload) ends an unclaimed one;
	// SignalWarmRelease (no payload) tells a claimed one its order gave
	// the machine back.
	SignalWarmClaimed = "claimed"
	SignalWarmRetire  = "retire"
	SignalWarmRelease = "release"
	// ActivityClaimWarm sends UpdateClaim for an order's workflow.
	ActivityClaimWarm = "ClaimWarm"
	// ActivityStartWarm starts a WarmPlaygroundWorkflow (WarmInput) for
	// the pool; starting one that exists succeeds.
	ActivityStartWarm = "StartWarm"
	// ActivityOrderLive tells a claimed warm playground whether its order
	// still runs (activities.OrderLookup).
	ActivityOrderLive = "OrderLive"
)

// ClaimRequest asks the pool for a ready playground.
type ClaimRequest struct {
	OrderID   string `json:"order_id"`
	NodeCount int    `json:"node_count"`
}

// WarmClaim answers a ClaimRequest; Claimed false: build cold.
type WarmClaim struct {
	Claimed bool         `json:"claimed"`
	ID      string       `json:"id,omitempty"`
	Host    infra.Host   `json:"host,omitzero"`
	Nodes   []order.Node `json:"nodes,omitempty"`
}

// WarmInput starts a WarmPlaygroundWorkflow.
type WarmInput struct {
	ID        string `json:"id"`
	NodeCount int    `json:"node_count"`
	// Pool is the capacity workflow's id, told when it is ready or gone.
	Pool         string        `json:"pool"`
	IdleLifetime time.Duration `json:"idle_lifetime"`
}

// orderLiveEvery is how often a claimed warm playground checks that its
// order still runs: an order terminated by hand cannot send SignalWarmRelease.
const orderLiveEvery = time.Hour

// WarmPlaygroundWorkflow builds one warm playground and holds its machine
// until it is retired unclaimed, or until the order that claimed it gives
// it back (or is found gone). Its machine is deleted however it ends.
func WarmPlaygroundWorkflow(ctx workflow.Context, in WarmInput) error {
	var a *activities.Activities
	logger := workflow.GetLogger(ctx)
	retire := workflow.GetSignalChannel(ctx, SignalWarmRetire)
	claimed := workflow.GetSignalChannel(ctx, SignalWarmClaimed)
	release := workflow.GetSignalChannel(ctx, SignalWarmRelease)
	defer func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, releaseOptions),
			a.ReleaseHost, activities.ReleaseInput{OrderID: in.ID}).Get(dctx, nil); err != nil {
			logger.Error("release warm machine failed; the sweeper will", "Error", err)
		}
		// The pool frees its lease only once the machine is gone.
		if err := workflow.SignalExternalWorkflow(dctx, in.Pool, "", SignalWarmGone, in.ID).Get(dctx, nil); err != nil {
			logger.Error("tell the pool a warm playground is gone", "Error", err)
		}
	}()

	var host infra.Host
	spec := infra.Spec{OrderID: in.ID, NodeCount: in.NodeCount, Warm: true}
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, acquireOptions),
		a.AcquireHost, activities.AcquireInput{Spec: spec}).Get(ctx, &host); err != nil {
		logger.Error("warm playground: acquire host failed", "Error", err)
		return nil
	}
	var boot activities.BootstrapResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, bootstrapOptions),
		a.Bootstrap, activities.BootstrapInput{OrderID: in.ID, NodeCount: in.NodeCount, Host: host, Warm: true}).Get(ctx, &boot); err != nil {
		logger.Error("warm playground: bootstrap failed", "Error", err)
		return nil
	}
	ready := WarmPlayground{ID: in.ID, NodeCount: in.NodeCount, State: WarmReady, Host: host, Nodes: boot.Nodes}
	if err := workflow.SignalExternalWorkflow(ctx, in.Pool, "", SignalWarmReady, ready).Get(ctx, nil); err != nil {
		logger.Error("warm playground: the pool is gone", "Error", err)
		return nil
	}

	// Ready: wait for a claim, or retire when idle too long.
	var orderID string
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(claimed, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &orderID) })
	sel.AddReceive(retire, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	sel.AddFuture(workflow.NewTimer(timerCtx, in.IdleLifetime), func(workflow.Future) {})
	sel.Select(ctx)
	cancelTimer()
	if orderID == "" {
		// A claim that raced the retirement is still honoured: the pool
		// handed the playground out, so the order owns it now.
		if !claimed.ReceiveAsync(&orderID) {
			logger.Info("warm playground retired unclaimed")
			return nil
		}
	}
	logger.Info("warm playground claimed", "Order", orderID)
	// Claimed: the order releases the machine at its end and tells us.
	// An order terminated by hand never does: checked every hour.
	for {
		sel := workflow.NewSelector(ctx)
		done := false
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); done = true })
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, orderLiveEvery), func(workflow.Future) {})
		sel.Select(ctx)
		cancelTimer()
		if done {
			return nil
		}
		var live bool
		opts := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Minute}}
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityOrderLive, orderID).Get(ctx, &live); err != nil {
			continue
		}
		if !live {
			logger.Warn("the order that claimed this warm playground is gone; releasing it", "Order", orderID)
			return nil
		}
	}
}

// ---- the pool, kept by the capacity workflow ----

// warmPool is the capacity workflow's warm part.
type warmPool struct {
	all   []WarmPlayground // oldest first
	stats WarmStats
}

func (c *capacity) warmIndex(id string) int {
	for i, w := range c.warm.all {
		if w.ID == id {
			return i
		}
	}
	return -1
}

// claim hands the oldest ready playground of the order's size to it, at
// most one per order: an order that asks again gets the same one.
func (c *capacity) claim(ctx workflow.Context, req ClaimRequest) (WarmClaim, error) {
	for _, w := range c.warm.all {
		if w.State == WarmClaimed && w.ClaimedBy == req.OrderID {
			return WarmClaim{Claimed: true, ID: w.ID, Host: w.Host, Nodes: w.Nodes}, nil
		}
	}
	for i := range c.warm.all {
		w := &c.warm.all[i]
		if w.State != WarmReady || w.NodeCount != req.NodeCount {
			continue
		}
		c.handOver(ctx, w, req.OrderID)
		return WarmClaim{Claimed: true, ID: w.ID, Host: w.Host, Nodes: w.Nodes}, nil
	}
	return WarmClaim{}, nil
}

// handOver marks w claimed by orderID and tells its workflow.
func (c *capacity) handOver(ctx workflow.Context, w *WarmPlayground, orderID string) {
	now := workflow.Now(ctx)
	w.State, w.ClaimedBy = WarmClaimed, orderID
	c.warm.stats.Claimed++
	c.warm.stats.WarmSeconds += now.Sub(w.StartedAt).Seconds()
	c.changed = true
	workflow.GetLogger(ctx).Info("warm playground claimed", "Warm", w.ID, "Order", orderID)
	c.signalWarm(ctx, w.ID, SignalWarmClaimed, orderID)
}

func (c *capacity) signalWarm(ctx workflow.Context, id, name string, arg any) {
	sent := workflow.SignalExternalWorkflow(ctx, WarmWorkflowID(id), "", name, arg)
	c.sending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { c.sending-- }()
		if err := sent.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("signal a warm playground", "Warm", id, "Signal", name, "Error", err)
			var gone *temporal.UnknownExternalWorkflowExecutionError
			if errors.As(err, &gone) {
				c.warmGone(ctx, id) // terminated by hand: its machine is the sweeper's
			}
		}
	})
}

// warmReady records a playground its workflow finished building.
func (c *capacity) warmReady(ctx workflow.Context, ready WarmPlayground) {
	i := c.warmIndex(ready.ID)
	if i < 0 || c.warm.all[i].State != WarmBuilding {
		return
	}
	w := &c.warm.all[i]
	w.State, w.ReadyAt, w.Host, w.Nodes = WarmReady, workflow.Now(ctx), ready.Host, ready.Nodes
	c.warm.stats.Built++
	c.warm.stats.RefillSeconds += w.ReadyAt.Sub(w.StartedAt).Seconds()
	c.changed = true
	workflow.GetLogger(ctx).Info("warm playground ready", "Warm", w.ID, "Nodes", w.NodeCount, "Took", w.ReadyAt.Sub(w.StartedAt))
}

// warmGone: a playground's machine is released; its lease and its place
// in the pool go (release does both).
func (c *capacity) warmGone(ctx workflow.Context, id string) { _, _ = c.release(ctx, id) }

// forgetWarm drops a playground from the pool, counting what it cost if
// it was never claimed.
func (c *capacity) forgetWarm(ctx workflow.Context, id string) {
	i := c.warmIndex(id)
	if i < 0 {
		return
	}
	w := c.warm.all[i]
	if w.State != WarmClaimed {
		c.warm.stats.Retired++
		c.warm.stats.WarmSeconds += workflow.Now(ctx).Sub(w.StartedAt).Seconds()
	}
	c.warm.all = append(c.warm.all[:i:i], c.warm.all[i+1:]...)
	c.changed = true
}

// refill starts builds while sizes are below their target, the warm cap
// allows, no paid order waits (paid orders first) and capacity is free.
// When a paid order waits and nothing else frees, an unclaimed ready
// playground is retired to make room (evict).
func (c *capacity) refill(ctx workflow.Context) {
	cfg := c.cfg.Warm
	c.retireExtra(ctx)
	if len(c.queue) > 0 {
		c.evict(ctx)
		return
	}
	for _, size := range slices.Sorted(maps.Keys(cfg.Targets)) {
		for c.warmCount(size) < cfg.Targets[size] && c.warmCount(0) < cfg.maxMachines() {
			var id string
			if err := workflow.SideEffect(ctx, func(workflow.Context) any { return order.NewWarmID() }).Get(&id); err != nil {
				return
			}
			if _, ok := c.grant(ctx, AdmitRequest{OrderID: id, NodeCount: size}); !ok {
				return // no capacity free: try again when some is
			}
			c.warm.all = append(c.warm.all, WarmPlayground{ID: id, NodeCount: size, State: WarmBuilding, StartedAt: workflow.Now(ctx)})
			c.startWarm(ctx, WarmInput{ID: id, NodeCount: size, Pool: workflow.GetInfo(ctx).WorkflowExecution.ID, IdleLifetime: cfg.idle()})
		}
	}
}

// warmCount counts the playgrounds kept for orders (building or ready) of
// a size; size 0 counts all sizes.
func (c *capacity) warmCount(size int) int {
	n := 0
	for _, w := range c.warm.all {
		if (w.State == WarmBuilding || w.State == WarmReady) && (size == 0 || w.NodeCount == size) {
			n++
		}
	}
	return n
}

// retireExtra retires the playgrounds beyond what the configuration now
// wants (an operator lowered K, or dropped a size), newest first: the
// machines go back instead of idling until their lifetime ends.
func (c *capacity) retireExtra(ctx workflow.Context) {
	for i := len(c.warm.all) - 1; i >= 0; i-- {
		w := &c.warm.all[i]
		if (w.State == WarmBuilding || w.State == WarmReady) && c.warmCount(w.NodeCount) > c.cfg.Warm.Targets[w.NodeCount] {
			c.retire(ctx, w, "fewer wanted")
		}
	}
}

func (c *capacity) retire(ctx workflow.Context, w *WarmPlayground, why string) {
	w.State = WarmRetiring
	workflow.GetLogger(ctx).Info("warm playground retired", "Warm", w.ID, "Why", why)
	c.signalWarm(ctx, w.ID, SignalWarmRetire, nil)
}

// startWarmOptions: starting a workflow is one call, idempotent by id
// (the worker's StartWarm treats "already started" as done), retried while
// Temporal is away.
var startWarmOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 30 * time.Second},
}

// startWarm starts the playground's own workflow, through an activity
// rather than as a child: the pool continues as new, and its playgrounds
// are not its children to wait for or to lose.
func (c *capacity) startWarm(ctx workflow.Context, in WarmInput) {
	started := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, startWarmOptions), ActivityStartWarm, in)
	c.sending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { c.sending-- }()
		if err := started.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("start a warm playground", "Warm", in.ID, "Error", err)
			c.warmGone(ctx, in.ID)
		}
	})
}

// evict retires one ready, unclaimed playground that the queue's head
// cannot use, so its capacity goes to the paid order.
func (c *capacity) evict(ctx workflow.Context) {
	head := c.queue[0]
	for i := range c.warm.all {
		w := &c.warm.all[i]
		if w.State == WarmReady && w.NodeCount != head.NodeCount {
			c.retire(ctx, w, "evicted for paid order "+head.OrderID)
			return
		}
	}
}

// serveWarm gives the queue's head a ready playground of its size, if
// one is (a paid order that queued before it was ready).
func (c *capacity) serveWarm(ctx workflow.Context, head AdmitRequest) (WarmClaim, bool) {
	cl, _ := c.claim(ctx, ClaimRequest{OrderID: head.OrderID, NodeCount: head.NodeCount})
	return cl, cl.Claimed
}

func validateWarm(w WarmConfig) error {
	for size, k := range w.Targets {
		if size < 1 || k < 0 {
			return fmt.Errorf("warm target %d:%d: want a node count and a count ≥ 0", size, k)
		}
	}
	if w.MaxMachines < 0 || w.IdleLifetime < 0 {
		return errors.New("warm cap and idle lifetime must not be negative")
	}
	return nil
}
