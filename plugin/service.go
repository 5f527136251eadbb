// Package plugin is lnplaylive inside lightningd: the two order methods and
// the payment follower that hands every paid invoice to its order's workflow.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// Config is the plugin's configuration, from its lightningd options.
type Config struct {
	TaskQueue string
	Products  order.Products
	// StatusTTL bounds how stale a paid order's deployment status may be
	// (see statusCache).
	StatusTTL time.Duration
	// DevHour, when set, is the length of an order's hour (development only).
	DevHour time.Duration
	// MaxQueued: createorder refuses while this many paid orders wait for
	// capacity.
	MaxQueued int
	// MaxLiveOrders caps the unpaid invoices outstanding (capacity is taken
	// at payment, never by an invoice);
	// 0 means no capacity is configured and every order is refused.
	MaxLiveOrders int
	// DataConverter reads what workers wrote (the capacity workflow's memo);
	// nil is the SDK default.
	DataConverter converter.DataConverter
	// StatusQueue is this plugin's status task queue: orders it creates
	// push their states there (see orderStates). Empty: no pushes.
	StatusQueue string
	// Offers enables payment_type=bolt12 (single-use offers).
	Offers bool
}

// Lightning is the part of lightningd's RPC the order methods use.
type Lightning interface {
	CreateInvoice(ctx context.Context, req cln.InvoiceRequest) (cln.NewInvoice, error)
	InvoiceByLabel(ctx context.Context, label string) (cln.Invoice, bool, error)
	DeleteInvoice(ctx context.Context, label, status string) error
	CreateOffer(ctx context.Context, req cln.OfferRequest) (cln.Offer, error)
	DisableOffer(ctx context.Context, offerID string) error
	OfferByID(ctx context.Context, offerID string) (cln.Offer, bool, error)
	DecodeOffer(ctx context.Context, bolt12 string) (cln.DecodedOffer, error)
	InvoicesByOffer(ctx context.Context, offerID string) ([]cln.Invoice, error)
	GetString(ctx context.Context, key []string) (string, bool, error)
	PutString(ctx context.Context, key []string, value, mode string) error
	ListStrings(ctx context.Context, key []string) (map[string]string, error)
}

// Service implements the plugin's RPC methods.
type Service struct {
	cfg       Config
	ln        Lightning
	temporal  client.Client
	log       *slog.Logger
	now       func() time.Time
	statuses  *statusCache
	states    *orderStates
	admission *saleAdmission
	index     *invoiceIndex
	// lastProxyScan is when lnplaylive-proxytarget last read the paid
	// orders' states (unix ns), to bound those reads.
	lastProxyScan atomic.Int64
}

// NewService wires the order methods to lightningd and Temporal.
func NewService(cfg Config, ln Lightning, tc client.Client, log *slog.Logger) *Service {
	s := &Service{cfg: cfg, ln: ln, temporal: tc, log: log, now: time.Now}
	s.states = newOrderStates(s.now)
	s.statuses = newStatusCache(cfg.StatusTTL, s.now, s.fetchState)
	s.admission = newSaleAdmission(cfg, tc, s.now, log)
	hour := cfg.DevHour
	if hour == 0 {
		hour = time.Hour
	}
	s.index = newInvoiceIndex(func() time.Time { return s.now() }, time.Duration(cfg.Products.MaxHours)*hour+indexQueueMargin)
	return s
}

// ErrUnavailable means the order service cannot take the call right now;
// nothing was created and the caller may try again.
var ErrUnavailable = errors.New("order service temporarily unavailable, try again")

// indexQueueMargin is added to the longest an order can run when deciding
// which paid orders may still be running: the time one may wait in the
// capacity queue before its hours start.
const indexQueueMargin = 48 * time.Hour

// Temporal calls from an RPC method are bounded: a caller is better served
// by a clear error than by a hang while Temporal is down.
const temporalCallTimeout = 10 * time.Second

