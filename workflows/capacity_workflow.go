package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/infra"
)

// The capacity workflow is the one place that decides whether a new order
// fits: one long-running workflow per task queue (CapacityWorkflowID). The
// worker tells it which provider it deploys with; for a host pool it also
// holds every slot lease. Leases live in Temporal, not in a worker's memory,
// so a worker that dies holding one loses nothing: the order that leased a
// slot keeps it until its workflow releases it, whichever worker runs next.
// Every grant and release is a workflow update, processed one at a time in
// the workflow, which is what makes a lease exclusive.
//
// Admission (issue 15): capacity is taken when an order is paid, never by
// an unpaid invoice. A paid order asks to be admitted (UpdateAdmit); it
// gets a lease at once when one is free (a slot on a pool, one of
// MaxMachines on Hetzner), or a place in a first-in first-out queue. The
// queue is served as leases are released, and each queued order hears of
// its admission, and of its place moving up, by SignalAdmission. Since
// admission is decided here, one update at a time, paid orders are never
// more than the provider can serve, whatever the number of invoices.

// Provider kinds the worker can register.
const (
	ProviderNone    = "none"
	ProviderHetzner = "hetzner"
	ProviderHosts   = "hosts"
)

// Names of the capacity workflow's handlers.
const (
	// UpdateConfigure carries a CapacityConfig from a starting worker.
	UpdateConfigure = "configure"
	// UpdateReserve carries a LeaseRequest with Until set: createorder holds
	// a slot for an unpaid invoice, so a paid order always finds one.
	UpdateReserve = "reserve"
	// UpdateAcquire carries a LeaseRequest: a paid order takes its slot
	// (the one it reserved, or any free one) until it releases it.
	UpdateAcquire = "acquire"
	// UpdateAdmit carries an AdmitRequest from a paid order and returns its
	// Admission: a lease, or its place in the queue.
	UpdateAdmit = "admit"
	// UpdateRelease carries an order id: it frees the order's lease, or
	// takes it out of the queue; releasing nothing succeeds.
	UpdateRelease = "release"
	// SignalAdmission, sent to a queued order's workflow, carries its new
	// Admission: admitted, or a new place in the queue.
	SignalAdmission = "admission"
	// QueryCapacity returns the CapacityState.
	QueryCapacity = "capacity"
	// MemoProvider is the memo key holding the registered provider kind, so
	// the plugin can read it with a describe, even while no worker runs.
	MemoProvider = "provider"
	// MemoAdmission is the memo key holding the AdmissionMemo, which
	// createorder reads with the provider, in the same describe.
	MemoAdmission = "admission"
)

// Error types of refused leases, for callers that tell them apart.
const (
	ErrTypeNoCapacity = "NoCapacity"
	ErrTypeNotPool    = "NotPool"
)

// CapacityWorkflowID names the capacity workflow of a task queue.
func CapacityWorkflowID(taskQueue string) string { return taskQueue + "-capacity" }

// Slot is one place in a host pool: node i of the order leasing it serves
// on Host.PortBase+i, for at most MaxNodes nodes.
type Slot struct {
	ID       string     `json:"id"` // "<host>/<slot>"
	MaxNodes int        `json:"max_nodes"`
	Host     infra.Host `json:"host"`
}

// CapacityConfig is what a worker deploys with.
type CapacityConfig struct {
	Provider string `json:"provider"`
	Slots    []Slot `json:"slots,omitempty"`
	// MaxMachines bounds the playgrounds live at once on a cloud provider
	// (Hetzner): what the operator's account and budget allow, warm ones
	// included. 0: no bound.
	MaxMachines int `json:"max_machines,omitempty"`
	// Warm is the warm pool to keep (none by default).
	Warm WarmConfig `json:"warm,omitzero"`
	// Unavailable, when set, is why the worker takes no new orders: its
	// start-up check of the outside world failed (a type Hetzner does not
	// sell, a missing image or SSH key). Orders already paid go on.
	Unavailable string `json:"unavailable,omitempty"`
}

// AdmitRequest is a paid order asking for capacity.
type AdmitRequest struct {
	OrderID    string `json:"order_id"`
	WorkflowID string `json:"workflow_id"` // where SignalAdmission goes
	NodeCount  int    `json:"node_count"`
	// EndsAt is when the order's paid time ends: it dates the estimates
	// of the orders queued behind it.
	EndsAt time.Time `json:"ends_at"`
	// QueuedAt is set by the capacity workflow.
	QueuedAt time.Time `json:"queued_at,omitzero"`
}

