package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/order"
)

// Activity options, chosen per call and explained here because they are the
// promises of SPEC §4 in numbers.
var (
	// Creating a VM is a POST plus a wait for its action (about a minute at
	// Hetzner). The provider finds a VM it already made for the order, so a
	// retry never makes a second one. Non-retryable errors (invalid token,
	// unknown server type) fail at once; everything else is retried for up
	// to 20 minutes before the order fails. The provider heartbeats every
	// action poll (about a second), so 30 s without one means the worker is
	// gone and the attempt is retried elsewhere.
	acquireOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Minute,
		ScheduleToCloseTimeout: 20 * time.Minute,
		HeartbeatTimeout:       30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
	// The bootstrap waits for cloud-init and pulls images: minutes, with a
	// heartbeat every 5 s, so 30 s without one means the worker is gone. It
	// is safe to run again after a partial run; five attempts (2, 4, 8, 16 s
	// apart) ride out a dropped connection or an sshd still starting, then
	// the order fails and its VM is deleted.
	bootstrapOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    15 * time.Minute,
		ScheduleToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:       30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    5,
		},
	}
	// Deleting is retried until it succeeds: a VM nobody pays for must not
	// survive an API outage. The interval caps at 30 s so a returning API is
	// used within the SPEC's 10-minute bound with room to spare.
	releaseOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
		},
	}
)

// OrderWorkflow is the life of one order, SPEC §3–4: wait for the payment or
// the invoice's expiry; on payment acquire a host, bootstrap the playground,
// serve it until vm_expiration_date, then release the host.
func OrderWorkflow(ctx workflow.Context, in OrderInput) (Result, error) {
	o := &orderRun{in: in, state: State{InvoiceStatus: order.InvoiceUnpaid, Issued: in.Issued}}
	if err := o.setup(ctx); err != nil {
		return Result{}, err
	}
	res, err := o.run(ctx)
	o.flushPush(ctx)
	return res, err
}

type orderRun struct {
	in         OrderInput
	state      State
	payment    *Payment
	expiration time.Time
	paidCh     workflow.ReceiveChannel
	searchable bool
	// publishing: the state is pushed into the workflow's memo on every
	// change (see publish); published is the last state pushed.
	publishing bool
	published  []byte
	// pushing: published states are also pushed to the plugin's
	// StatusQueue, numbered by seq (see push).
	pushing     bool
	pushDecided bool
	seq         uint64
	lastPush    workflow.Future
	// teardown: an operator ended the order now.
	teardown bool
	// admitted: the order took capacity through the capacity workflow's
	// admission, and gives it back there when it ends.
	admitted bool
	// warmID: the order runs on a warm playground it claimed; the machine
	// is that playground's, and its workflow is told when it is released.
	warmID string
	// source is how the playground came: "warm" or "cold" (progress).
	source string
	// nodesOnce: the order stores its nodes once, without their links,
	// and its memo without the nodes ("nodes-once").
	nodesOnce bool
}

// WithStatus sets the OrderStatus search attribute.
func WithStatus(s string) temporal.SearchAttributeUpdate { return AttrOrderStatus.ValueSet(s) }

// upsert keeps the search attributes current, and publishes the state. A
// failure is logged, not fatal: the order matters more than its
// findability.
func (o *orderRun) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if o.searchable {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes", "Error", err)
		}
	}
	o.publish(ctx)
}

// publish pushes the customer-visible state into the workflow's memo
// (MemoState) when it changed. The plugin reads it with one describe, which
// Temporal answers from the execution's stored state: no worker, no replay,
// about a third of a query's cost, and it still answers once the workflow
// has closed. The query handler stays for operators and older orders.
func (o *orderRun) publish(ctx workflow.Context) {
	if !o.publishing {
		return
	}
	b, err := json.Marshal(o.state)
	if err != nil || bytes.Equal(b, o.published) {
		return
	}
	if o.state.Deployment != nil {
		o.decidePush(ctx)
	}
	memo := map[string]any{MemoState: o.memoState()}
	if o.pushing {
		o.seq++
		memo[MemoStateSeq] = o.seq
	}
	if err := workflow.UpsertMemo(ctx, memo); err != nil {
		workflow.GetLogger(ctx).Warn("publish state", "Error", err)
		return
	}
	o.published = b
	o.push(ctx)
}

