package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// What a customer pays: a BOLT11 invoice, or a single-use BOLT12 offer from
// which the wallet fetches an invoice. Either way the label names the order
// (or its extension): an invoice carries it, an offer carries it and its
// invoices point at the offer (local_offer_id).

// offerKey is where the plugin records, in lightningd's datastore, the offer
// it made under a label: listoffers cannot be asked by label, and
// invoicestatus must find an order's offer without scanning them all.
func offerKey(label string) []string { return []string{"lnplaylive", "offer", label} }

// offerRecord is the datastore value under offerKey.
type offerRecord struct {
	OfferID   string `json:"offer_id"`
	ExpiresAt int64  `json:"expires_at"`
}

// offerIssuer is the issuer a wallet shows for our offers.
const offerIssuer = "lnplay.live"

// issuerFor is an offer's issuer: ours, and the order (and extension) it
// pays. An offer's id is the hash of its fields, and two buyers of one
// shape in the same second would otherwise ask lightningd for the same
// offer ("Already exists, but isn't active", or worse, one buyer handed
// the other's). The description stays the shape alone, which rebuilds an
// order from the node; the buyer sees the order reference they hold.
func issuerFor(label string) string {
	if id, n, ok := order.ExtensionFromLabel(label); ok {
		return fmt.Sprintf("%s order %s extension %d", offerIssuer, id, n)
	}
	if id, ok := order.IDFromLabel(label); ok {
		return offerIssuer + " order " + string(id)
	}
	return offerIssuer
}

// payment is an invoice or an offer just made.
type payment struct {
	paymentType string
	label       string
	bolt11      string
	bolt12      string
	offerID     string
	expiresAt   time.Time
}

// errOffersDisabled refuses payment_type=bolt12 where this node sells no
// offers.
var errOffersDisabled = &order.ParamError{Param: "payment_type",
	Message: "bolt12 is not available on this node (offers are disabled: --lnplaylive-offers=false, or lightningd's offers plugin is off); use bolt11"}

// codeUnknownCommand is JSON-RPC's "method not found": lightningd without
// its offers plugin has no `offer` command.
const codeUnknownCommand = -32601

// newPayment makes the invoice or offer for label. Nothing is left behind
// on failure: an offer whose record cannot be written is disabled.
func (s *Service) newPayment(ctx context.Context, paymentType, label, description string, amount uint64, expiry time.Duration) (payment, error) {
	if paymentType != order.PaymentTypeBolt12 {
		inv, err := s.ln.CreateInvoice(ctx, cln.InvoiceRequest{
			AmountMsat: amount, Label: label, Description: description, Expiry: uint64(expiry / time.Second),
		})
		if err != nil {
			return payment{}, fmt.Errorf("create invoice: %w", err)
		}
		return payment{paymentType: order.PaymentTypeBolt11, label: label, bolt11: inv.Bolt11,
			expiresAt: time.Unix(inv.ExpiresAt, 0).UTC()}, nil
	}
	if !s.cfg.Offers {
		return payment{}, errOffersDisabled
	}
	expiresAt := s.now().Add(expiry).Truncate(time.Second).UTC()
	o, err := s.ln.CreateOffer(ctx, cln.OfferRequest{
		AmountMsat: amount, Description: description, Issuer: issuerFor(label), Label: label,
		AbsoluteExpiry: expiresAt.Unix(), SingleUse: true,
	})
	if cln.IsCode(err, codeUnknownCommand) {
		return payment{}, errOffersDisabled
	}
	if err != nil {
		return payment{}, fmt.Errorf("create offer: %w", err)
	}
	p := payment{paymentType: order.PaymentTypeBolt12, label: label, bolt12: o.Bolt12, offerID: o.OfferID, expiresAt: expiresAt}
	rec, _ := json.Marshal(offerRecord{OfferID: o.OfferID, ExpiresAt: expiresAt.Unix()})
	if err := s.ln.PutString(ctx, offerKey(label), string(rec), cln.ModeMustCreate); err != nil {
		s.withdraw(p)
		return payment{}, fmt.Errorf("record offer %s: %w", o.OfferID, err)
	}
	return p, nil
}

// withdraw takes back an invoice or offer never shown to the customer.
func (s *Service) withdraw(p payment) {
	// A fresh context: the caller's may be what ran out.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if p.paymentType == order.PaymentTypeBolt12 {
		err = s.ln.DisableOffer(ctx, p.offerID)
	} else {
		err = s.ln.DeleteInvoice(ctx, p.label, cln.StatusUnpaid)
	}
	if err != nil {
		s.log.Error("withdraw unshown invoice failed; a payment would still deploy through the follower",
			"label", p.label, "payment_type", p.paymentType, "error", err)
	}
}

// orderInvoice finds what pays an order: its invoice, or for bolt12 the
// invoice a wallet fetched from its offer and paid. An offer nobody paid
// yet answers as an invoice would: unpaid until its absolute expiry, then
// expired.
func (s *Service) orderInvoice(ctx context.Context, id order.ID, paymentType string) (cln.Invoice, bool, error) {
	if paymentType == order.PaymentTypeBolt12 {
		return s.offerInvoice(ctx, id.Label())
	}
	return s.ln.InvoiceByLabel(ctx, id.Label())
}

// offerInvoice is the paid invoice of the offer made under label, or the
// offer's state as an invoice's.
func (s *Service) offerInvoice(ctx context.Context, label string) (cln.Invoice, bool, error) {
	raw, found, err := s.ln.GetString(ctx, offerKey(label))
	if err != nil || !found {
		return cln.Invoice{}, false, err
	}
	var rec offerRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return cln.Invoice{}, false, fmt.Errorf("datastore %v: %w", offerKey(label), err)
	}
	invs, err := s.ln.InvoicesByOffer(ctx, rec.OfferID)
	if err != nil {
		return cln.Invoice{}, false, err
	}
	for _, inv := range invs {
		if inv.Status == cln.StatusPaid {
			return inv, true, nil
		}
	}
	inv := cln.Invoice{Label: label, Status: cln.StatusUnpaid, ExpiresAt: rec.ExpiresAt, LocalOfferID: rec.OfferID}
	if !s.now().Before(time.Unix(rec.ExpiresAt, 0)) {
		inv.Status = cln.StatusExpired
	}
	return inv, true, nil
}

// paidInvoice finds the invoice that paid label, whichever way it was sold.
func (s *Service) paidInvoice(ctx context.Context, label string) (cln.Invoice, bool, error) {
	inv, found, err := s.ln.InvoiceByLabel(ctx, label)
	if err != nil || found {
		return inv, found, err
	}
	return s.offerInvoice(ctx, label)
}
