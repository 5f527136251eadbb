package storefront

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
)

// The hub asks the node for an order's status at most once per interval,
// however many pages and event streams watch the order: one poll per open
// order, not one per visitor. It polls only while someone watches (an
// event stream is open); a page load between polls is answered from the
// last one.

// snapshot is one answer for an order, rendered once for all its watchers.
type snapshot struct {
	status  status
	payment *order.PaymentReply // the order's own payment, until it is paid
	// fragment is the order page's live part as HTML, and version a hash
	// of what it shows: a watcher is sent a snapshot only when the version
	// moves.
	fragment []byte
	version  string
}

// renderFunc renders a snapshot's fragment.
type renderFunc func(*snapshot) ([]byte, error)

// saltFunc names what else a fragment depends on (the price list it
// shows), so that a change of it renders the fragment again.
type saltFunc func() string

type hub struct {
	node     Node
	render   renderFunc
	salt     saltFunc
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	watches map[order.ID]*watch
}

// watch is one order's polling and its watchers.
type watch struct {
	id     order.ID
	subs   map[chan struct{}]struct{}
	latest *snapshot
	// answered is when the last fetch's answer came back: the next one
	// starts at least an interval later, so lightningd never sees two
	// within an interval, however its socket delays them. inflight is
	// closed when a fetch ends.
	answered time.Time
	inflight chan struct{}
	err      error
	polling  bool
	payment  *order.PaymentReply // fixed once fetched: only its status changes
}

func newHub(node Node, render renderFunc, salt saltFunc, interval time.Duration, log *slog.Logger) *hub {
	return &hub{node: node, render: render, salt: salt, interval: interval, log: log, watches: map[order.ID]*watch{}}
}

// get returns the order's latest snapshot, fetching one if the last is
// older than the interval.
func (h *hub) get(ctx context.Context, id order.ID) (*snapshot, error) {
	h.mu.Lock()
	w := h.watches[id]
	if w == nil {
		w = &watch{id: id, subs: map[chan struct{}]struct{}{}}
		h.watches[id] = w
	}
	h.mu.Unlock()
	return h.fetch(ctx, w)
}

// fetch returns w's snapshot, asking the node unless one was asked for
// less than an interval ago (then it waits for that one).
func (h *hub) fetch(ctx context.Context, w *watch) (*snapshot, error) {
	h.mu.Lock()
	for {
		if w.inflight != nil {
			ch := w.inflight
			h.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			h.mu.Lock()
			continue
		}
		if w.latest != nil && time.Since(w.answered) < h.interval {
			s := w.latest
			h.mu.Unlock()
			return s, nil
		}
		if w.err != nil && time.Since(w.answered) < h.interval {
			err := w.err
			h.mu.Unlock()
			return nil, err
		}
		break
	}
	w.inflight = make(chan struct{})
	payment, prev := w.payment, ""
	if w.latest != nil {
		prev = w.latest.version
	}
	h.mu.Unlock()

	s, pay, err := h.ask(ctx, w.id, payment, prev)

	h.mu.Lock()
	w.answered = time.Now()
	close(w.inflight)
	w.inflight = nil
	w.err = err
	if err == nil {
		w.payment = pay
		if w.latest == nil || w.latest.version != s.version {
			w.latest = s
			for ch := range w.subs {
				select {
				case ch <- struct{}{}:
				default: // it has a wake-up pending: it reads latest then
				}
			}
		}
		s = w.latest
	}
	h.forgetIdle(w)
	h.mu.Unlock()
	return s, err
}

// forgetIdle drops a watch nobody watches once its answer is stale, so
// the hub holds only open orders. Called with h.mu held.
func (h *hub) forgetIdle(w *watch) {
	if len(w.subs) > 0 || w.polling {
		return
	}
	time.AfterFunc(h.interval, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(w.subs) == 0 && !w.polling && w.inflight == nil && time.Since(w.answered) >= h.interval && h.watches[w.id] == w {
			delete(h.watches, w.id)
		}
	})
}

// ask calls the node: once, what the order asks to be paid (its payment
// type says how to ask for its status, and an invoice does not change),
// then its status. The fragment is rendered only when the answer differs
// from the last one (prev is its version): an unchanged order costs no
// rendering, however often it is polled.
func (h *hub) ask(ctx context.Context, id order.ID, payment *order.PaymentReply, prev string) (*snapshot, *order.PaymentReply, error) {
	if payment == nil {
		payment = new(order.PaymentReply)
		if err := call(ctx, h.node, methodPayment, map[string]any{"invoice_id": id}, payment); err != nil {
			return nil, nil, err
		}
	}
	var st status
	if err := call(ctx, h.node, methodInvoiceStatus, map[string]any{"payment_type": payment.PaymentType, "invoice_id": id}, &st); err != nil {
		return nil, nil, err
	}
	s := &snapshot{status: st}
	if st.InvoiceStatus != order.InvoicePaid {
		s.payment = payment
	}
	key, err := json.Marshal(struct {
		Status  status
		Payment *order.PaymentReply
		Salt    string
	}{st, s.payment, h.salt()})
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(key)
	if s.version = base64.RawURLEncoding.EncodeToString(sum[:12]); s.version == prev {
		return s, payment, nil
	}
	if s.fragment, err = h.render(s); err != nil {
		return nil, nil, err
	}
	return s, payment, nil
}

// subscribe registers a watcher of id: wake receives a value whenever a
// newer snapshot is there to read with get. The order is polled until
// the last watcher calls cancel.
func (h *hub) subscribe(id order.ID) (wake <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	w := h.watches[id]
	if w == nil {
		w = &watch{id: id, subs: map[chan struct{}]struct{}{}}
		h.watches[id] = w
	}
	w.subs[ch] = struct{}{}
	if !w.polling {
		w.polling = true
		go h.poll(w)
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(w.subs, ch)
		h.mu.Unlock()
	}
}

// poll keeps w's snapshot fresh while it has watchers. An order that can
// no longer change by itself (an expired invoice, an ended order) is asked
// less often.
func (h *hub) poll(w *watch) {
	for {
		h.mu.Lock()
		if len(w.subs) == 0 {
			w.polling = false
			h.forgetIdle(w)
			h.mu.Unlock()
			return
		}
		wait := h.interval - time.Since(w.answered)
		if s := w.latest; s != nil && settled(s.status) {
			wait = 10*h.interval - time.Since(w.answered)
		}
		h.mu.Unlock()
		if wait > 0 {
			time.Sleep(wait)
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		_, err := h.fetch(ctx, w)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			h.log.Warn("order status poll failed", "order", w.id, "error", err)
		}
	}
}

// settled tells a status that nothing but an operator changes.
func settled(s status) bool {
	return s.InvoiceStatus == order.InvoiceExpired || (s.Deployment() != nil && s.Deployment().Status == order.Expired)
}

// event is what an event stream sends: the fragment and its version.
func (s *snapshot) event() []byte {
	ext := []int{}
	if d := s.status.Deployment(); d != nil {
		for _, e := range d.Extensions {
			ext = append(ext, e.N)
		}
	}
	b, _ := json.Marshal(struct {
		Version    string `json:"version"`
		State      string `json:"state"`
		Extensions []int  `json:"extensions"` // the extensions served

		HTML string `json:"html"`
	}{s.version, pageState(s.status), ext, string(s.fragment)})
	return b
}