// memoState is the state as the memo holds it. Since "nodes-once", without
// the nodes: Temporal warns above 2 KB of memo, and a 64-node order's nodes
// are far more; readers of a provisioned order's memo that need them ask
// the workflow (QueryStatus), once, and are pushed every change after.
func (o *orderRun) memoState() State {
	if !o.nodesOnce || o.state.Deployment == nil || len(o.state.Deployment.Nodes) == 0 {
		return o.state
	}
	st := o.state
	d := *st.Deployment
	d.Nodes = nil
	st.Deployment, st.Links, st.NodesByQuery = &d, nil, true
	return st
}

// decidePush settles, at the first paid state, whether this order pushes
// its states: pushing came after running orders had started, so it is
// versioned, and only orders whose plugin serves a status queue ask. Asked
// at payment rather than at start, so an order that is never paid (most
// invoices) carries no marker, and its first workflow task, which
// createorder's latency depends on, stays as small as before.
func (o *orderRun) decidePush(ctx workflow.Context) {
	if o.pushDecided {
		return
	}
	o.pushDecided = true
	o.pushing = o.publishing && o.in.StatusQueue != "" &&
		workflow.GetVersion(ctx, "push-status", workflow.DefaultVersion, 1) == 1
}

// pushOptions: a push is small and idempotent (the plugin keeps the highest
// seq). It is retried while the plugin is away, for as long as an outage of
// the plugin is worth bridging; after that the plugin, restarted, reads the
// memo anyway. Only the last push is waited for (see flushPush).
var pushOptions = workflow.ActivityOptions{
	ScheduleToCloseTimeout: time.Hour,
	StartToCloseTimeout:    5 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Second,
	},
}

// push hands a paid order's published state to the plugin that created it,
// on that plugin's task queue: the plugin then answers invoicestatus from
// memory instead of asking Temporal on every poll. Unpaid states are not
// pushed: the plugin answers those from lightningd.
func (o *orderRun) push(ctx workflow.Context) {
	if !o.pushing || o.state.Deployment == nil {
		return
	}
	opts := pushOptions
	opts.TaskQueue = o.in.StatusQueue
	// Not awaited: the order's progress never waits for its plugin.
	o.lastPush = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityPushStatus,
		PushedState{OrderID: o.in.OrderID, Seq: o.seq, State: o.state})
}

// finalPushWait bounds how long a finished order waits for its last push
// (expired, failed) to reach the plugin: a workflow that completes abandons
// its pending activities, and the plugin must not keep showing a
// playground that is gone. A plugin away for longer reads the memo after
// its restart.
const finalPushWait = 30 * time.Second

// flushPush waits, bounded, for the last push before the workflow ends.
func (o *orderRun) flushPush(ctx workflow.Context) {
	if o.lastPush == nil || o.lastPush.IsReady() {
		return
	}
	ctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(o.lastPush, func(workflow.Future) {})
	sel.AddFuture(workflow.NewTimer(ctx, finalPushWait), func(workflow.Future) {})
	sel.Select(ctx)
}

func (o *orderRun) setup(ctx workflow.Context) error {
	o.paidCh = workflow.GetSignalChannel(ctx, SignalPaid)
	if o.in.Prepaid != nil {
		o.acceptPayment(ctx, *o.in.Prepaid)
	}
	return workflow.SetQueryHandler(ctx, QueryStatus, func() (State, error) { return o.state.Served(), nil })
}

