package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

const (
	reusePolicyRejectDuplicate = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	reusePolicyAllowDuplicate  = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
)

// PayIndexKey is where the follower keeps, in lightningd's datastore, the
// pay_index of the last paid invoice it has handed to Temporal.
var PayIndexKey = []string{"lnplaylive", "lastpay_index"}

// PaymentSource is the part of lightningd the follower reads.
type PaymentSource interface {
	WaitAnyInvoice(ctx context.Context, lastPayIndex, timeoutSec uint64) (cln.Invoice, error)
	GetString(ctx context.Context, key []string) (string, bool, error)
	PutString(ctx context.Context, key []string, value, mode string) error
	OfferByID(ctx context.Context, offerID string) (cln.Offer, bool, error)
}

// Follower walks lightningd's paid invoices in pay_index order and hands
// each lnplaylive payment to its order's workflow. It keeps the position in
// lightningd's own datastore and advances it only after Temporal has
// acknowledged the payment, so a crash or an outage at any point means the
// payment is relayed again, never skipped; the workflow ignores repeats.
type Follower struct {
	// DevHour is passed to workflows it starts (see Config.DevHour).
	DevHour time.Duration
	// StatusQueue is passed to workflows it starts (see Config.StatusQueue).
	StatusQueue string
	// MaxHours caps an order's paid hours, extensions included; passed
	// with each extension payment.
	MaxHours  int
	src       PaymentSource
	temporal  client.Client
	taskQueue string
	log       *slog.Logger
	// Backoff bounds for retries while lightningd or Temporal is unavailable.
	MinBackoff, MaxBackoff time.Duration
}

// NewFollower makes a follower; src should have a connection of its own,
// since waitanyinvoice blocks.
func NewFollower(src PaymentSource, tc client.Client, taskQueue string, log *slog.Logger) *Follower {
	return &Follower{src: src, temporal: tc, taskQueue: taskQueue, log: log, MinBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}
}

// Run follows payments until ctx ends or lightningd's connection fails.
func (f *Follower) Run(ctx context.Context) error {
	var last uint64
	if err := f.retry(ctx, "read stored pay_index", func() error {
		var err error
		last, err = f.loadIndex(ctx)
		return err
	}); err != nil {
		return err
	}
	f.log.Info("following paid invoices", "after_pay_index", last)
	for {
		var inv cln.Invoice
		err := f.retry(ctx, "waitanyinvoice", func() error {
			var err error
			inv, err = f.src.WaitAnyInvoice(ctx, last, 0)
			if errors.Is(err, cln.ErrClosed) {
				return permanent{err}
			}
			return err
		})
		if err != nil {
			return err
		}
		if inv.PayIndex <= last {
			return fmt.Errorf("waitanyinvoice after pay_index %d returned pay_index %d", last, inv.PayIndex)
		}
		if err := f.retry(ctx, "relay payment "+strconv.FormatUint(inv.PayIndex, 10), func() error {
			return f.handle(ctx, inv)
		}); err != nil {
			return err
		}
		if err := f.retry(ctx, "store pay_index", func() error {
			return f.src.PutString(ctx, PayIndexKey, strconv.FormatUint(inv.PayIndex, 10), cln.ModeCreateOrReplace)
		}); err != nil {
			return err
		}
		last = inv.PayIndex
	}
}

func (f *Follower) loadIndex(ctx context.Context) (uint64, error) {
	s, found, err := f.src.GetString(ctx, PayIndexKey)
	if err != nil || !found {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, permanent{fmt.Errorf("datastore %v holds %q, not a pay_index", PayIndexKey, s)}
	}
	return n, nil
}

// handle relays one paid invoice if it is lnplaylive's: an order's or an
// extension's, sold by invoice (its label) or by offer (the label of the
// offer it was fetched from).
func (f *Follower) handle(ctx context.Context, inv cln.Invoice) error {
	label := inv.Label
	if inv.LocalOfferID != "" {
		o, found, err := f.src.OfferByID(ctx, inv.LocalOfferID)
		if err != nil {
			return fmt.Errorf("listoffers %s: %w", inv.LocalOfferID, err)
		}
		if !found {
			f.log.Warn("paid invoice of an offer lightningd no longer lists; not relayed",
				"offer_id", inv.LocalOfferID, "pay_index", inv.PayIndex)
			return nil
		}
		label = o.Label
	}
	if id, ok := order.IDFromLabel(label); ok {
		return f.relay(ctx, id, inv)
	}
	if id, n, ok := order.ExtensionFromLabel(label); ok {
		return f.relayExtension(ctx, id, n, label, inv)
	}
	return nil
}

