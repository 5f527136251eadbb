package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// The methods a storefront needs beside the order methods: what is on
// sale, what an order asks to be paid, and (for its attendees' websocket
// proxy) which live order a node address belongs to. All only read.

// Products is lnplaylive-products: the sizes and their prices, the hours
// and the payment types on sale.
func (s *Service) Products(context.Context, json.RawMessage) (*order.ProductsReply, error) {
	r := s.cfg.Products.Catalogue(s.cfg.Offers, s.cfg.DevHour)
	return &r, nil
}

// Payment is lnplaylive-payment: the invoice (or offer) of an order or of
// one of its extensions, as the customer was first shown it, with its
// state. The order id is the bearer: whoever holds it may pay.
func (s *Service) Payment(ctx context.Context, params json.RawMessage) (*order.PaymentReply, error) {
	id, n, err := order.ParsePayment(params)
	if err != nil {
		return nil, err
	}
	label := id.Label()
	if n > 0 {
		label = order.ExtensionLabel(id, n)
	}
	r := &order.PaymentReply{InvoiceID: id, Extension: n, Label: label}
	inv, found, err := s.ln.InvoiceByLabel(ctx, label)
	if err != nil {
		return nil, fmt.Errorf("look up invoice: %w", err)
	}
	if found {
		r.PaymentType, r.BOLT11Invoice = order.PaymentTypeBolt11, inv.Bolt11
		r.AmountMsat, r.Description = inv.AmountMsat, inv.Description
	} else {
		if inv, found, err = s.offerInvoice(ctx, label); err != nil {
			return nil, fmt.Errorf("look up offer: %w", err)
		}
		if !found {
			return nil, order.ErrNoSuchOrder
		}
		o, ok, err := s.ln.OfferByID(ctx, inv.LocalOfferID)
		if err != nil {
			return nil, fmt.Errorf("look up offer %s of %s: %w", inv.LocalOfferID, label, err)
		}
		if !ok {
			return nil, fmt.Errorf("offer %s of %s is recorded but lightningd does not list it", inv.LocalOfferID, label)
		}
		d, err := s.ln.DecodeOffer(ctx, o.Bolt12)
		if err != nil {
			return nil, fmt.Errorf("offer of %s: %w", label, err)
		}
		r.PaymentType, r.BOLT12Offer = order.PaymentTypeBolt12, o.Bolt12
		r.AmountMsat, r.Description = d.AmountMsat, d.Description
		if inv.Status != cln.StatusPaid {
			inv.ExpiresAt = d.AbsoluteExpiry
		}
	}
	r.Status = order.InvoiceStatus(inv.Status)
	r.ExpiresAt = order.FormatTime(time.Unix(inv.ExpiresAt, 0))
	if n > 0 {
		_, r.Hours, err = order.ParseExtendDescription(r.Description)
	} else {
		var req order.Request
		req, err = order.ParseDescription(r.Description)
		r.NodeCount, r.Hours, r.Topology = req.NodeCount, req.Hours, req.Topology.OrDefault()
	}
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", label, err)
	}
	return r, nil
}

// ProxyTarget is lnplaylive-proxytarget: the provisioned, unexpired order
// with a node whose Lightning port is at the address, from the states the
// orders pushed to this plugin. Anything else is ErrNotALiveNode, so the
// proxy relays to no other address: it is never an open relay.
func (s *Service) ProxyTarget(ctx context.Context, params json.RawMessage) (*order.ProxyTargetReply, error) {
	host, port, err := order.ParseProxyTarget(params)
	if err != nil {
		return nil, err
	}
	if r, ok := s.states.nodeAt(host, port, s.now()); ok {
		return &r, nil
	}
	if r, ok := s.nodeOfPaidOrder(ctx, host, port); ok {
		return &r, nil
	}
	return nil, order.ErrNotALiveNode
}

// proxyScanEvery bounds the scans of nodeOfPaidOrder: a scanner trying
// address after address costs one scan in this interval, not one each.
const proxyScanEvery = 5 * time.Second

// nodeOfPaidOrder looks among the paid orders whose state this plugin does
// not hold (it was restarted since they last changed, and no page has
// asked for them since): their states are read once each (the status
// cache's own reads), and searched for the address.
func (s *Service) nodeOfPaidOrder(ctx context.Context, host string, port int) (order.ProxyTargetReply, bool) {
	now := s.now()
	if last := s.lastProxyScan.Load(); last != 0 && now.Sub(time.Unix(0, last)) < proxyScanEvery {
		return order.ProxyTargetReply{}, false
	}
	s.lastProxyScan.Store(now.UnixNano())
	for _, id := range s.index.paidIDs() {
		if s.states.holds(id) {
			continue // already searched by nodeAt
		}
		st, err := s.statuses.get(ctx, id)
		d := st.Deployment
		if err != nil || d == nil || d.Status != order.Provisioned || overdue(d, now) {
			continue
		}
		for _, n := range d.Nodes {
			if n.P2PPort == port && n.Host == host {
				return order.ProxyTargetReply{InvoiceID: id, Node: n.Index, Until: d.VMExpirationDate}, true
			}
		}
	}
	return order.ProxyTargetReply{}, false
}