// Admission answers an AdmitRequest.
type Admission struct {
	Admitted bool      `json:"admitted"`
	Lease    SlotLease `json:"lease,omitzero"`
	// Warm: admitted to a warm playground (it was ready when the order's
	// turn came); the order finishes it instead of building one.
	Warm *WarmClaim `json:"warm,omitempty"`
	// Position in the queue while not admitted: 1 is next.
	Position int `json:"position,omitempty"`
	// EstimatedStart: when the order is expected to be admitted, from the
	// paid ends of the orders ahead of it (zero: no estimate yet).
	EstimatedStart time.Time `json:"estimated_start,omitzero"`
}

// AdmissionMemo is what the capacity workflow publishes for createorder.
type AdmissionMemo struct {
	Queued int `json:"queued"`
	// MaxNodes is the biggest order the provider can ever serve (a pool's
	// biggest slot); 0: no bound.
	MaxNodes int `json:"max_nodes,omitempty"`
	// Unavailable is CapacityConfig.Unavailable: why no order is sold.
	Unavailable string `json:"unavailable,omitempty"`
}

// LeaseRequest asks for a slot for an order.
type LeaseRequest struct {
	OrderID   string `json:"order_id"`
	NodeCount int    `json:"node_count"`
	// Until ends a reservation made for an unpaid invoice; zero asks for a
	// lease held until released.
	Until time.Time `json:"until,omitzero"`
}

// SlotLease is one order's hold on one slot.
type SlotLease struct {
	OrderID   string    `json:"order_id"`
	Slot      Slot      `json:"slot"` // a copy: the slot may leave the config while leased
	NodeCount int       `json:"node_count"`
	LeasedAt  time.Time `json:"leased_at"`
	// Until is set while the lease is only a reservation for an unpaid
	// invoice (before admission existed); it lapses then. A paid order's
	// lease has no end.
	Until time.Time `json:"until,omitzero"`
	// EndsAt is the paid end of the order holding the lease, when known:
	// when it is expected back, for the estimates of queued orders.
	EndsAt time.Time `json:"ends_at,omitzero"`
}

// Held tells a paid order's lease from a reservation.
func (l SlotLease) Held() bool { return l.Until.IsZero() }

// CapacityState is the capacity workflow's whole state: what QueryCapacity
// returns, and what it carries across continue-as-new.
type CapacityState struct {
	Config CapacityConfig `json:"config"`
	Leases []SlotLease    `json:"leases,omitempty"` // sorted by slot id
	Queue  []AdmitRequest `json:"queue,omitempty"`  // first come first
	// Warm is the warm pool, oldest first; WarmStats what it cost.
	Warm      []WarmPlayground `json:"warm,omitempty"`
	WarmStats WarmStats        `json:"warm_stats,omitzero"`
}

// Free counts the configured slots that are not leased and fit nodeCount.
func (s CapacityState) Free(nodeCount int) int {
	leased := map[string]bool{}
	for _, l := range s.Leases {
		leased[l.Slot.ID] = true
	}
	n := 0
	for _, sl := range s.Config.Slots {
		if !leased[sl.ID] && sl.MaxNodes >= nodeCount {
			n++
		}
	}
	return n
}

// CapacityWorkflow keeps the registered provider and the pool's leases.
func CapacityWorkflow(ctx workflow.Context, st CapacityState) error {
	c := &capacity{leases: map[string]SlotLease{}, cfg: st.Config, queue: st.Queue, told: map[string]Admission{},
		warm: warmPool{all: st.Warm, stats: st.WarmStats}}
	for _, l := range st.Leases {
		c.leases[l.OrderID] = l
	}
	// Admission and the warm pool came after capacity workflows were
	// running: a run from before replays as it ran, then continues as new.
	c.legacy = workflow.GetVersion(ctx, "admission", workflow.DefaultVersion, 1) == workflow.DefaultVersion
	if err := c.register(ctx); err != nil {
		return err
	}
	if c.legacy {
		return c.runLegacy(ctx)
	}
	for {
		// Work first, then wait, and the flag is cleared before the work:
		// a change made before the first wait (the update that came with
		// the workflow's start) or by the work itself is never lost.
		c.changed = false
		c.lapse(ctx)
		c.serve(ctx) // also tells a run continued as new its queue again
		c.refill(ctx)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Updates in flight finish first, and the signals sent to
			// queued orders are delivered: a lease granted is never lost
			// between two runs.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			c.flushSignals(ctx)
			c.drainWarmSignals(ctx)
			return workflow.NewContinueAsNewError(ctx, CapacityWorkflow, c.state())
		}
		if c.changed {
			continue
		}
		if err := c.wait(ctx); err != nil {
			return err
		}
	}
}

