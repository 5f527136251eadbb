package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// Why an index: invoicestatus is polled every second by every open order
// page, and the plugin made every invoice and offer it is asked about and
// sees every payment. So it answers an order's invoice state from memory:
// unpaid until paid or past its expiry, then paid. lightningd is asked
// only for what the index cannot know:
//   - an order it does not hold (made by another plugin instance on this
//     node, older than the index, or already ended and dropped);
//   - an unpaid order at or past its expiry, once, to confirm it expired
//     rather than was paid a moment before (the payment's notification may
//     still be on its way): "expired" is final, so it must be right;
//   - anything while the index is being rebuilt at start.
//
// The index is rebuilt on start from lightningd (the offer records in its
// datastore, then listinvoices paged by created_index) and follows payments
// on a connection of its own, from the payment follower's stored position:
// every payment at or below it was made before the listing began, so the
// listing shows it; every one after it reaches the index's follower. It is
// bounded: orders leave it when they end (their invoice expired, or their
// deployment ended), and paid orders older than the longest an order can
// run are never loaded.

// indexEntry is what the index knows of one order's payment.
type indexEntry struct {
	paymentType string
	// inv is the order's invoice as listinvoices would show it; for an
	// offer, the paid invoice fetched from it, or until then a stand-in
	// with the offer's expiry (what offerInvoice answers). Either way an
	// offer's id is its LocalOfferID.
	inv cln.Invoice
	// reply is the last answer made from this entry, marshalled, and
	// what it was made of: an entry is replaced, never changed, when the
	// order's invoice state changes, and a pushed state replaces its
	// deployment; so an answer from the same entry and deployment is the
	// same bytes, and is sent again rather than marshalled again.
	reply atomic.Pointer[cachedReply]
}

type cachedReply struct {
	paymentType string
	deployment  *order.Deployment
	json        json.RawMessage
}

// cached is the answer made from e for this payment type and deployment,
// or nil.
func (e *indexEntry) cached(paymentType string, d *order.Deployment) json.RawMessage {
	if c := e.reply.Load(); c != nil && c.paymentType == paymentType && c.deployment == d {
		return c.json
	}
	return nil
}

// invoiceIndex is the plugin's memory of its orders' invoice states.
type invoiceIndex struct {
	now func() time.Time
	// window: a paid order older than this has ended, whatever it bought
	// (the most hours an order may have, extensions included, and a margin
	// for a wait in the capacity queue).
	window time.Duration

	mu      sync.RWMutex
	ready   bool
	byID    map[order.ID]*indexEntry
	byOffer map[string]order.ID
	swept   time.Time
}

func newInvoiceIndex(now func() time.Time, window time.Duration) *invoiceIndex {
	return &invoiceIndex{now: now, window: window, byID: map[order.ID]*indexEntry{}, byOffer: map[string]order.ID{}}
}

// indexGrace is how long an ended order's answer stays in memory before
// polls of it are answered the slow way.
const indexGrace = 10 * time.Minute

// lookup answers from memory. known is false when lightningd must be
// asked: the order is not held, the index is not built yet, or an unpaid
// order reached its expiry and lightningd has not confirmed it.
func (x *invoiceIndex) lookup(id order.ID, paymentType string) (e *indexEntry, found, known bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e = x.byID[id]
	if !x.ready || e == nil {
		return nil, false, false
	}
	if e.paymentType != paymentType {
		// Asked by the other payment type, lightningd finds nothing.
		return nil, false, true
	}
	if e.inv.Status == cln.StatusUnpaid && !x.now().Before(time.Unix(e.inv.ExpiresAt, 0)) {
		return nil, false, false
	}
	return e, true, true
}

// add records an order just sold: unpaid until its expiry. Only the
// status and the expiry of an unpaid invoice are ever answered (what
// offerInvoice makes of an unpaid offer too); a paid one is recorded whole.
func (x *invoiceIndex) add(id order.ID, p payment) {
	inv := cln.Invoice{Label: p.label, Status: cln.StatusUnpaid, ExpiresAt: p.expiresAt.Unix(), LocalOfferID: p.offerID}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.putLocked(id, &indexEntry{paymentType: p.paymentType, inv: inv})
}

