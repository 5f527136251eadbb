package order

import (
	"encoding/json"
	"fmt"
	"time"
)

// InvoiceStatus is the SPEC §3 invoice_status.
type InvoiceStatus string

const (
	InvoiceUnpaid  InvoiceStatus = "unpaid"
	InvoicePaid    InvoiceStatus = "paid"
	InvoiceExpired InvoiceStatus = "expired"
)

// DeploymentStatus is the SPEC §3 deployment_details.status.
type DeploymentStatus string

const (
	StartingDeployment DeploymentStatus = "starting_deployment"
	Provisioned        DeploymentStatus = "provisioned"
	Expired            DeploymentStatus = "expired"
	Failed             DeploymentStatus = "failed"
)

// NotDeployed is deployment_details before payment.
const NotDeployed = "not_deployed"

// PluginVersion is reported as lnlive_plugin_version.
const PluginVersion = "v0.1.0"

// DeploymentSteps are the progress steps of a deployment, in the order
// they come: the workflow's, the bootstrap's over SSH, its script's, and
// the runes.
var DeploymentSteps = []string{StepQueued, "acquiring_host", "bootstrapping", "connecting", "waiting_for_ssh", "waiting_for_cloud_init",
	"uploading", "starting_containers", "waiting_for_bitcoind", "waiting_for_nodes", "funding_nodes", "connecting_nodes",
	"opening_channels", "confirming_channels", "checking_routes", "done", "creating_runes"}

// Progress tells the customer how far a deployment got.
type Progress struct {
	Step       string `json:"step"`
	NodesReady int    `json:"nodes_ready"`
	NodeCount  int    `json:"node_count"`
	// Position and EstimatedStart are set while Step is StepQueued: the
	// order is paid and waits for capacity, first come first served.
	// Position 1 is next; EstimatedStart (RFC 3339) is when capacity is
	// expected, absent until there is an estimate.
	Position       int    `json:"position,omitempty"`
	EstimatedStart string `json:"estimated_start,omitempty"`
	// Source says how the playground comes: "warm" (built ahead, claimed
	// from the warm pool: only its runes are left to make) or "cold"
	// (built for this order). Absent while queued.
	Source string `json:"source,omitempty"`
}

// StepQueued is the progress step of a paid order waiting for capacity.
const StepQueued = "queued"

// Describe is the progress in words, for operators' terminals.
func (p Progress) Describe() string {
	if p.Step != StepQueued {
		return fmt.Sprintf("%s (%d/%d nodes)", p.Step, p.NodesReady, p.NodeCount)
	}
	s := fmt.Sprintf("queued: number %d in line for capacity", p.Position)
	if p.EstimatedStart != "" {
		s += ", expected at " + p.EstimatedStart
	}
	return s
}

// Node is one node of a provisioned playground (SPEC §6): what an attendee
// needs to open it in Clams.
type Node struct {
	Index   int    `json:"index"`
	Alias   string `json:"alias"`
	ID      string `json:"id"`
	Host    string `json:"host"`
	WSPort  int    `json:"ws_port"`
	P2PPort int    `json:"p2p_port"`
	Rune    string `json:"rune"`
	// ClamsURL is the Clams Remote 2.x link through Clams's proxy.
	ClamsURL string `json:"clams_url"`
}

// Deployment is deployment_details once an order is paid.
type Deployment struct {
	PluginVersion    string           `json:"lnlive_plugin_version"`
	VMExpirationDate string           `json:"vm_expiration_date"`
	Status           DeploymentStatus `json:"status"`
	// ConnectionStrings is always a JSON array: [] until the nodes exist
	// and after they are withdrawn (SPEC §3). The original front end reads
	// its length while the order deploys, and throws on a missing field.
	ConnectionStrings []string  `json:"connection_strings"`
	Nodes             []Node    `json:"nodes,omitempty"`
	Topology          Topology  `json:"topology,omitempty"`
	Progress          *Progress `json:"progress,omitempty"`
	Error             string    `json:"error,omitempty"`
	// Extensions are the paid extensions, in the order they were served;
	// VMExpirationDate includes them.
	Extensions []Extension `json:"extensions,omitempty"`
	// UnservedPayments are payments that extended nothing: refunds due.
	UnservedPayments []UnservedPayment `json:"unserved_payments,omitempty"`
}

// MarshalJSON writes ConnectionStrings as [] rather than null when there
// are none.
func (d Deployment) MarshalJSON() ([]byte, error) {
	type plain Deployment
	p := plain(d)
	if p.ConnectionStrings == nil {
		p.ConnectionStrings = []string{}
	}
	return json.Marshal(p)
}

// StatusReply is the result of lnplaylive-invoicestatus. DeploymentDetails is
// either NotDeployed or a *Deployment, as SPEC §3 shows.
type StatusReply struct {
	InvoiceID         ID            `json:"invoice_id"`
	PaymentType       string        `json:"payment_type"`
	InvoiceStatus     InvoiceStatus `json:"invoice_status"`
	DeploymentDetails any           `json:"deployment_details"`
}

// UnmarshalJSON reads a reply as a client gets it: DeploymentDetails
// becomes NotDeployed or a *Deployment, as the plugin sent it.
func (r *StatusReply) UnmarshalJSON(b []byte) error {
	type plain StatusReply
	var raw struct {
		plain
		Details json.RawMessage `json:"deployment_details"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = StatusReply(raw.plain)
	r.DeploymentDetails = NotDeployed
	if len(raw.Details) > 0 && raw.Details[0] == '{' {
		d := new(Deployment)
		if err := json.Unmarshal(raw.Details, d); err != nil {
			return fmt.Errorf("deployment_details: %w", err)
		}
		r.DeploymentDetails = d
	}
	return nil
}

// Deployment is the reply's deployment, nil before payment.
func (r StatusReply) Deployment() *Deployment {
	d, _ := r.DeploymentDetails.(*Deployment)
	return d
}

// CreateReply is the result of lnplaylive-createorder.
type CreateReply struct {
	NodeCount    int    `json:"node_count"`
	Hours        int    `json:"hours"`
	ExpiresAfter string `json:"expires_after"`
	// BOLT11InvoiceID is the order id, whatever the payment type (SPEC §2
	// names it after the first one).
	BOLT11InvoiceID ID     `json:"bolt11_invoice_id"`
	BOLT11Invoice   string `json:"bolt11_invoice,omitempty"`
	// BOLT12Offer is the single-use offer of a payment_type=bolt12 order,
	// in place of BOLT11Invoice.
	BOLT12Offer string `json:"bolt12_offer,omitempty"`
	// Topology is the channels bought (an addition to SPEC §2's shape).
	Topology Topology `json:"topology"`
}

// FormatTime renders SPEC timestamps: UTC, RFC 3339, whole seconds, "Z".
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// VMExpiration is when a paid order's environment is deleted: payment time
// plus the hours bought. hour is the length of an hour: time.Hour, except in
// development setups that shorten it to watch orders expire (0 means an hour).
func VMExpiration(paidAt time.Time, hours int, hour time.Duration) time.Time {
	if hour <= 0 {
		hour = time.Hour
	}
	return paidAt.Add(time.Duration(hours) * hour)
}