func (o *orderRun) run(ctx workflow.Context) (Result, error) {
	logger := workflow.GetLogger(ctx)
	// Search attributes came with version 1, the published state (memo)
	// with version 2; histories from before keep replaying without them.
	v := workflow.GetVersion(ctx, "search-attributes", workflow.DefaultVersion, 2)
	o.searchable, o.publishing = v >= 1, v >= 2
	if o.publishing && startedWithAttributes(ctx) {
		// The starter set the initial search attributes and state
		// (StartAttributes): nothing to write, and the first workflow
		// task of a new order stays small, which is what createorder's
		// latency depends on.
		o.published, _ = json.Marshal(o.state)
	} else {
		o.upsert(ctx, WithStatus(StatusUnpaid), AttrNodeCount.ValueSet(int64(o.in.NodeCount)), AttrHours.ValueSet(int64(o.in.Hours)))
	}
	if !o.awaitPayment(ctx) {
		o.state.InvoiceStatus = order.InvoiceExpired
		o.upsert(ctx, WithStatus(StatusInvoiceExpired))
		logger.Info("invoice expired unpaid")
		if o.in.Reserved {
			o.releaseReservation(ctx)
		}
		return o.result(order.Expired), nil
	}

	o.expiration = order.VMExpiration(o.payment.PaidAt, o.in.Hours, o.in.DevHour)
	expiration := o.expiration
	o.state.InvoiceStatus = order.InvoicePaid
	o.state.Deployment = &order.Deployment{
		PluginVersion:    order.PluginVersion,
		VMExpirationDate: order.FormatTime(expiration),
		Status:           order.StartingDeployment,
		Topology:         o.in.Topology.OrDefault(),
	}
	o.upsert(ctx, WithStatus(string(order.StartingDeployment)), AttrPaidAt.ValueSet(o.payment.PaidAt), AttrExpiresAt.ValueSet(expiration))
	logger.Info("order paid", "PayIndex", o.payment.PayIndex, "VMExpiration", expiration)

	// A payment whose paid time is already over (relayed after a long
	// outage, or replayed from lightningd to rebuild a lost Temporal
	// database) gets no VM: there is nothing left to serve.
	if workflow.GetVersion(ctx, "no-vm-after-expiry", workflow.DefaultVersion, 1) == 1 && !expiration.After(workflow.Now(ctx)) {
		o.state.Deployment.Status = order.Expired
		o.upsert(ctx, WithStatus(string(order.Expired)))
		logger.Warn("payment relayed after its paid time was over; nothing deployed")
		return o.result(order.Expired), nil
	}

	// Whatever happens from here on, the host is released on a context that
	// cancellation of the workflow cannot reach.
	defer o.release(ctx)

	boot, err := o.deploy(ctx, expiration)
	if err != nil {
		if errors.Is(err, errLeftQueue) {
			o.state.Deployment.Status = order.Expired
			o.state.Deployment.Progress = nil
			return o.result(order.Expired), nil // release publishes it
		}
		if temporal.IsCanceledError(err) || ctx.Err() != nil {
			o.state.Deployment.Status = order.Expired
			return o.result(order.Expired), err
		}
		o.state.Deployment.Status = order.Failed
		o.state.Deployment.Error = customerError(err)
		o.state.Deployment.Progress = nil
		o.upsert(ctx, WithStatus(string(order.Failed)))
		logger.Error("deployment failed for good", "Error", err)
		return o.result(order.Failed), nil
	}
	o.state.Deployment.Status = order.Provisioned
	// Each fact once: the nodes with their runes, and where their links
	// point; the links themselves are made when a status is answered
	// (State.Served). Orders provisioned before keep both, as recorded.
	if workflow.GetVersion(ctx, "nodes-once", workflow.DefaultVersion, 1) == 1 {
		o.nodesOnce = true
		o.state.Deployment.Nodes = (&order.Deployment{Nodes: boot.Nodes}).Unlinked().Nodes
		o.state.Links = boot.Links
	} else {
		o.state.Deployment.ConnectionStrings = boot.ConnectionStrings
		o.state.Deployment.Nodes = boot.Nodes
	}
	o.state.Deployment.Progress = nil
	o.upsert(ctx, WithStatus(string(order.Provisioned)))
	workflow.GetMetricsHandler(ctx).Timer(MetricPaymentToProvisioned).Record(workflow.Now(ctx).Sub(o.payment.PaidAt))

	o.serveUntil(ctx)
	return o.result(order.Expired), nil
}