// CreateOrder is lnplaylive-createorder (SPEC §2).
//
// The invoice is created before the workflow is started. Every other order
// leaves a window for loss: a workflow without an invoice is harmless (it
// expires), but an invoice is only ever shown to a customer after its
// workflow exists; and should the workflow start fail, the unseen invoice is
// deleted. Even an invoice that survived that (lightningd died in between)
// and were somehow paid would still deploy: the payment follower turns every
// paid lnplaylive invoice into a signal-with-start of its workflow.
func (s *Service) CreateOrder(ctx context.Context, params json.RawMessage) (*order.CreateReply, error) {
	req, err := order.ParseCreateOrder(params, s.cfg.Products)
	if err != nil {
		return nil, err
	}
	// Admission is checked before anything is created. The grant counts
	// until the workflow is visible, so this plugin's own concurrent calls
	// cannot both take the last place.
	id := order.NewID()
	created := s.now()
	grant, err := s.admission.reserve(ctx, req.NodeCount)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() { grant.done(started) }()
	amount := s.cfg.Products.PriceMsat(req)
	p, err := s.newPayment(ctx, req.PaymentType, id.Label(), order.Description(req), amount, s.cfg.Products.InvoiceExpiry)
	if err != nil {
		return nil, err
	}
	in := workflows.OrderInput{
		OrderID: id, NodeCount: req.NodeCount, Hours: req.Hours, Topology: req.Topology,
		AmountMsat: amount, InvoiceExpiresAt: p.expiresAt, DevHour: s.cfg.DevHour,
		StatusQueue: s.cfg.StatusQueue,
	}
	tctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	if _, err := s.temporal.ExecuteWorkflow(tctx, startOptions(in, s.cfg.TaskQueue), workflows.OrderWorkflow, in); err != nil {
		s.log.Warn("start order workflow failed; withdrawing its invoice", "order", id, "error", err)
		s.withdraw(p)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	started = true
	s.index.add(id, p)
	s.log.Info("order created", "order", id, "node_count", req.NodeCount, "hours", req.Hours, "amount_msat", amount, "payment_type", req.PaymentType)
	return &order.CreateReply{
		NodeCount:       req.NodeCount,
		Hours:           req.Hours,
		Topology:        req.Topology,
		ExpiresAfter:    order.FormatTime(order.VMExpiration(created, req.Hours, s.cfg.DevHour)),
		BOLT11InvoiceID: id,
		BOLT11Invoice:   p.bolt11,
		BOLT12Offer:     p.bolt12,
	}, nil
}

func startOptions(in workflows.OrderInput, taskQueue string) client.StartWorkflowOptions {
	attrs, memo := workflows.StartAttributes(in)
	return client.StartWorkflowOptions{
		ID:                    in.OrderID.WorkflowID(),
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: reusePolicyRejectDuplicate,
		// An order's workflow is started exactly once by createorder; a
		// second start with the same id is a bug to report, not to absorb.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    attrs,
		Memo:                                     memo,
	}
}

// InvoiceStatus is lnplaylive-invoicestatus (SPEC §3). It is polled every
// second per open order, so an order the plugin holds is answered from
// memory: its invoice state from the index (see invoiceIndex), its
// deployment from the state its workflow pushed (see orderStates).
// lightningd and Temporal are asked only for what memory does not hold.
func (s *Service) InvoiceStatus(ctx context.Context, params json.RawMessage) (*order.StatusReply, error) {
	r, _, err := s.invoiceStatus(ctx, params, true)
	return r, err
}

// InvoiceStatusJSON is InvoiceStatus marshalled, as the plugin answers
// it: an answer from memory that is what it was at the last poll is sent
// again as the same bytes.
func (s *Service) InvoiceStatusJSON(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
	r, e, err := s.invoiceStatus(ctx, params, true)
	if err != nil {
		return nil, err
	}
	d, _ := r.DeploymentDetails.(*order.Deployment)
	if e != nil {
		if b := e.cached(r.PaymentType, d); b != nil {
			return b, nil
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("marshal the status of order %s: %w", r.InvoiceID, err)
	}
	if e != nil {
		e.reply.Store(&cachedReply{paymentType: r.PaymentType, deployment: d, json: b})
	}
	return b, nil
}

// InvoiceStatusFromNode is invoicestatus answered without the index: the
// invoice asked of lightningd on every call. It is the path for orders the
// index does not hold, and what tests hold the index's answers to.
func (s *Service) InvoiceStatusFromNode(ctx context.Context, params json.RawMessage) (*order.StatusReply, error) {
	r, _, err := s.invoiceStatus(ctx, params, false)
	return r, err
}

// invoiceStatus answers; e is the index entry the answer was made from
// (nil when lightningd was asked, or the order has ended).
func (s *Service) invoiceStatus(ctx context.Context, params json.RawMessage, fromMemory bool) (_ *order.StatusReply, e *indexEntry, _ error) {
	id, paymentType, err := order.ParseInvoiceStatus(params)
	if err != nil {
		return nil, nil, err
	}
	var inv cln.Invoice
	found, known := false, false
	if fromMemory {
		if e, found, known = s.index.lookup(id, paymentType); found {
			inv = e.inv
		}
	}
	if !known {
		if inv, found, err = s.orderInvoice(ctx, id, paymentType); err != nil {
			return nil, nil, fmt.Errorf("look up invoice: %w", err)
		}
		s.index.confirm(id, paymentType, inv, found)
	}
	if !found {
		return nil, nil, order.ErrNoSuchOrder
	}
	reply := &order.StatusReply{InvoiceID: id, PaymentType: paymentType, DeploymentDetails: order.NotDeployed}
	switch inv.Status {
	case cln.StatusUnpaid:
		reply.InvoiceStatus = order.InvoiceUnpaid
	case cln.StatusExpired:
		reply.InvoiceStatus = order.InvoiceExpired
	case cln.StatusPaid:
		reply.InvoiceStatus = order.InvoicePaid
		d, err := s.deployment(ctx, id, inv)
		if err != nil {
			return nil, nil, err
		}
		if d.Status == order.Expired || d.Status == order.Failed {
			// Ended: payments after the end are lightningd's to tell.
			s.index.forget(id)
			e = nil
		}
		if d, err = s.withUnserved(ctx, id, d); err != nil {
			return nil, nil, fmt.Errorf("look up extensions: %w", err)
		}
		reply.DeploymentDetails = d
	default:
		return nil, nil, fmt.Errorf("invoice %s has unknown status %q", id.Label(), inv.Status)
	}
	return reply, e, nil
}

// overdue tells a held deployment that should have ended by now: its end
// has not been pushed (yet), so Temporal is asked rather than showing a
// playground that is gone.
func overdue(d *order.Deployment, now time.Time) bool {
	if d.Status == order.Expired || d.Status == order.Failed {
		return false
	}
	end, err := time.Parse(time.RFC3339, d.VMExpirationDate)
	return err == nil && !now.Before(end)
}

// deployment answers for a paid order: from the workflow's state when it has
// seen the payment, otherwise from the invoice itself (the payment is being
// relayed, or the workflow is gone from Temporal's retention).
func (s *Service) deployment(ctx context.Context, id order.ID, inv cln.Invoice) (*order.Deployment, error) {
	if st, ok, recheck := s.states.get(id); ok && st.Deployment != nil && !overdue(st.Deployment, s.now()) {
		if recheck {
			go s.recheck(id)
		}
		return st.Deployment, nil
	}
	st, err := s.statuses.get(ctx, id)
	if err == nil && st.Deployment != nil {
		return st.Deployment, nil
	}
	if err != nil && !errors.Is(err, errWorkflowNotFound) {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req, derr := order.ParseDescription(inv.Description)
	if derr != nil {
		return nil, fmt.Errorf("paid invoice %s: %w", inv.Label, derr)
	}
	expiration := order.VMExpiration(time.Unix(inv.PaidAt, 0), req.Hours, s.cfg.DevHour)
	status := order.StartingDeployment
	if errors.Is(err, errWorkflowNotFound) && !s.now().Before(expiration) {
		status = order.Expired
	}
	return &order.Deployment{
		PluginVersion:    order.PluginVersion,
		VMExpirationDate: order.FormatTime(expiration),
		Status:           status,
		Topology:         req.Topology,
	}, nil
}
