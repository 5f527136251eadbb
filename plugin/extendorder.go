package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// extensionsKey lists, in lightningd's datastore, an order's extension
// numbers; each entry is made with must-create, so two concurrent
// extendorder calls never share a number (and so a label).
func extensionsKey(id order.ID) []string { return []string{"lnplaylive", "ext", string(id)} }

// maxExtensions bounds the extensions of one order: far more than any
// workshop buys, and a bound on what a caller can make lightningd store.
const maxExtensions = 200

// ExtendOrder is lnplaylive-extendorder: an invoice (or offer) for hours
// more of a provisioned order. Refusals create nothing.
func (s *Service) ExtendOrder(ctx context.Context, params json.RawMessage) (*order.ExtendReply, error) {
	req, err := order.ParseExtendOrder(params, s.cfg.Products)
	if err != nil {
		return nil, err
	}
	if req.PaymentType == order.PaymentTypeBolt12 && !s.cfg.Offers {
		return nil, errOffersDisabled
	}
	inv, found, err := s.paidInvoice(ctx, req.ID.Label())
	if err != nil {
		return nil, fmt.Errorf("look up order: %w", err)
	}
	if !found {
		return nil, order.ErrNoSuchOrder
	}
	if inv.Status != cln.StatusPaid {
		return nil, &order.ParamError{Param: "invoice_id", Message: fmt.Sprintf(
			"order %s is not paid (its invoice is %s); only a provisioned order can be extended", req.ID, inv.Status)}
	}
	bought, err := order.ParseDescription(inv.Description)
	if err != nil {
		return nil, fmt.Errorf("paid invoice %s: %w", inv.Label, err)
	}
	d, err := s.deployment(ctx, req.ID, inv)
	if err != nil {
		return nil, err
	}
	now := s.now()
	end, err := time.Parse(time.RFC3339, d.VMExpirationDate)
	if err != nil {
		return nil, fmt.Errorf("order %s: vm_expiration_date %q: %w", req.ID, d.VMExpirationDate, err)
	}
	if d.Status != order.Provisioned {
		return nil, &order.ParamError{Param: "invoice_id", Message: fmt.Sprintf(
			"order %s is %s; only a provisioned order can be extended", req.ID, d.Status)}
	}
	expiry := order.ExtensionExpiry(s.cfg.Products.InvoiceExpiry, now, end)
	if expiry < time.Second {
		return nil, &order.ParamError{Param: "invoice_id", Message: fmt.Sprintf(
			"order %s ended at %s; it can no longer be extended", req.ID, d.VMExpirationDate)}
	}
	paid := bought.Hours
	for _, e := range d.Extensions {
		paid += e.Hours
	}
	if paid+req.Hours > s.cfg.Products.MaxHours {
		return nil, &order.ParamError{Param: "hours", Message: fmt.Sprintf(
			"order %s has %d paid hours of at most %d; it can be extended by at most %d (got %d)",
			req.ID, paid, s.cfg.Products.MaxHours, max(0, s.cfg.Products.MaxHours-paid), req.Hours)}
	}
	n, err := s.nextExtension(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	label := order.ExtensionLabel(req.ID, n)
	amount := s.cfg.Products.ExtensionPriceMsat(bought.NodeCount, req.Hours)
	p, err := s.newPayment(ctx, req.PaymentType, label, order.ExtendDescription(req.ID, req.Hours), amount, expiry)
	if err != nil {
		return nil, err
	}
	s.log.Info("extension offered", "order", req.ID, "extension", n, "hours", req.Hours, "amount_msat", amount,
		"payment_type", p.paymentType)
	return &order.ExtendReply{
		InvoiceID: req.ID, Extension: n, Hours: req.Hours, AmountMsat: amount, PaymentType: p.paymentType,
		Label: label, BOLT11Invoice: p.bolt11, BOLT12Offer: p.bolt12, ExpiresAt: order.FormatTime(p.expiresAt),
		VMExpirationDateIfPaid: order.FormatTime(order.VMExpiration(end, req.Hours, s.cfg.DevHour)),
	}, nil
}

// nextExtension takes the order's next free extension number.
func (s *Service) nextExtension(ctx context.Context, id order.ID) (int, error) {
	taken, err := s.ln.ListStrings(ctx, extensionsKey(id))
	if err != nil {
		return 0, fmt.Errorf("list extensions: %w", err)
	}
	for n := len(taken) + 1; n <= maxExtensions; n++ {
		err := s.ln.PutString(ctx, append(extensionsKey(id), strconv.Itoa(n)), order.ExtensionLabel(id, n), cln.ModeMustCreate)
		if cln.IsCode(err, cln.CodeDatastoreExists) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("record extension %d: %w", n, err)
		}
		return n, nil
	}
	return 0, &order.ParamError{Param: "invoice_id", Message: fmt.Sprintf("order %s has %d extensions, the most one order may have", id, maxExtensions)}
}

// withUnserved adds to an ended order's deployment the extensions that
// lightningd says were paid and the workflow never served: paid after the
// order ended (a late relay, after an outage, to a workflow that was
// gone). lightningd is the record of payments; the workflow, of what they
// bought. d is not modified.
func (s *Service) withUnserved(ctx context.Context, id order.ID, d *order.Deployment) (*order.Deployment, error) {
	if d.Status != order.Expired && d.Status != order.Failed {
		return d, nil
	}
	taken, err := s.ln.ListStrings(ctx, extensionsKey(id))
	if err != nil || len(taken) == 0 {
		return d, err
	}
	known := map[string]bool{}
	for _, e := range d.Extensions {
		known[order.ExtensionLabel(id, e.N)] = true
	}
	for _, u := range d.UnservedPayments {
		known[u.Label] = true
	}
	var late []order.UnservedPayment
	for _, label := range taken {
		if known[label] {
			continue
		}
		inv, found, err := s.paidInvoice(ctx, label)
		if err != nil {
			return nil, fmt.Errorf("look up extension %s: %w", label, err)
		}
		if found && inv.Status == cln.StatusPaid {
			late = append(late, order.UnservedPayment{Label: label, AmountMsat: inv.AmountReceivedMsat,
				PaidAt: order.FormatTime(time.Unix(inv.PaidAt, 0)), Reason: order.UnservedOrderEnded})
		}
	}
	if len(late) == 0 {
		return d, nil
	}
	slices.SortFunc(late, func(a, b order.UnservedPayment) int { return cmpLabel(a.Label, b.Label) })
	out := *d
	out.UnservedPayments = append(slices.Clone(d.UnservedPayments), late...)
	return &out, nil
}

// cmpLabel orders extension labels by number.
func cmpLabel(a, b string) int {
	_, na, _ := order.ExtensionFromLabel(a)
	_, nb, _ := order.ExtensionFromLabel(b)
	return na - nb
}