func (o *orderRun) result(status order.DeploymentStatus) Result {
	r := Result{Paid: o.payment != nil, Order: o.in, Payment: o.payment}
	r.Order.Prepaid = nil
	if r.Paid {
		r.Status = status
	}
	return r
}

// awaitPayment blocks until a valid payment arrives or the invoice expires.
// When the expiry timer fires it still drains the signal channel: a payment
// that lightningd accepted just before expires_at may be relayed after it,
// and it must deploy, not vanish with the workflow.
func (o *orderRun) awaitPayment(ctx workflow.Context) bool {
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	expired := false
	wait := o.in.InvoiceExpiresAt.Sub(workflow.Now(ctx))
	if wait <= 0 {
		expired = true
	}
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(o.paidCh, func(c workflow.ReceiveChannel, _ bool) {
		var p Payment
		c.Receive(ctx, &p)
		o.acceptPayment(ctx, p)
	})
	if !expired {
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) { expired = true })
	}
	for o.payment == nil && !expired {
		sel.Select(ctx)
	}
	o.drainPayments(ctx)
	return o.payment != nil
}

// acceptPayment records the first valid payment; repeats are ignored, which
// is what makes the plugin's at-least-once relay safe.
func (o *orderRun) acceptPayment(ctx workflow.Context, p Payment) {
	logger := workflow.GetLogger(ctx)
	switch {
	case o.payment != nil:
		logger.Info("payment signal repeated; ignored", "PayIndex", p.PayIndex)
	case p.InvoiceStatus != string(order.InvoicePaid):
		logger.Warn("payment signal for an invoice lightningd does not report paid; refused",
			"InvoiceStatus", p.InvoiceStatus)
	case p.PaidAt.IsZero():
		logger.Warn("payment signal without paid_at; refused", "PayIndex", p.PayIndex)
	case p.AmountReceivedMsat < o.in.AmountMsat:
		logger.Warn("payment below the order's price; refused",
			"ReceivedMsat", p.AmountReceivedMsat, "PriceMsat", o.in.AmountMsat)
	default:
		o.payment = &p
	}
}

func (o *orderRun) drainPayments(ctx workflow.Context) {
	for {
		var p Payment
		if !o.paidCh.ReceiveAsync(&p) {
			return
		}
		o.acceptPayment(ctx, p)
	}
}

