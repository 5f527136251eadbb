package storefront

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/lnplaylive/lnplaylive/order"
)

// pageData is what every page template gets.
type pageData struct {
	Title  string
	Prefix string
	// Refresh, when set, reloads the page that often without JavaScript;
	// RefreshOff offers a link that stops it.
	Refresh    int
	RefreshOff bool
	Error      *errorPage

	Buy   *buyView
	Order *orderView
	Pay   *payView
}

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{"hoursText": hoursText, "sats": sats, "mul": func(a uint64, b int) uint64 { return a * uint64(b) }}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/fragment.html")
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"index", "order", "pay", "error"} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		s.pages[name] = t
	}
	return nil
}

// renderPage writes a whole page.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, code int, name string, d pageData) {
	d.Prefix = s.cfg.Prefix
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout.html", d); err != nil {
		s.log.Error("render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// qrDataURL is a QR code of text as a PNG data URL. Medium error
// correction, whole-pixel modules: a phone reads it off a screen or paper.
func qrDataURL(text string, pixelsPerModule int) (template.URL, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, -pixelsPerModule)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

// --- the order form ---

type buyView struct {
	Form       buyForm
	Sizes      []sizeView
	Topologies []topologyView
	Payments   []choiceView
	MinHours   int
	MaxHours   int
	Presets    []presetView
	Total      string
	RateMsat   uint64 // per hour of the chosen size
	EndsUTC    string
	EndsISO    string
	HourSec    int
	Field      string // the refused field, if any
}

type sizeView struct {
	NodeCount int
	RateMsat  uint64 // the whole size per hour
	PerHour   string
	Checked   bool
}

type topologyView struct {
	Name, Summary string
	Checked       bool
}

type choiceView struct {
	Value, Label, Hint string
	Checked            bool
}

type presetView struct {
	Hours int
	Href  string
}

func (s *Server) buyView(f buyForm, cat order.ProductsReply) *buyView {
	v := &buyView{Form: f, MinHours: cat.MinHours, MaxHours: cat.MaxHours, HourSec: cat.HourSeconds}
	for _, sz := range cat.Sizes {
		rate := sz.MsatPerNodeHour * uint64(sz.NodeCount)
		v.Sizes = append(v.Sizes, sizeView{NodeCount: sz.NodeCount, RateMsat: rate, PerHour: sats(rate), Checked: sz.NodeCount == f.NodeCount})
		if sz.NodeCount == f.NodeCount {
			v.RateMsat = rate
		}
	}
	for _, t := range cat.Topologies {
		v.Topologies = append(v.Topologies, topologyView{Name: string(t), Summary: t.Summary(), Checked: t == f.Topology})
	}
	v.Payments = paymentChoices(cat, f.PaymentType)
	for _, h := range []int{3, 6, 8, 24, 48, 168} {
		if h >= cat.MinHours && h <= cat.MaxHours {
			v.Presets = append(v.Presets, presetView{Hours: h, Href: s.cfg.Prefix + "/?" + f.query(h)})
		}
	}
	v.Total = sats(f.priceMsat(cat))
	ends := time.Now().Add(time.Duration(f.Hours*max(cat.HourSeconds, 1)) * time.Second)
	v.EndsUTC, v.EndsISO = utc(ends), order.FormatTime(ends)
	return v
}

// paymentChoices are the ways to pay on sale, checked is chosen.
func paymentChoices(cat order.ProductsReply, checked string) []choiceView {
	var cs []choiceView
	for _, pt := range cat.PaymentTypes {
		c := choiceView{Value: pt, Checked: pt == checked}
		switch pt {
		case order.PaymentTypeBolt11:
			c.Label, c.Hint = "Invoice (BOLT11)", "Any Lightning wallet."
		case order.PaymentTypeBolt12:
			c.Label, c.Hint = "Offer (BOLT12)", "Wallets that read offers: Core Lightning, Phoenix, Zeus and others."
		default:
			c.Label = pt
		}
		cs = append(cs, c)
	}
	return cs
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	cat, err := s.catalogue(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	f, ferr := parseBuyForm(r.URL.Query(), cat)
	d := pageData{Title: "Buy a Lightning playground", Buy: s.buyView(f, cat)}
	code := http.StatusOK
	var fe *formError
	if errors.As(ferr, &fe) {
		d.Error, d.Buy.Field, code = &errorPage{Title: "Check the form", Message: fe.Message}, fe.Field, http.StatusBadRequest
	}
	s.renderPage(w, r, code, "index", d)
}

// postedForm reads a posted form, bounded in size, and what is on sale to
// judge it by; false: it has answered.
func (s *Server) postedForm(w http.ResponseWriter, r *http.Request) (order.ProductsReply, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusRequestEntityTooLarge, "Form too large", "The form sent was not one of this page's. Nothing was bought.")
		return order.ProductsReply{}, false
	}
	cat, err := s.catalogue(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return cat, false
	}
	return cat, true
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	cat, ok := s.postedForm(w, r)
	if !ok {
		return
	}
	f, err := parseBuyForm(r.PostForm, cat)
	var fe *formError
	if errors.As(err, &fe) {
		d := pageData{Title: "Check the form", Buy: s.buyView(f, cat), Error: &errorPage{Title: "Not bought", Message: fe.Message}}
		d.Buy.Field = fe.Field
		s.renderPage(w, r, http.StatusBadRequest, "index", d)
		return
	}
	if !s.allow(w, r) {
		return
	}
	var created order.CreateReply
	err = call(r.Context(), s.node, methodCreateOrder, map[string]any{
		"node_count": f.NodeCount, "hours": f.Hours, "topology": f.Topology, "payment_type": f.PaymentType}, &created)
	var rf *refusal
	if errors.As(err, &rf) {
		d := pageData{Title: "Not bought", Buy: s.buyView(f, cat), Error: &errorPage{Title: "Not bought", Message: rf.msg}}
		s.renderPage(w, r, http.StatusUnprocessableEntity, "index", d)
		return
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.log.Info("order created", "order", created.BOLT11InvoiceID, "node_count", f.NodeCount, "hours", f.Hours)
	http.Redirect(w, r, s.orderURL(created.BOLT11InvoiceID), http.StatusSeeOther)
}

// allow applies the per-client limit on creations; false: it answered 429.
func (s *Server) allow(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := s.limit.allow(clientAddr(r, s.cfg.TrustedProxies))
	if ok {
		return true
	}
	w.Header().Set("Retry-After", retryAfter(wait))
	s.fail(w, r, http.StatusTooManyRequests, "Too many orders from here",
		fmt.Sprintf("This address has made many orders in a short time. Nothing was bought; try again in %s seconds.", retryAfter(wait)))
	return false
}

// --- an order's page ---

func (s *Server) orderPage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	id, ok := orderID(r)
	if !ok {
		s.failErr(w, r, errNoSuchOrder)
		return
	}
	snap, err := s.hub.get(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	state := pageState(snap.status)
	d := pageData{Title: "Your lnplay.live order", Order: &orderView{
		ID: id, URL: s.absolute(r, s.orderURL(id)), Events: s.orderURL(id) + "/events",
		Version: snap.version, Fragment: template.HTML(snap.fragment), State: state}}
	// Without JavaScript the page reloads itself while something is
	// coming (a payment, the nodes), unless the reader turned that off
	// (WCAG 2.2.1: a page that refreshes must let its reader stop it).
	if r.URL.Query().Get("refresh") != "off" {
		switch state {
		case stateUnpaid:
			d.Refresh = 5
		case stateQueued, stateDeploying:
			d.Refresh = 3
		}
	}
	d.RefreshOff = d.Refresh > 0
	s.renderPage(w, r, http.StatusOK, "order", d)
}

// events streams an order's fragment as it changes (Server-Sent Events).
// Each stream is a watcher of the hub: the node is polled once per order.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	id, ok := orderID(r)
	if !ok {
		s.failErr(w, r, errNoSuchOrder)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	snap, err := s.hub.get(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	wake, cancel := s.hub.subscribe(id)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events as they come
	w.WriteHeader(http.StatusOK)
	sent := ""
	if v := r.URL.Query().Get("v"); v != "" {
		sent = v
	}
	// A retry hint for the browser's reconnection, then the current state
	// if the page has an older one.
	fmt.Fprint(w, "retry: 2000\n\n")
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		if snap != nil && snap.version != sent {
			fmt.Fprintf(w, "event: order\nid: %s\ndata: %s\n\n", snap.version, snap.event())
			sent = snap.version
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			snap = nil
		case <-wake:
			snap, err = s.hub.get(r.Context(), id)
			if err != nil {
				snap = nil
			}
		}
	}
}

func (s *Server) extendOrder(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	id, ok := orderID(r)
	if !ok {
		s.failErr(w, r, errNoSuchOrder)
		return
	}
	cat, ok := s.postedForm(w, r)
	if !ok {
		return
	}
	hours, pt, err := parseExtendForm(r.PostForm, cat)
	var fe *formError
	if errors.As(err, &fe) {
		s.fail(w, r, http.StatusBadRequest, "Not extended", fe.Message)
		return
	}
	if !s.allow(w, r) {
		return
	}
	var ext order.ExtendReply
	if err := call(r.Context(), s.node, methodExtendOrder, map[string]any{"invoice_id": id, "hours": hours, "payment_type": pt}, &ext); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.orderURL(id)+"/pay/"+strconv.Itoa(ext.Extension), http.StatusSeeOther)
}

// payPage is an extension's invoice. Once it is paid, it sends the buyer
// back to the order.
func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	id, ok := orderID(r)
	n, err := strconv.Atoi(r.PathValue("n"))
	if !ok || err != nil || n < 1 || strconv.Itoa(n) != r.PathValue("n") {
		s.failErr(w, r, errNoSuchOrder)
		return
	}
	var p order.PaymentReply
	if err := call(r.Context(), s.node, methodPayment, map[string]any{"invoice_id": id, "extension": n}, &p); err != nil {
		s.failErr(w, r, err)
		return
	}
	if p.Status == order.InvoicePaid {
		http.Redirect(w, r, s.orderURL(id), http.StatusSeeOther)
		return
	}
	pv, err := payViewOf(&p)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := pageData{Title: fmt.Sprintf("Extend by %s", hoursText(p.Hours)), Pay: pv,
		Order: &orderView{ID: id, URL: s.absolute(r, s.orderURL(id)), Events: s.orderURL(id) + "/events", Extension: n}}
	if r.URL.Query().Get("refresh") != "off" {
		d.Refresh, d.RefreshOff = 5, true
	}
	s.renderPage(w, r, http.StatusOK, "pay", d)
}
