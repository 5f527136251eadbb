package storefront

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/lnplaylive/lnplaylive/handout"
	"github.com/lnplaylive/lnplaylive/order"
)

// orderView is an order's page around its live fragment.
type orderView struct {
	ID       order.ID
	URL      string // the page's address: the bearer of the order
	Events   string
	Version  string
	Fragment template.HTML
	State    string
	// Extension is set on an extension's pay page.
	Extension int
}

// payView is an invoice or offer to pay.
type payView struct {
	Offer       bool
	Text        string // the invoice or offer, as a wallet takes it
	URI         string // lightning:…, for "open in wallet"
	QR          template.URL
	Amount      string
	Description string
	ExpiresISO  string
	ExpiresUTC  string
	Hours       int
	NodeCount   int
	Topology    order.Topology
	PaymentType string
	Extension   int
}

func payViewOf(p *order.PaymentReply) (*payView, error) {
	v := &payView{Offer: p.BOLT12Offer != "", Text: p.BOLT11Invoice, Amount: sats(p.AmountMsat),
		Description: p.Description, Hours: p.Hours, NodeCount: p.NodeCount, Topology: p.Topology,
		PaymentType: p.PaymentType, Extension: p.Extension}
	if v.Offer {
		v.Text = p.BOLT12Offer
	}
	v.URI = "lightning:" + v.Text
	// Upper case: QR codes hold it in their compact alphanumeric mode, and
	// bech32 (BOLT11) and BOLT12 strings read the same in either case.
	qr, err := qrDataURL(strings.ToUpper(v.URI), 4)
	if err != nil {
		return nil, err
	}
	v.QR = qr
	if t := parseTime(p.ExpiresAt); !t.IsZero() {
		v.ExpiresISO, v.ExpiresUTC = order.FormatTime(t), utc(t)
	}
	return v, nil
}

// fragmentView is the live part of an order's page.
type fragmentView struct {
	Prefix string
	ID     order.ID
	State  string
	Pay    *payView
	Status status
	D      *order.Deployment
	// Deploying and queued.
	StepText   string
	NodesReady int
	NodeCount  int
	Source     string
	Position   int
	StartUTC   string
	StartISO   string
	// The paid time.
	EndsUTC string
	EndsISO string
	Nodes   []nodeView
	// Extending: the price of an hour more, and the hours left to buy.
	HourRate   uint64
	MaxExtend  int
	Extensions []extensionView
	Payments   []choiceView
	Unserved   []order.UnservedPayment
}

type nodeView struct {
	order.Node
	ShortID string
	Short   string // the short link, when the public URL is set
	QR      template.URL
}

type extensionView struct {
	N       int
	Hours   int
	Amount  string
	PaidUTC string
	PaidISO string
}

// renderFragment renders a snapshot's live part: the same HTML goes in
// the page and in its event stream.
func (s *Server) renderFragment(snap *snapshot) ([]byte, error) {
	st := snap.status
	v := fragmentView{Prefix: s.cfg.Prefix, ID: st.InvoiceID, State: pageState(st), D: st.Deployment()}
	if snap.payment != nil {
		p, err := payViewOf(snap.payment)
		if err != nil {
			return nil, err
		}
		v.Pay = p
	}
	if d := st.Deployment(); d != nil {
		if t := parseTime(d.VMExpirationDate); !t.IsZero() {
			v.EndsUTC, v.EndsISO = utc(t), order.FormatTime(t)
		}
		if p := d.Progress; p != nil {
			v.StepText, v.NodesReady, v.NodeCount, v.Source, v.Position = stepText(p.Step), p.NodesReady, p.NodeCount, p.Source, p.Position
			if t := parseTime(p.EstimatedStart); !t.IsZero() {
				v.StartUTC, v.StartISO = utc(t), order.FormatTime(t)
			}
		} else {
			v.StepText = stepText("")
		}
		v.Unserved = d.UnservedPayments
		for _, e := range d.Extensions {
			ev := extensionView{N: e.N, Hours: e.Hours, Amount: sats(e.AmountMsat)}
			if t := parseTime(e.PaidAt); !t.IsZero() {
				ev.PaidUTC, ev.PaidISO = utc(t), order.FormatTime(t)
			}
			v.Extensions = append(v.Extensions, ev)
		}
		if d.Status == order.Provisioned {
			links := s.shortLinks(st.InvoiceID, d.Nodes)
			for _, n := range d.Nodes {
				nv := nodeView{Node: n, ShortID: handout.ShortID(n.ID), Short: links[n.Index]}
				target := n.ClamsURL
				if nv.Short != "" {
					target = nv.Short
				}
				qr, err := qrDataURL(target, 4)
				if err != nil {
					return nil, err
				}
				nv.QR = qr
				v.Nodes = append(v.Nodes, nv)
			}
			s.extendChoices(&v, d)
		}
	}
	var b bytes.Buffer
	if err := s.pages["order"].ExecuteTemplate(&b, "fragment", v); err != nil {
		return nil, fmt.Errorf("render order %s: %w", st.InvoiceID, err)
	}
	return b.Bytes(), nil
}