// deploy acquires a host and bootstraps the playground on it.
func (o *orderRun) deploy(ctx workflow.Context, expiration time.Time) (activities.BootstrapResult, error) {
	var a *activities.Activities
	var host infra.Host
	spec := infra.Spec{OrderID: o.in.OrderID.String(), NodeCount: o.in.NodeCount, ExpiresAt: expiration}
	// A warm playground, when one of the order's size is ready: seconds
	// instead of minutes. Warm playgrounds are built with the default
	// topology; other topologies are built cold.
	if workflow.GetVersion(ctx, "warm", workflow.DefaultVersion, 1) == 1 && o.in.Topology.OrDefault() == order.TopologyMesh {
		var cl WarmClaim
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, admitOptions), ActivityClaimWarm,
			ClaimRequest{OrderID: spec.OrderID, NodeCount: spec.NodeCount}).Get(ctx, &cl)
		if err != nil {
			// The pool is a shortcut, never a dependency: build cold.
			workflow.GetLogger(ctx).Warn("no warm playground could be claimed; building one", "Error", err)
		}
		if err == nil && cl.Claimed {
			return o.finishWarm(ctx, cl)
		}
	}
	// Admission came after orders had been paid and deployed without it.
	if workflow.GetVersion(ctx, "admission", workflow.DefaultVersion, 1) == 1 {
		warm, err := o.admit(ctx)
		if err != nil {
			return activities.BootstrapResult{}, err
		}
		if warm != nil {
			return o.finishWarm(ctx, *warm)
		}
	}
	o.source = "cold"
	o.setProgress(ctx, "acquiring_host", 0)
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, acquireOptions),
		a.AcquireHost, activities.AcquireInput{Spec: spec}).Get(ctx, &host)
	if err != nil {
		return activities.BootstrapResult{}, fmt.Errorf("acquire host: %w", err)
	}
	o.setProgress(ctx, "bootstrapping", 0)
	// Progress signals from the bootstrap update the status while it runs.
	progressCtx, stopProgress := workflow.WithCancel(ctx)
	defer stopProgress()
	workflow.Go(progressCtx, func(gctx workflow.Context) {
		ch := workflow.GetSignalChannel(gctx, SignalProgress)
		for {
			var p Progress
			if !ch.Receive(gctx, &p) {
				return
			}
			if o.state.Deployment.Status == order.StartingDeployment {
				o.setProgress(gctx, p.Step, p.NodesReady)
			}
		}
	})
	var boot activities.BootstrapResult
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, bootstrapOptions),
		a.Bootstrap, activities.BootstrapInput{OrderID: spec.OrderID, NodeCount: spec.NodeCount, Host: host, Topology: o.in.Topology}).Get(ctx, &boot)
	if err != nil {
		return activities.BootstrapResult{}, fmt.Errorf("bootstrap: %w", err)
	}
	return boot, nil
}

func (o *orderRun) setProgress(ctx workflow.Context, step string, ready int) {
	o.state.Deployment.Progress = &order.Progress{Step: step, NodesReady: ready, NodeCount: o.in.NodeCount, Source: o.source}
	o.publish(ctx)
}

// finishWarm mints the order's runes on the warm playground it claimed:
// the playground was built before the order existed, and no rune was
// minted for it until now.
func (o *orderRun) finishWarm(ctx workflow.Context, cl WarmClaim) (activities.BootstrapResult, error) {
	var a *activities.Activities
	o.warmID, o.source = cl.ID, "warm"
	o.setProgress(ctx, "creating_runes", o.in.NodeCount)
	var boot activities.BootstrapResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, bootstrapOptions), a.MintRunes, activities.MintInput{
		OrderID: o.in.OrderID.String(), WarmID: cl.ID, NodeCount: o.in.NodeCount, Host: cl.Host, Nodes: cl.Nodes,
	}).Get(ctx, &boot)
	if err != nil {
		return activities.BootstrapResult{}, fmt.Errorf("mint runes on warm playground %s: %w", cl.ID, err)
	}
	workflow.GetLogger(ctx).Info("provisioned from the warm pool", "Warm", cl.ID)
	return boot, nil
}

// serveUntil sleeps durably until the paid time is over. A worker that was
// down at that moment fires the timer as soon as it is back. An operator
// may extend the time (the timer is replaced) or end it now.
func (o *orderRun) serveUntil(ctx workflow.Context) {
	extendCh := workflow.GetSignalChannel(ctx, SignalExtend)
	teardownCh := workflow.GetSignalChannel(ctx, SignalTeardown)
	extPaidCh := workflow.GetSignalChannel(ctx, SignalExtensionPaid)
	for ctx.Err() == nil {
		wait := o.expiration.Sub(workflow.Now(ctx))
		if wait <= 0 {
			// Extensions paid before the end, relayed after it (the
			// worker or the plugin was down at the old end): the host is
			// still here, so they are served, and the order goes on.
			o.drainExtensions(ctx, extPaidCh, true)
			if o.expiration.After(workflow.Now(ctx)) {
				continue
			}
			return
		}
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		over := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) { over = true })
		sel.AddReceive(o.paidCh, func(c workflow.ReceiveChannel, _ bool) {
			var p Payment
			c.Receive(ctx, &p)
			o.acceptPayment(ctx, p)
		})
		sel.AddReceive(extendCh, func(c workflow.ReceiveChannel, _ bool) {
			var e Extend
			c.Receive(ctx, &e)
			o.extend(ctx, e)
		})
		sel.AddReceive(extPaidCh, func(c workflow.ReceiveChannel, _ bool) {
			var p ExtensionPayment
			c.Receive(ctx, &p)
			o.extensionPaid(ctx, p, true)
		})
		o.onTeardown(ctx, sel, teardownCh, &over)
		sel.Select(ctx)
		cancelTimer()
		if over && !o.teardown {
			continue // the loop's head serves extensions relayed late
		}
		if over {
			return
		}
	}
}