// putLocked stores e unless what is held is final (paid, expired) and e
// is not: a listing older than a payment never undoes it.
func (x *invoiceIndex) putLocked(id order.ID, e *indexEntry) {
	if old := x.byID[id]; old != nil && old.inv.Status != cln.StatusUnpaid && e.inv.Status == cln.StatusUnpaid {
		return
	}
	x.byID[id] = e
	if e.inv.LocalOfferID != "" {
		x.byOffer[e.inv.LocalOfferID] = id
	}
	x.sweepLocked()
}

// paid records a paid invoice, as waitanyinvoice or listinvoices shows it:
// an order's own, or one fetched from an order's offer.
func (x *invoiceIndex) paid(inv cln.Invoice) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.now().Sub(time.Unix(inv.PaidAt, 0)) > x.window {
		return // its order has ended, whatever it bought
	}
	if inv.LocalOfferID != "" {
		id, ok := x.byOffer[inv.LocalOfferID]
		if !ok {
			return // not an order's offer (an extension's, or not ours)
		}
		x.putLocked(id, &indexEntry{paymentType: order.PaymentTypeBolt12, inv: inv})
		return
	}
	if id, ok := order.IDFromLabel(inv.Label); ok {
		x.putLocked(id, &indexEntry{paymentType: order.PaymentTypeBolt11, inv: inv})
	}
}

// listed records an invoice as listinvoices shows it while the index is
// rebuilt: an order's own, or one paid from an order's offer.
func (x *invoiceIndex) listed(inv cln.Invoice) {
	switch inv.Status {
	case cln.StatusPaid:
		x.paid(inv)
	case cln.StatusUnpaid:
		if id, ok := order.IDFromLabel(inv.Label); ok && inv.LocalOfferID == "" {
			x.mu.Lock()
			defer x.mu.Unlock()
			x.putLocked(id, &indexEntry{paymentType: order.PaymentTypeBolt11, inv: inv})
		}
	}
}

// paidIDs are the orders the index holds as paid: those that may be
// provisioned now.
func (x *invoiceIndex) paidIDs() []order.ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var ids []order.ID
	for id, e := range x.byID {
		if e.inv.Status == cln.StatusPaid {
			ids = append(ids, id)
		}
	}
	return ids
}

// confirm keeps what lightningd said of an order the index holds (the
// slow path's answer), so an expiry is asked once.
func (x *invoiceIndex) confirm(id order.ID, paymentType string, inv cln.Invoice, found bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byID[id]
	if e == nil || e.paymentType != paymentType || !found || inv.Status == cln.StatusUnpaid {
		return
	}
	if inv.LocalOfferID == "" {
		inv.LocalOfferID = e.inv.LocalOfferID
	}
	x.putLocked(id, &indexEntry{paymentType: paymentType, inv: inv})
}

// forget drops an order that has ended: its later polls ask lightningd,
// which also finds payments made after its end.
func (x *invoiceIndex) forget(id order.ID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(id)
}

func (x *invoiceIndex) dropLocked(id order.ID) {
	if e := x.byID[id]; e != nil {
		delete(x.byOffer, e.inv.LocalOfferID)
		delete(x.byID, id)
	}
}

// sweepLocked drops, at most once a minute, orders whose invoice expired
// indexGrace ago and paid orders older than the window.
func (x *invoiceIndex) sweepLocked() {
	now := x.now()
	if now.Sub(x.swept) < time.Minute {
		return
	}
	x.swept = now
	for id, e := range x.byID {
		if x.endedLocked(e, now) {
			x.dropLocked(id)
		}
	}
}

func (x *invoiceIndex) endedLocked(e *indexEntry, now time.Time) bool {
	if e.inv.Status == cln.StatusPaid {
		return now.Sub(time.Unix(e.inv.PaidAt, 0)) > x.window
	}
	return now.Sub(time.Unix(e.inv.ExpiresAt, 0)) > indexGrace
}

// setReady starts (or, when the index stops following, ends) answering
// from memory.
func (x *invoiceIndex) setReady(ready bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ready = ready
}