// wait blocks until a handler changed something, the next reservation
// lapses, or Temporal suggests continuing as new.
func (c *capacity) wait(ctx workflow.Context) error {
	wake := func() bool { return c.changed || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
	next := c.nextLapse()
	if next.IsZero() {
		return workflow.Await(ctx, wake)
	}
	if wait := next.Sub(workflow.Now(ctx)); wait > 0 {
		_, err := workflow.AwaitWithTimeout(ctx, wait, wake)
		return err
	}
	return nil
}

// runLegacy is the loop of runs from before admission, exactly as it was
// (wait, then drop lapsed reservations), until the run meets its first new
// event: then it continues as new, and the new run admits.
func (c *capacity) runLegacy(ctx workflow.Context) error {
	for {
		c.changed = false
		if err := c.wait(ctx); err != nil {
			return err
		}
		c.lapse(ctx)
		if !workflow.IsReplaying(ctx) || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, CapacityWorkflow, c.state())
		}
	}
}

type capacity struct {
	// legacy: a run from before admission (see runLegacy).
	legacy  bool
	cfg     CapacityConfig
	leases  map[string]SlotLease // by order id
	queue   []AdmitRequest
	changed bool
	// told is the last Admission each queued order was sent, so a place
	// that did not move is not sent again; sending counts the signals in
	// flight.
	told    map[string]Admission
	sending int
	memo    AdmissionMemo
	memoSet bool
	warm    warmPool
	// warmReadyCh, warmGoneCh: the warm playgrounds' signals.
	warmReadyCh, warmGoneCh workflow.ReceiveChannel
}

func (c *capacity) state() CapacityState {
	st := CapacityState{Config: c.cfg, Queue: c.queue, Warm: c.warm.all, WarmStats: c.warm.stats}
	for _, l := range c.leases {
		st.Leases = append(st.Leases, l)
	}
	// By slot, then order (a cloud's leases have no slot): the order
	// must not depend on the map's.
	sort.Slice(st.Leases, func(i, j int) bool {
		a, b := st.Leases[i], st.Leases[j]
		return a.Slot.ID < b.Slot.ID || a.Slot.ID == b.Slot.ID && a.OrderID < b.OrderID
	})
	return st
}

func (c *capacity) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryCapacity, func() (CapacityState, error) { return c.state(), nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateConfigure, c.configure,
		workflow.UpdateHandlerOptions{Validator: validateConfig}); err != nil {
		return err
	}
	// The validators refuse without a trace in history (a full pool costs
	// nothing); the handlers check again, because two requests validated
	// together may race for the last slot.
	lease := func(reserve bool) func(workflow.Context, LeaseRequest) (SlotLease, error) {
		return func(ctx workflow.Context, req LeaseRequest) (SlotLease, error) { return c.lease(ctx, req, reserve) }
	}
	validate := func(reserve bool) func(workflow.Context, LeaseRequest) error {
		return func(ctx workflow.Context, req LeaseRequest) error {
			_, err := c.pick(req, reserve)
			return err
		}
	}
	for _, h := range []struct {
		name    string
		reserve bool
	}{{UpdateReserve, true}, {UpdateAcquire, false}} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, lease(h.reserve),
			workflow.UpdateHandlerOptions{Validator: validate(h.reserve)}); err != nil {
			return err
		}
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAdmit, c.admit,
		workflow.UpdateHandlerOptions{Validator: c.validateAdmit}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateClaim, c.claim); err != nil {
		return err
	}
	c.warmReadyCh = workflow.GetSignalChannel(ctx, SignalWarmReady)
	c.warmGoneCh = workflow.GetSignalChannel(ctx, SignalWarmGone)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var w WarmPlayground
			c.warmReadyCh.Receive(ctx, &w)
			c.warmReady(ctx, w)
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var id string
			c.warmGoneCh.Receive(ctx, &id)
			c.warmGone(ctx, id)
		}
	})
	return workflow.SetUpdateHandler(ctx, UpdateRelease, c.release)
}

func validateConfig(_ workflow.Context, cfg CapacityConfig) error {
	switch cfg.Provider {
	case ProviderNone, ProviderHetzner:
		if len(cfg.Slots) > 0 {
			return fmt.Errorf("provider %s has no slots", cfg.Provider)
		}
		if cfg.MaxMachines < 0 {
			return fmt.Errorf("max machines %d: want 0 (no bound) or more", cfg.MaxMachines)
		}
		if cfg.Provider == ProviderNone && len(cfg.Warm.Targets) > 0 {
			return errors.New("a warm pool needs a provider")
		}
	case ProviderHosts:
		seen := map[string]bool{}
		for _, s := range cfg.Slots {
			if s.ID == "" || seen[s.ID] || s.MaxNodes < 1 {
				return fmt.Errorf("slot %q: empty, repeated or without room", s.ID)
			}
			seen[s.ID] = true
		}
	default:
		return fmt.Errorf("unknown provider %q", cfg.Provider)
	}
	return validateWarm(cfg.Warm)
}

