package order

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ExtendRequest is what a customer asks extendorder for: H more hours of a
// provisioned order, paid by invoice or offer.
type ExtendRequest struct {
	ID          ID
	Hours       int
	PaymentType string
}

// ParseExtendOrder reads extendorder's params. Hours is checked against the
// products' maximum here; against the order's total paid time by the
// caller, which knows the order.
func ParseExtendOrder(params json.RawMessage, p Products) (ExtendRequest, error) {
	args, err := splitParams(params, extendOrderParams)
	if err != nil {
		return ExtendRequest{}, err
	}
	id, err := parseOrderID(args["invoice_id"])
	if err != nil {
		return ExtendRequest{}, err
	}
	hoursRange := fmt.Sprintf("a whole number from 1 to %d", p.MaxHours)
	hours, err := wholeNumber(args["hours"], "hours", hoursRange)
	if err != nil {
		return ExtendRequest{}, err
	}
	if hours < 1 || hours > p.MaxHours {
		return ExtendRequest{}, &ParamError{"hours", fmt.Sprintf("must be %s (got %d)", hoursRange, hours)}
	}
	paymentType, err := parsePaymentType(args["payment_type"], false)
	if err != nil {
		return ExtendRequest{}, err
	}
	return ExtendRequest{ID: id, Hours: hours, PaymentType: paymentType}, nil
}

// ExtensionPriceMsat is the price of H more hours of an order: its rate ×
// node count × H, as the order itself was priced.
func (p Products) ExtensionPriceMsat(nodeCount, hours int) uint64 {
	return p.PriceMsat(Request{NodeCount: nodeCount, Hours: hours})
}

// ExtensionLabel is the label of an order's n-th extension invoice (or
// offer): lightningd alone then tells which order it extends.
func ExtensionLabel(id ID, n int) string {
	return id.Label() + "-ext-" + strconv.Itoa(n)
}

// ExtensionFromLabel reads an extension label back; false for any other
// label, order labels included.
func ExtensionFromLabel(label string) (ID, int, bool) {
	head, num, ok := strings.Cut(strings.TrimPrefix(label, LabelPrefix), "-ext-")
	if !ok || !strings.HasPrefix(label, LabelPrefix) {
		return "", 0, false
	}
	id, ok := IDFromLabel(LabelPrefix + head)
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || strconv.Itoa(n) != num {
		return "", 0, false
	}
	return id, n, true
}

// ExtendDescription is an extension invoice's description: with the label,
// what lightningd keeps of what was bought.
func ExtendDescription(id ID, hours int) string {
	return fmt.Sprintf("lnplay.live - extend %s by %d hours.", id, hours)
}

// ParseExtendDescription is the inverse of ExtendDescription.
func ParseExtendDescription(s string) (ID, int, error) {
	notOurs := fmt.Errorf("invoice description %q is not an lnplaylive extension", s)
	rest, ok := strings.CutPrefix(s, "lnplay.live - extend ")
	if !ok {
		return "", 0, notOurs
	}
	rest, ok = strings.CutSuffix(rest, " hours.")
	if !ok {
		return "", 0, notOurs
	}
	idText, hoursText, ok := strings.Cut(rest, " by ")
	if !ok {
		return "", 0, notOurs
	}
	id, err := ParseID(idText)
	if err != nil || string(id) != idText {
		return "", 0, notOurs
	}
	hours, err := strconv.Atoi(hoursText)
	if err != nil || hours < 1 || strconv.Itoa(hours) != hoursText {
		return "", 0, notOurs
	}
	return id, hours, nil
}

// Extension is one paid extension of an order, as invoicestatus shows it.
type Extension struct {
	N          int    `json:"n"`
	Hours      int    `json:"hours"`
	AmountMsat uint64 `json:"amount_msat"`
	PaidAt     string `json:"paid_at"`
}

// UnservedPayment is a payment for an order that bought nothing: an
// extension paid after the order ended (a late relay after an outage), or
// one past the cap on paid time. The operator refunds it (`lnplaylive
// orders unserved`).
type UnservedPayment struct {
	Label      string `json:"label"`
	AmountMsat uint64 `json:"amount_msat"`
	PaidAt     string `json:"paid_at"`
	Reason     string `json:"reason"`
}

// Reasons an UnservedPayment bought nothing.
const (
	UnservedOrderEnded = "paid after the order ended"
	UnservedOverCap    = "over the cap on an order's paid hours"
)

// ExtendReply is the result of lnplaylive-extendorder: one of
// BOLT11Invoice and BOLT12Offer, by payment type.
type ExtendReply struct {
	InvoiceID   ID     `json:"invoice_id"`
	Extension   int    `json:"extension"`
	Hours       int    `json:"hours"`
	AmountMsat  uint64 `json:"amount_msat"`
	PaymentType string `json:"payment_type"`
	// Label is the invoice's (or offer's) label in lightningd.
	Label         string `json:"label"`
	BOLT11Invoice string `json:"bolt11_invoice,omitempty"`
	BOLT12Offer   string `json:"bolt12_offer,omitempty"`
	// ExpiresAt is when the invoice (offer) stops being payable: never
	// after the order's own end.
	ExpiresAt string `json:"expires_at"`
	// VMExpirationDateIfPaid is the order's end once this is paid.
	VMExpirationDateIfPaid string `json:"vm_expiration_date_if_paid"`
}

// ExtensionExpiry is how long an extension invoice may be paid for:
// min(limit, time left); zero when no time is left.
func ExtensionExpiry(limit time.Duration, now, end time.Time) time.Duration {
	return max(0, min(limit, end.Sub(now))).Truncate(time.Second)
}
