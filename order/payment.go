package order

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// PaymentReply is the result of lnplaylive-payment: what a customer is
// asked to pay for an order, or for one of its extensions. A storefront
// shows it again on every visit of the order's page, so that the page's
// address alone (the order id) is enough to pay.
type PaymentReply struct {
	InvoiceID ID `json:"invoice_id"`
	// Extension is 0 for the order's own payment, n for its n-th extension.
	Extension   int    `json:"extension"`
	Label       string `json:"label"`
	PaymentType string `json:"payment_type"`
	// Status is unpaid, paid or expired, as lightningd says of the invoice
	// (of an offer: paid once an invoice fetched from it is paid).
	Status        InvoiceStatus `json:"status"`
	AmountMsat    uint64        `json:"amount_msat"`
	Description   string        `json:"description"`
	ExpiresAt     string        `json:"expires_at"`
	BOLT11Invoice string        `json:"bolt11_invoice,omitempty"`
	BOLT12Offer   string        `json:"bolt12_offer,omitempty"`
	// What it buys: the order's shape; for an extension, Hours alone.
	NodeCount int      `json:"node_count,omitempty"`
	Hours     int      `json:"hours"`
	Topology  Topology `json:"topology,omitempty"`
}

// ProductsReply is the result of lnplaylive-products: what is on sale, so
// a storefront can show prices before anything is bought.
type ProductsReply struct {
	Sizes                []SizePrice `json:"sizes"`
	MinHours             int         `json:"min_hours"`
	MaxHours             int         `json:"max_hours"`
	InvoiceExpirySeconds int         `json:"invoice_expiry_seconds"`
	Topologies           []Topology  `json:"topologies"`
	DefaultTopology      Topology    `json:"default_topology"`
	PaymentTypes         []string    `json:"payment_types"`
	// HourSeconds is the length of the hours sold: 3600, except in
	// development setups that shorten it.
	HourSeconds int `json:"hour_seconds"`
}

// SizePrice is one size on sale and its price per node-hour.
type SizePrice struct {
	NodeCount       int    `json:"node_count"`
	MsatPerNodeHour uint64 `json:"msat_per_node_hour"`
}

// Catalogue is what Products sells, as lnplaylive-products answers it.
// offers says whether BOLT12 is on sale; hour is the length of an hour.
func (p Products) Catalogue(offers bool, hour time.Duration) ProductsReply {
	r := ProductsReply{MinHours: p.MinHours, MaxHours: p.MaxHours,
		InvoiceExpirySeconds: int(p.InvoiceExpiry / time.Second),
		Topologies:           slices.Clone(Topologies), DefaultTopology: DefaultTopology,
		PaymentTypes: []string{PaymentTypeBolt11}, HourSeconds: 3600}
	if hour > 0 {
		r.HourSeconds = int(hour / time.Second)
	}
	if offers {
		r.PaymentTypes = append(r.PaymentTypes, PaymentTypeBolt12)
	}
	for _, n := range p.NodeCounts() {
		r.Sizes = append(r.Sizes, SizePrice{NodeCount: n, MsatPerNodeHour: p.RateMsat[n]})
	}
	return r
}

// Products is the inverse of Catalogue, for the storefront: the rules the
// plugin will apply to an order.
func (r ProductsReply) Products() Products {
	p := Products{RateMsat: map[int]uint64{}, MinHours: r.MinHours, MaxHours: r.MaxHours,
		InvoiceExpiry: time.Duration(r.InvoiceExpirySeconds) * time.Second}
	for _, s := range r.Sizes {
		p.RateMsat[s.NodeCount] = s.MsatPerNodeHour
	}
	return p
}

var paymentParams = []string{"invoice_id", "extension"}

// ParsePayment reads lnplaylive-payment's params: the order id, and an
// extension number (absent or 0: the order's own payment).
func ParsePayment(params json.RawMessage) (ID, int, error) {
	args, err := splitParams(params, paymentParams)
	if err != nil {
		return "", 0, err
	}
	id, err := parseOrderID(args["invoice_id"])
	if err != nil {
		return "", 0, err
	}
	n := 0
	if args["extension"] != nil {
		if n, err = wholeNumber(args["extension"], "extension", "an extension number (1, 2, …) or 0 for the order itself"); err != nil {
			return "", 0, err
		}
		if n < 0 {
			return "", 0, &ParamError{"extension", fmt.Sprintf("must be an extension number (1, 2, …) or 0 for the order itself (got %d)", n)}
		}
	}
	return id, n, nil
}