// extendChoices prices an extension of d at the order's rate per hour.
// The hours offered go up to the most one order may buy; the plugin
// refuses, in words, what the order's own cap leaves no room for.
func (s *Server) extendChoices(v *fragmentView, d *order.Deployment) {
	cat := s.cachedCatalogue()
	if cat == nil || len(d.Nodes) == 0 {
		return
	}
	n := len(d.Nodes)
	for _, sz := range cat.Sizes {
		if sz.NodeCount == n {
			v.HourRate = sz.MsatPerNodeHour * uint64(n)
		}
	}
	v.MaxExtend = cat.MaxHours
	v.Payments = paymentChoices(*cat, order.PaymentTypeBolt11)
}

// cachedCatalogue is the last price list fetched, if any (rendering never
// waits on the node).
func (s *Server) cachedCatalogue() *order.ProductsReply {
	s.catMu.Lock()
	defer s.catMu.Unlock()
	return s.cat
}

// provisioned is an order's deployment if it is provisioned; otherwise it
// has answered.
func (s *Server) provisioned(w http.ResponseWriter, r *http.Request) (order.ID, *order.Deployment, bool) {
	noStore(w)
	id, ok := orderID(r)
	if !ok {
		s.failErr(w, r, errNoSuchOrder)
		return "", nil, false
	}
	snap, err := s.hub.get(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return "", nil, false
	}
	d := snap.status.Deployment()
	if d == nil || d.Status != order.Provisioned {
		s.fail(w, r, http.StatusConflict, "Not ready", "This order has no nodes to hand out: it is not provisioned (yet, or any more).")
		return "", nil, false
	}
	return id, d, true
}

// sheet is the printable hand-out, with short links in its QR codes when
// the public URL is set.
func (s *Server) sheet(w http.ResponseWriter, r *http.Request) {
	id, d, ok := s.provisioned(w, r)
	if !ok {
		return
	}
	o, err := handout.FromDeployment(id, d)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	o.QRLinks = s.shortLinks(id, d.Nodes)
	o.ScriptSrc = s.cfg.Prefix + "/static/sheet.js"
	var b bytes.Buffer
	if err := handout.Sheet(&b, o); err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", csp(handout.SheetCSS))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// nodesCSV is the nodes as a spreadsheet, with a header.
func (s *Server) nodesCSV(w http.ResponseWriter, r *http.Request) {
	id, d, ok := s.provisioned(w, r)
	if !ok {
		return
	}
	links := s.shortLinks(id, d.Nodes)
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write([]string{"index", "alias", "id", "host", "ws_port", "p2p_port", "clams_url", "short_link", "rune", "expires"})
	for _, n := range d.Nodes {
		cw.Write([]string{strconv.Itoa(n.Index), n.Alias, n.ID, n.Host, strconv.Itoa(n.WSPort), strconv.Itoa(n.P2PPort),
			n.ClamsURL, links[n.Index], n.Rune, d.VMExpirationDate})
	}
	cw.Flush()
	download(w, "text/csv; charset=utf-8", fmt.Sprintf("lnplaylive-%s.csv", id), b.Bytes())
}

// nodesJSON is the nodes as the API gives them.
func (s *Server) nodesJSON(w http.ResponseWriter, r *http.Request) {
	id, d, ok := s.provisioned(w, r)
	if !ok {
		return
	}
	b, err := json.MarshalIndent(struct {
		OrderID          order.ID     `json:"order_id"`
		VMExpirationDate string       `json:"vm_expiration_date"`
		Nodes            []order.Node `json:"nodes"`
	}{id, d.VMExpirationDate, d.Nodes}, "", "  ")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	download(w, "application/json", fmt.Sprintf("lnplaylive-%s.json", id), append(b, '\n'))
}

func download(w http.ResponseWriter, contentType, name string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Write(body)
}

// shortLink sends a short link's reader to its node's Clams link, while
// the order is provisioned.
func (s *Server) shortLink(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if s.links == nil {
		s.fail(w, r, http.StatusNotFound, "Not found", "This storefront makes no short links.")
		return
	}
	id, index, err := s.links.parse(r.PathValue("token"))
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "Not found", "This is not a link of this storefront.")
		return
	}
	snap, err := s.hub.get(r.Context(), id)
	if err != nil {
		if err == errNoSuchOrder {
			s.fail(w, r, http.StatusNotFound, "Not found", "This is not a link of this storefront.")
		} else {
			s.failErr(w, r, err)
		}
		return
	}
	d := snap.status.Deployment()
	switch {
	case d != nil && d.Status == order.Provisioned:
		for _, n := range d.Nodes {
			if n.Index == index {
				http.Redirect(w, r, n.ClamsURL, http.StatusSeeOther)
				return
			}
		}
	case d == nil || d.Status == order.StartingDeployment:
		w.Header().Set("Retry-After", "30")
		s.fail(w, r, http.StatusConflict, "Not ready yet", "This node's playground is still coming up. Try again in a minute.")
		return
	}
	s.fail(w, r, http.StatusGone, "This playground has ended",
		"The node this link opened is gone: its playground is not running (ended, or not ready yet).")
}
