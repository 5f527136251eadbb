// Package workflows holds the Temporal workflows of lnplaylive: the life of
// one order (OrderWorkflow) and the sweeper that catches leaked machines.
package workflows

import (
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/order"
)

// Search attributes the workflow keeps current, so operators can filter
// orders in the Web UI and with `temporal workflow list --query`.
var (
	AttrOrderStatus = temporal.NewSearchAttributeKeyKeyword("OrderStatus")
	AttrNodeCount   = temporal.NewSearchAttributeKeyInt64("NodeCount")
	AttrHours       = temporal.NewSearchAttributeKeyInt64("Hours")
	AttrPaidAt      = temporal.NewSearchAttributeKeyTime("PaidAt")
	AttrExpiresAt   = temporal.NewSearchAttributeKeyTime("ExpiresAt")
	// AttrOrderSource is "operator" on operator-issued orders, set when
	// they start; orders paid by invoice leave it unset.
	AttrOrderSource = temporal.NewSearchAttributeKeyKeyword("OrderSource")
)

// SourceOperator is the OrderSource of operator-issued orders.
const SourceOperator = "operator"

// MetricPaymentToProvisioned times payment → provisioned, recorded through
// the SDK's replay-safe workflow metrics.
const MetricPaymentToProvisioned = "lnplaylive_payment_to_provisioned"

// OrderStatus values: the invoice status before payment, the deployment
// status after.
const (
	StatusUnpaid         = "unpaid"
	StatusInvoiceExpired = "invoice_expired"
)

// Names shared by the plugin, the worker and operators' tools.
const (
	DefaultTaskQueue = "lnplaylive-orders"
	// SignalPaid carries a Payment: the order's invoice is paid in lightningd.
	SignalPaid = "paid"
	// QueryStatus returns the order's State.
	QueryStatus = "status"
	// MemoState is the memo key under which the workflow publishes its
	// State on every change.
	MemoState = "state"
	// MemoStateSeq numbers the published states of an order that pushes
	// them to its plugin (OrderInput.StatusQueue), so the plugin can order
	// what it reads from the memo against what was pushed.
	MemoStateSeq = "state_seq"
	// ActivityPushStatus delivers a PushedState to the plugin that created
	// the order, on that plugin's own task queue.
	ActivityPushStatus = "PushStatus"
	// SignalProgress carries a Progress from the bootstrap activity.
	SignalProgress = "progress"
	// SignalExtend carries an Extend from an operator: more paid time.
	SignalExtend = "extend"
	// SignalTeardown (no payload) ends a served order now.
	SignalTeardown = "teardown"
	// ActivityAdmit asks the capacity workflow to admit a paid order
	// (AdmitRequest → Admission); the worker registers it.
	ActivityAdmit = "Admit"
	// ActivityReleaseAdmission frees an order's admission (its lease or its
	// place in the queue) once its host is released.
	ActivityReleaseAdmission = "ReleaseAdmission"
)

// Extend moves a paid order's vm_expiration_date by Hours.
type Extend struct {
	Hours  int    `json:"hours"`
	Reason string `json:"reason,omitempty"`
}

// Progress is the SignalProgress payload.
type Progress struct {
	Step       string `json:"step"`
	NodesReady int    `json:"nodes_ready"`
}

// OrderInput is everything the workflow needs to know when it starts. It is
// rebuilt from the invoice alone when the plugin has to signal-with-start.
type OrderInput struct {
	OrderID   order.ID `json:"order_id"`
	NodeCount int      `json:"node_count"`
	Hours     int      `json:"hours"`
	// Topology is the channels bought (empty: the default, and every
	// order from before topologies).
	Topology         order.Topology `json:"topology,omitempty"`
	AmountMsat       uint64         `json:"amount_msat"`
	InvoiceExpiresAt time.Time      `json:"invoice_expires_at"`
	// DevHour shortens the order's hour in development setups (fault tests,
	// demos); zero in production. Set by the plugin's
	// --lnplaylive-dev-hour-seconds.
	DevHour time.Duration `json:"dev_hour,omitempty"`
	// Prepaid starts the order already paid: an operator retrying a failed
	// deployment passes the original payment, so paid time is unchanged.
	Prepaid *Payment `json:"prepaid,omitempty"`
	// Reserved: createorder reserved a host-pool slot for the invoice; an
	// order that ends unpaid frees it at once rather than when it lapses.
	Reserved bool `json:"reserved,omitempty"`
	// Issued marks an order an operator placed without an invoice (a
	// workshop, a sponsor, support); it starts Prepaid.
	Issued *Issue `json:"issued,omitempty"`
	// StatusQueue is the task queue of the plugin that created the order:
	// every change of a paid order's State is pushed there
	// (ActivityPushStatus), so the plugin answers invoicestatus from
	// memory. Empty: nothing is pushed (operator orders, older plugins).
	StatusQueue string `json:"status_queue,omitempty"`
}

// PushedState is one published State of an order, numbered: a plugin keeps
// the highest Seq it has seen, so a late retry never overwrites news.
type PushedState struct {
	OrderID order.ID `json:"order_id"`
	Seq     uint64   `json:"seq"`
	State   State    `json:"state"`
}