// onTeardown ends the wait of sel when an operator tears the order down.
func (o *orderRun) onTeardown(ctx workflow.Context, sel workflow.Selector, ch workflow.ReceiveChannel, over *bool) {
	sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		workflow.GetLogger(ctx).Info("teardown requested by an operator", "Status", o.state.Deployment.Status)
		*over, o.teardown = true, true
	})
}

// A paid extension needs no version marker: it is a new signal, handled
// only when one arrives, and no recorded history carries one.

// extensionPaid serves one paid extension: the order's end moves by its
// hours from the current end. Each label is served at most once, whoever
// relays it how often. A payment made after the order's end (or arriving
// once its host is being released: serving false), or one past the cap on
// paid hours, buys nothing and is recorded for refund.
func (o *orderRun) extensionPaid(ctx workflow.Context, p ExtensionPayment, serving bool) {
	logger := workflow.GetLogger(ctx)
	if o.seenPayment(p.Label) {
		logger.Info("extension payment repeated; ignored", "Label", p.Label)
		return
	}
	switch {
	case !serving || !p.PaidAt.Before(o.expiration):
		o.unserved(ctx, p, order.UnservedOrderEnded)
	case p.MaxHours > 0 && o.paidHours()+p.Hours > p.MaxHours:
		o.unserved(ctx, p, order.UnservedOverCap)
	default:
		o.expiration = order.VMExpiration(o.expiration, p.Hours, o.in.DevHour)
		d := o.state.Deployment
		d.VMExpirationDate = order.FormatTime(o.expiration)
		d.Extensions = append(d.Extensions, order.Extension{N: p.N, Hours: p.Hours,
			AmountMsat: p.AmountReceivedMsat, PaidAt: order.FormatTime(p.PaidAt)})
		o.upsert(ctx, AttrExpiresAt.ValueSet(o.expiration))
		logger.Info("order extended by payment", "Label", p.Label, "Hours", p.Hours, "VMExpiration", o.expiration)
	}
}

func (o *orderRun) seenPayment(label string) bool {
	d := o.state.Deployment
	for _, e := range d.Extensions {
		if order.ExtensionLabel(o.in.OrderID, e.N) == label {
			return true
		}
	}
	for _, u := range d.UnservedPayments {
		if u.Label == label {
			return true
		}
	}
	return false
}

// paidHours is the order's paid time, extensions included.
func (o *orderRun) paidHours() int {
	h := o.in.Hours
	for _, e := range o.state.Deployment.Extensions {
		h += e.Hours
	}
	return h
}

// unserved records a payment that bought nothing: in the order's status,
// and as an UnservedPaymentWorkflow the operator lists for refunds.
func (o *orderRun) unserved(ctx workflow.Context, p ExtensionPayment, reason string) {
	d := o.state.Deployment
	d.UnservedPayments = append(d.UnservedPayments, order.UnservedPayment{Label: p.Label,
		AmountMsat: p.AmountReceivedMsat, PaidAt: order.FormatTime(p.PaidAt), Reason: reason})
	o.publish(ctx)
	workflow.GetLogger(ctx).Warn("extension payment not served; recorded for refund", "Label", p.Label, "Reason", reason)
	rec := UnservedRecord{OrderID: o.in.OrderID, Label: p.Label, AmountMsat: p.AmountReceivedMsat, PaidAt: p.PaidAt, Reason: reason}
	start := UnservedStartOptions(rec, "")
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: start.ID, WorkflowIDReusePolicy: start.WorkflowIDReusePolicy,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: start.TypedSearchAttributes, Memo: start.Memo,
	})
	// Waiting for the start (not the end) makes the record durable before
	// the order can complete; one that exists already (the follower made
	// it) is the same record.
	if err := workflow.ExecuteChildWorkflow(cctx, UnservedPaymentWorkflow, rec).GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Info("unserved payment record not started", "Label", p.Label, "Error", err)
	}
}