// relayExtension hands a paid extension to its order's workflow, which
// moves the order's end (once per label, whoever relays it how often). An
// order whose workflow is closed has ended: the payment extends nothing,
// and is recorded for refund.
func (f *Follower) relayExtension(ctx context.Context, id order.ID, n int, label string, inv cln.Invoice) error {
	forID, hours, err := order.ParseExtendDescription(inv.Description)
	if err != nil || forID != id {
		f.log.Error("paid invoice has an extension label but no matching description; not relayed",
			"label", label, "pay_index", inv.PayIndex)
		return nil
	}
	p := workflows.ExtensionPayment{
		N: n, Label: label, Hours: hours, MaxHours: f.MaxHours, PayIndex: inv.PayIndex,
		PaidAt: time.Unix(inv.PaidAt, 0).UTC(), AmountReceivedMsat: inv.AmountReceivedMsat,
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	err = f.temporal.SignalWorkflow(ctx, id.WorkflowID(), "", workflows.SignalExtensionPaid, p)
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		if err == nil {
			f.log.Info("extension payment relayed", "order", id, "label", label, "pay_index", inv.PayIndex)
		}
		return err
	}
	rec := workflows.UnservedRecord{OrderID: id, Label: label, AmountMsat: inv.AmountReceivedMsat,
		PaidAt: p.PaidAt, Reason: order.UnservedOrderEnded}
	_, err = f.temporal.ExecuteWorkflow(ctx, workflows.UnservedStartOptions(rec, f.taskQueue), workflows.UnservedPaymentWorkflow, rec)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return err
	}
	f.log.Warn("extension paid for an order that has ended; recorded for refund (lnplaylive orders unserved)",
		"order", id, "label", label, "amount_msat", inv.AmountReceivedMsat)
	return nil
}

// relay hands one paid invoice to its order's workflow:
//   - a running workflow gets the signal;
//   - no workflow at all (createorder's start was lost) starts one with it;
//   - a closed workflow that ended unpaid (its invoice timer fired before the
//     payment reached it) is started again, because lightningd says paid;
//   - a closed workflow that was paid already served this payment.
func (f *Follower) relay(ctx context.Context, id order.ID, inv cln.Invoice) error {
	req, err := order.ParseDescription(inv.Description)
	if err != nil {
		// Not an order this plugin made: there is nothing to deploy.
		f.log.Error("paid invoice has an lnplaylive label but no order description; not deployed",
			"order", id, "pay_index", inv.PayIndex)
		return nil
	}
	in := workflows.OrderInput{
		OrderID: id, NodeCount: req.NodeCount, Hours: req.Hours, Topology: req.Topology,
		AmountMsat: inv.AmountMsat, InvoiceExpiresAt: time.Unix(inv.ExpiresAt, 0).UTC(), DevHour: f.DevHour,
		StatusQueue: f.StatusQueue,
	}
	pay := workflows.Payment{
		InvoiceStatus: inv.Status, PayIndex: inv.PayIndex,
		PaidAt: time.Unix(inv.PaidAt, 0).UTC(), AmountReceivedMsat: inv.AmountReceivedMsat,
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	opts := startOptions(in, f.taskQueue)
	_, err = f.temporal.SignalWithStartWorkflow(ctx, id.WorkflowID(), workflows.SignalPaid, pay, opts, workflows.OrderWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.As(err, &started) {
		if err == nil {
			f.log.Info("payment relayed", "order", id, "pay_index", inv.PayIndex)
		}
		return err
	}
	var res workflows.Result
	if err := f.temporal.GetWorkflow(ctx, id.WorkflowID(), "").Get(ctx, &res); err != nil {
		// Failed or terminated by an operator: their call, not ours.
		f.log.Warn("payment for an order whose workflow ended abnormally; not redeployed",
			"order", id, "pay_index", inv.PayIndex, "error", err)
		return nil
	}
	if res.Paid {
		f.log.Info("payment already served", "order", id, "pay_index", inv.PayIndex)
		return nil
	}
	opts.WorkflowIDReusePolicy = reusePolicyAllowDuplicate
	if _, err := f.temporal.SignalWithStartWorkflow(ctx, id.WorkflowID(), workflows.SignalPaid, pay, opts, workflows.OrderWorkflow, in); err != nil {
		return err
	}
	f.log.Warn("payment arrived after the order's invoice timer; order restarted to deploy it",
		"order", id, "pay_index", inv.PayIndex)
	return nil
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry runs op until it succeeds, returns a permanent error, or ctx ends,
// backing off exponentially between attempts.
func (f *Follower) retry(ctx context.Context, what string, op func() error) error {
	backoff := f.MinBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return fmt.Errorf("%s: %w", what, p.error)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		f.log.Warn("retrying", "what", what, "attempt", attempt, "backoff", backoff, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		backoff = min(backoff*2, f.MaxBackoff)
	}
}
