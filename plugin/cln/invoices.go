package cln

import (
	"context"
	"fmt"
)

// InvoiceRequest is the `invoice` command's params (schemas/invoice.json).
type InvoiceRequest struct {
	AmountMsat  uint64 `json:"amount_msat"`
	Label       string `json:"label"`
	Description string `json:"description"`
	Expiry      uint64 `json:"expiry,omitempty"`
}

// NewInvoice is the `invoice` result. Warnings are left out: a fresh regtest
// node always warns about inbound capacity, and the order does not depend on it.
type NewInvoice struct {
	Bolt11        string `json:"bolt11"`
	PaymentHash   string `json:"payment_hash"`
	PaymentSecret string `json:"payment_secret"`
	ExpiresAt     int64  `json:"expires_at"`
	CreatedIndex  uint64 `json:"created_index"`
}

// Invoice is one entry of listinvoices, and the result of waitanyinvoice.
type Invoice struct {
	Label              string `json:"label"`
	Bolt11             string `json:"bolt11,omitempty"`
	PaymentHash        string `json:"payment_hash"`
	AmountMsat         uint64 `json:"amount_msat,omitempty"`
	Status             string `json:"status"`
	Description        string `json:"description,omitempty"`
	ExpiresAt          int64  `json:"expires_at"`
	CreatedIndex       uint64 `json:"created_index"`
	UpdatedIndex       uint64 `json:"updated_index,omitempty"`
	PayIndex           uint64 `json:"pay_index,omitempty"`
	AmountReceivedMsat uint64 `json:"amount_received_msat,omitempty"`
	PaidAt             int64  `json:"paid_at,omitempty"`
	// LocalOfferID is set on invoices a payer fetched from one of our
	// offers; the offer's label then names the order.
	LocalOfferID string `json:"local_offer_id,omitempty"`
}

// Invoice statuses as lightningd reports them.
const (
	StatusUnpaid  = "unpaid"
	StatusPaid    = "paid"
	StatusExpired = "expired"
)

// CreateInvoice calls `invoice`.
func (c *Client) CreateInvoice(ctx context.Context, req InvoiceRequest) (NewInvoice, error) {
	var inv NewInvoice
	err := c.Call(ctx, "invoice", req, &inv)
	return inv, err
}

// InvoiceByLabel calls `listinvoices label=…`; found is false for an unknown label.
func (c *Client) InvoiceByLabel(ctx context.Context, label string) (inv Invoice, found bool, err error) {
	var res struct {
		Invoices []Invoice `json:"invoices"`
	}
	if err := c.Call(ctx, "listinvoices", map[string]any{"label": label}, &res); err != nil {
		return Invoice{}, false, err
	}
	switch len(res.Invoices) {
	case 0:
		return Invoice{}, false, nil
	case 1:
		return res.Invoices[0], true, nil
	default:
		return Invoice{}, false, fmt.Errorf("listinvoices: %d invoices for label %q", len(res.Invoices), label)
	}
}

// WaitAnyInvoice calls `waitanyinvoice`: the first invoice paid with a
// pay_index above lastPayIndex, blocking until there is one or timeoutSec
// passes (error code 904). timeoutSec 0 waits for ever.
func (c *Client) WaitAnyInvoice(ctx context.Context, lastPayIndex uint64, timeoutSec uint64) (Invoice, error) {
	params := map[string]any{"lastpay_index": lastPayIndex}
	if timeoutSec > 0 {
		params["timeout"] = timeoutSec
	}
	var inv Invoice
	err := c.Call(ctx, "waitanyinvoice", params, &inv)
	return inv, err
}

// DeleteInvoice calls `delinvoice`, which lightningd only performs while the
// invoice still has the given status.
func (c *Client) DeleteInvoice(ctx context.Context, label, status string) error {
	return c.Call(ctx, "delinvoice", map[string]any{"label": label, "status": status}, nil)
}

// ListInvoicesPage calls `listinvoices index=created start=… limit=…`: up to
// limit invoices in creation order, from created_index start.
func (c *Client) ListInvoicesPage(ctx context.Context, start uint64, limit int) ([]Invoice, error) {
	var res struct {
		Invoices []Invoice `json:"invoices"`
	}
	err := c.Call(ctx, "listinvoices", map[string]any{"index": "created", "start": start, "limit": limit}, &res)
	return res.Invoices, err
}