// configure replaces the configuration. Leases on slots that left it stay
// until released: their playgrounds are still running.
func (c *capacity) configure(ctx workflow.Context, cfg CapacityConfig) error {
	c.cfg = cfg
	c.changed = true
	if err := workflow.UpsertMemo(ctx, map[string]any{MemoProvider: cfg.Provider}); err != nil {
		return err
	}
	if !c.legacy {
		c.publish(ctx)
	}
	return nil
}

// pick finds the slot a request gets, without changing anything. An order
// that already holds a slot gets the same one: every caller may retry.
func (c *capacity) pick(req LeaseRequest, reserve bool) (Slot, error) {
	if c.cfg.Provider != ProviderHosts {
		return Slot{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("provider %q has no slots to lease", c.cfg.Provider), ErrTypeNotPool, nil)
	}
	if req.OrderID == "" || req.NodeCount < 1 || reserve == req.Until.IsZero() {
		return Slot{}, temporal.NewNonRetryableApplicationError("malformed lease request", "BadRequest", nil)
	}
	if l, ok := c.leases[req.OrderID]; ok {
		return l.Slot, nil
	}
	slot, ok := c.freeSlot(req.NodeCount)
	if !ok {
		return Slot{}, temporal.NewApplicationError(
			fmt.Sprintf("no free slot for %d nodes (%d slots, %d leased)", req.NodeCount, len(c.cfg.Slots), len(c.leases)),
			ErrTypeNoCapacity)
	}
	return slot, nil
}

// freeSlot is the slot a new lease for nodeCount nodes would take: the
// smallest free one that fits, so big slots stay for big orders; ties go
// to configuration order.
func (c *capacity) freeSlot(nodeCount int) (Slot, bool) {
	leased := map[string]bool{}
	for _, l := range c.leases {
		leased[l.Slot.ID] = true
	}
	best := -1
	for i, s := range c.cfg.Slots {
		if leased[s.ID] || s.MaxNodes < nodeCount {
			continue
		}
		if best < 0 || s.MaxNodes < c.cfg.Slots[best].MaxNodes {
			best = i
		}
	}
	if best < 0 {
		return Slot{}, false
	}
	return c.cfg.Slots[best], true
}

func (c *capacity) lease(ctx workflow.Context, req LeaseRequest, reserve bool) (SlotLease, error) {
	slot, err := c.pick(req, reserve)
	if err != nil {
		return SlotLease{}, err
	}
	l, ok := c.leases[req.OrderID]
	if !ok {
		l = SlotLease{OrderID: req.OrderID, Slot: slot, NodeCount: req.NodeCount, LeasedAt: workflow.Now(ctx), Until: req.Until}
	}
	switch {
	case !reserve:
		l.Until = time.Time{} // paid: held until released
	case !l.Held() && req.Until.After(l.Until):
		l.Until = req.Until
	}
	c.leases[req.OrderID] = l
	c.changed = true
	workflow.GetLogger(ctx).Info("slot leased", "Order", req.OrderID, "Slot", slot.ID, "Held", l.Held())
	return l, nil
}

// release frees the order's lease, or takes it out of the queue, and
// returns the lease it had (zero if none).
func (c *capacity) release(ctx workflow.Context, orderID string) (SlotLease, error) {
	l, ok := c.leases[orderID]
	if ok {
		delete(c.leases, orderID)
		c.changed = true
		workflow.GetLogger(ctx).Info("slot released", "Order", orderID, "Slot", l.Slot.ID)
	}
	// A warm playground's lease is released when its machine is gone
	// (its workflow ended, or the sweeper found it orphaned): it leaves
	// the pool with it.
	c.forgetWarm(ctx, orderID)
	if i := c.queued(orderID); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
		delete(c.told, orderID)
		c.changed = true
		workflow.GetLogger(ctx).Info("left the queue", "Order", orderID)
	}
	return l, nil
}

// nextLapse is the earliest end of a reservation (zero: none).
func (c *capacity) nextLapse() time.Time {
	var next time.Time
	for _, l := range c.leases {
		if !l.Held() && (next.IsZero() || l.Until.Before(next)) {
			next = l.Until
		}
	}
	return next
}

// lapse drops reservations whose invoice was never paid in time.
func (c *capacity) lapse(ctx workflow.Context) {
	now := workflow.Now(ctx)
	for id, l := range c.leases {
		if !l.Held() && !l.Until.After(now) {
			delete(c.leases, id)
			workflow.GetLogger(ctx).Info("slot reservation lapsed", "Order", id, "Slot", l.Slot.ID)
		}
	}
}