// drainExtensions handles the extension payments already delivered.
func (o *orderRun) drainExtensions(ctx workflow.Context, ch workflow.ReceiveChannel, serving bool) {
	for {
		var p ExtensionPayment
		if !ch.ReceiveAsync(&p) {
			return
		}
		o.extensionPaid(ctx, p, serving)
	}
}

// extend moves the expiration; the timer is replaced by serveUntil's loop.
func (o *orderRun) extend(ctx workflow.Context, e Extend) {
	if e.Hours < 1 || e.Hours > 24*365 {
		workflow.GetLogger(ctx).Warn("extend refused: hours out of range", "Hours", e.Hours)
		return
	}
	o.expiration = order.VMExpiration(o.expiration, e.Hours, o.in.DevHour)
	o.state.Deployment.VMExpirationDate = order.FormatTime(o.expiration)
	o.upsert(ctx, AttrExpiresAt.ValueSet(o.expiration))
	workflow.GetLogger(ctx).Info("order extended", "Hours", e.Hours, "Reason", e.Reason, "VMExpiration", o.expiration)
}

// release gives the host back, retrying until it succeeds, on a context
// that survives the workflow's cancellation.
func (o *orderRun) release(ctx workflow.Context) {
	var a *activities.Activities
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	machine := o.in.OrderID.String()
	if o.warmID != "" {
		machine = o.warmID // labelled with the warm playground's id
	}
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, releaseOptions),
		a.ReleaseHost, activities.ReleaseInput{OrderID: machine}).Get(dctx, nil)
	if err != nil {
		// Only reachable if the retry policy is changed to give up; the
		// sweeper is the safety net then.
		workflow.GetLogger(ctx).Error("release host failed; the sweeper will delete it", "Error", err)
		return
	}
	if o.warmID != "" {
		// Its workflow frees the warm playground's lease in the pool.
		if err := workflow.SignalExternalWorkflow(dctx, WarmWorkflowID(o.warmID), "", SignalWarmRelease, nil).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("tell the warm playground it is released; it checks on its own", "Error", err)
		}
	}
	if o.admitted {
		// Only once the host is gone: the next order in the queue never
		// runs beside this one's machine.
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, releaseOptions),
			ActivityReleaseAdmission, o.in.OrderID.String()).Get(dctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Error("free the admission failed; the sweeper will", "Error", err)
		}
	}
	if o.state.Deployment.Status != order.Failed {
		o.state.Deployment.Status = order.Expired
		o.state.Deployment.ConnectionStrings = nil
		o.state.Deployment.Nodes = nil
		o.upsert(ctx, WithStatus(string(order.Expired)))
	}
	o.drainPayments(ctx)
	o.drainExtensions(ctx, workflow.GetSignalChannel(ctx, SignalExtensionPaid), false)
}

// releaseReservation frees the pool slot createorder held for the unpaid
// invoice. Best effort: a reservation also lapses on its own.
func (o *orderRun) releaseReservation(ctx workflow.Context) {
	var a *activities.Activities
	opts := releaseOptions
	opts.ScheduleToCloseTimeout = 10 * time.Minute
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts),
		a.ReleaseHost, activities.ReleaseInput{OrderID: o.in.OrderID.String()}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("free the reserved slot; it lapses on its own", "Error", err)
	}
}

// customerError is the reason a customer sees for a failed deployment: the
// innermost application error's message, without Temporal's wrapping.
func customerError(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return "deployment failed: " + appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "deployment failed: timed out"
	}
	return "deployment failed"
}