// len is the number of orders held (tests and the bench).
func (x *invoiceIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// IndexSource is the part of lightningd the index is built from and
// follows; it needs a connection of its own, since waitanyinvoice blocks.
type IndexSource interface {
	PaymentSource
	ListInvoicesPage(ctx context.Context, start uint64, limit int) ([]cln.Invoice, error)
	ListStrings(ctx context.Context, key []string) (map[string]string, error)
}

// indexPage is how many invoices one listinvoices call returns while the
// index is rebuilt: small enough to never hold lightningd's RPC for long.
const indexPage = 1000

// RunIndex rebuilds the index from lightningd and then keeps it current
// until ctx ends. Until it is rebuilt, every status is answered the slow
// way.
func (s *Service) RunIndex(ctx context.Context, src IndexSource) error {
	f := &Follower{src: src, log: s.log, MinBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}
	var from uint64
	if err := f.retry(ctx, "read stored pay_index", func() error {
		var err error
		from, err = f.loadIndex(ctx)
		return err
	}); err != nil {
		return err
	}
	// An index that stops following payments would answer "unpaid" for
	// a paid order: it stops answering at all.
	defer s.index.setReady(false)
	start := s.now()
	if err := f.retry(ctx, "list offers", func() error { return s.loadOffers(ctx, src) }); err != nil {
		return err
	}
	follow := make(chan error, 1)
	go func() { follow <- s.followPayments(ctx, f, src, from) }()
	n := 0
	if err := f.retry(ctx, "list invoices", func() error {
		var err error
		n, err = s.loadInvoices(ctx, src)
		return err
	}); err != nil {
		return err
	}
	select {
	case err := <-follow:
		return err
	default:
	}
	s.index.setReady(true)
	s.log.Info("invoice index built: statuses are answered from memory",
		"orders", s.index.len(), "invoices_listed", n, "took", s.now().Sub(start).Round(time.Millisecond))
	return <-follow
}

// loadOffers registers the offers of orders that may still be running,
// from the records newPayment keeps (one listdatastore call).
func (s *Service) loadOffers(ctx context.Context, src IndexSource) error {
	recs, err := src.ListStrings(ctx, offerKey("")[:2])
	if err != nil {
		return fmt.Errorf("listdatastore %v: %w", offerKey("")[:2], err)
	}
	now := s.now()
	for label, raw := range recs {
		id, ok := order.IDFromLabel(label)
		if !ok {
			continue // an extension's offer: statuses never ask for it
		}
		var rec offerRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return fmt.Errorf("datastore %v: %w", offerKey(label), err)
		}
		// An offer is paid before it expires: one that expired longer ago
		// than an order can run cannot belong to a running order.
		if now.Sub(time.Unix(rec.ExpiresAt, 0)) > s.index.window {
			continue
		}
		s.index.add(id, payment{paymentType: order.PaymentTypeBolt12, label: label, offerID: rec.OfferID,
			expiresAt: time.Unix(rec.ExpiresAt, 0)})
	}
	return nil
}

// loadInvoices pages through listinvoices and records the orders' invoices
// and the invoices paid from their offers. It returns how many it read.
func (s *Service) loadInvoices(ctx context.Context, src IndexSource) (int, error) {
	n := 0
	for next := uint64(1); ; {
		page, err := src.ListInvoicesPage(ctx, next, indexPage)
		if err != nil {
			return n, fmt.Errorf("listinvoices from created_index %d: %w", next, err)
		}
		for _, inv := range page {
			next = max(next, inv.CreatedIndex+1)
			s.index.listed(inv)
		}
		n += len(page)
		if len(page) < indexPage {
			return n, nil
		}
	}
}

// followPayments records every payment after pay_index from, until ctx
// ends or lightningd's connection closes.
func (s *Service) followPayments(ctx context.Context, f *Follower, src IndexSource, from uint64) error {
	for last := from; ; {
		var inv cln.Invoice
		err := f.retry(ctx, "waitanyinvoice (index)", func() error {
			var err error
			inv, err = src.WaitAnyInvoice(ctx, last, 0)
			if errors.Is(err, cln.ErrClosed) {
				return permanent{err}
			}
			return err
		})
		if err != nil {
			return err
		}
		s.index.paid(inv)
		last = inv.PayIndex
	}
}

// logIndexStop reports why the index stopped following; statuses are then
// answered the slow way until the plugin restarts.
func logIndexStop(log *slog.Logger, err error) {
	log.Error("invoice index stopped; statuses are answered by asking lightningd until the plugin restarts", "error", err)
}