// Issue says who placed an operator-issued order, and why.
type Issue struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Payment is the SignalPaid payload: what lightningd recorded when the invoice
// was paid. PaidAt is lightningd's paid_at, never the clock of whoever
// relayed it, so a late relay cannot shorten or lengthen the order.
type Payment struct {
	InvoiceStatus      string    `json:"invoice_status"`
	PayIndex           uint64    `json:"pay_index"`
	PaidAt             time.Time `json:"paid_at"`
	AmountReceivedMsat uint64    `json:"amount_received_msat"`
}

// State is what QueryStatus returns: the order as the customer sees it.
type State struct {
	InvoiceStatus order.InvoiceStatus `json:"invoice_status"`
	// Deployment is nil until the order is paid. As stored, its nodes
	// carry their runes and no links (see Served).
	Deployment *order.Deployment `json:"deployment,omitempty"`
	// Issued is set on operator-issued orders.
	Issued *Issue `json:"issued,omitempty"`
	// Links is where the nodes' links point, stored once; nil on orders
	// provisioned before, whose nodes carry their links.
	Links *order.Links `json:"links,omitempty"`
	// NodesByQuery marks a memo that leaves out a provisioned order's
	// nodes: QueryStatus answers with them.
	NodesByQuery bool `json:"nodes_by_query,omitempty"`
}

// Served is the state as customers and operators see it: the deployment
// with each node's links and connection_strings made from the stored
// nodes. Pure, so the query handler may call it.
func (s State) Served() State {
	if s.Links != nil {
		s.Deployment = s.Deployment.Linked(s.Links)
		s.Links = nil
	}
	return s
}

// Result is the workflow's return value. The plugin reads it to tell an
// order that ended unpaid (a late payment must still deploy) from one that
// was already served (a repeated payment must not deploy twice).
type Result struct {
	Paid   bool                   `json:"paid"`
	Status order.DeploymentStatus `json:"status,omitempty"`
	// Order and Payment let an operator retry a failed deployment.
	Order   OrderInput `json:"order"`
	Payment *Payment   `json:"payment,omitempty"`
}

// StartAttributes are the search attributes and memo an order's workflow
// is started with: what its first task would otherwise write itself.
func StartAttributes(in OrderInput) (temporal.SearchAttributes, map[string]any) {
	updates := []temporal.SearchAttributeUpdate{WithStatus(StatusUnpaid),
		AttrNodeCount.ValueSet(int64(in.NodeCount)), AttrHours.ValueSet(int64(in.Hours))}
	if in.Issued != nil {
		updates = append(updates, AttrOrderSource.ValueSet(SourceOperator))
	}
	state := State{InvoiceStatus: order.InvoiceUnpaid, Issued: in.Issued}
	return temporal.NewSearchAttributes(updates...), map[string]any{MemoState: state}
}

// startedWithAttributes tells whether the starter set StartAttributes.
func startedWithAttributes(ctx workflow.Context) bool {
	_, hasStatus := workflow.GetTypedSearchAttributes(ctx).GetKeyword(AttrOrderStatus)
	_, hasState := workflow.GetInfo(ctx).Memo.GetFields()[MemoState]
	return hasStatus && hasState
}

// SignalExtensionPaid carries an ExtensionPayment: an extension invoice (or
// offer) of the order is paid in lightningd.
const SignalExtensionPaid = "extension-paid"

// ExtensionPayment is what lightningd recorded for a paid extension, and
// what it bought. Label is the extension's invoice (offer) label: the
// workflow serves each label at most once.
type ExtensionPayment struct {
	N                  int       `json:"n"`
	Label              string    `json:"label"`
	Hours              int       `json:"hours"`
	PayIndex           uint64    `json:"pay_index"`
	PaidAt             time.Time `json:"paid_at"`
	AmountReceivedMsat uint64    `json:"amount_received_msat"`
	// MaxHours caps the order's paid hours, extensions included (the
	// plugin's configuration); 0: no cap.
	MaxHours int `json:"max_hours,omitempty"`
}

// StatusUnservedPayment is the OrderStatus of an UnservedPaymentWorkflow.
const StatusUnservedPayment = "unserved_payment"

// UnservedRecord is a payment that bought nothing, kept for the operator
// to refund: `lnplaylive orders unserved` lists them.
type UnservedRecord struct {
	OrderID    order.ID  `json:"order_id"`
	Label      string    `json:"label"`
	AmountMsat uint64    `json:"amount_msat"`
	PaidAt     time.Time `json:"paid_at"`
	Reason     string    `json:"reason"`
}

// MemoUnserved is the memo key of an UnservedPaymentWorkflow's record.
const MemoUnserved = "unserved"

// UnservedPaymentWorkflow records one unserved payment. It does nothing
// else: the record is its id (the payment's label, so one per payment),
// search attributes and memo, kept for the namespace's retention.
func UnservedPaymentWorkflow(ctx workflow.Context, rec UnservedRecord) (UnservedRecord, error) {
	return rec, nil
}

// UnservedStartOptions start the record of rec: one per label.
func UnservedStartOptions(rec UnservedRecord, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: "lnplaylive-unserved-" + strings.TrimPrefix(rec.Label, order.LabelPrefix), TaskQueue: taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(WithStatus(StatusUnservedPayment)),
		Memo:                                     map[string]any{MemoUnserved: rec},
	}
}
