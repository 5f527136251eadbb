// Package handout turns a provisioned order into what a workshop host hands
// out: one node per attendee, as a QR code of its Clams link. Sheet renders
// a printable page (eight nodes per A4 sheet); Terminal prints a table and
// the codes for a terminal.
package handout

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/skip2/go-qrcode"

	"github.com/lnplaylive/lnplaylive/order"
)

// PerPage is how many nodes fit one A4 page, with codes large enough to
// scan from a table.
const PerPage = 8

// Order is what a hand-out shows of an order.
type Order struct {
	ID      order.ID
	Expires time.Time
	Nodes   []order.Node
	// QRLinks, when set, are what each node's QR code holds, by node
	// index, in place of its Clams link: a storefront's short links, whose
	// codes are a few dozen characters rather than five hundred.
	QRLinks map[int]string
	// ScriptSrc, when set, loads the sheet's script from that address
	// rather than inline (for pages served under a Content-Security-Policy
	// without inline script).
	ScriptSrc string
}

// FromDeployment takes a provisioned order's details.
func FromDeployment(id order.ID, d *order.Deployment) (Order, error) {
	if d == nil || d.Status != order.Provisioned || len(d.Nodes) == 0 {
		return Order{}, fmt.Errorf("order %s is not provisioned: nothing to hand out yet", id)
	}
	exp, err := time.Parse(time.RFC3339, d.VMExpirationDate)
	if err != nil {
		return Order{}, fmt.Errorf("order %s: vm_expiration_date %q: %w", id, d.VMExpirationDate, err)
	}
	return Order{ID: id, Expires: exp, Nodes: d.Nodes}, nil
}

// Short is a node's text form, for reading out or typing: alias, the first
// and last characters of its id, and where it listens.
func Short(n order.Node) string {
	return fmt.Sprintf("%s · %s · %s:%d", n.Alias, ShortID(n.ID), n.Host, n.P2PPort)
}

// ShortID is a node id as people compare them: its first and last
// characters.
func ShortID(id string) string {
	if len(id) > 16 {
		id = id[:8] + "…" + id[len(id)-6:]
	}
	return id
}

// QRPNG is a node's Clams link as a PNG QR code, pixelsPerModule pixels to
// a module (whole pixels: a printer or a browser scales them without
// blurring module edges). Medium error correction: printed codes get
// creased and photographed at an angle.
func QRPNG(n order.Node, pixelsPerModule int) ([]byte, error) {
	return qrPNG(n, n.ClamsURL, pixelsPerModule)
}

func qrPNG(n order.Node, link string, pixelsPerModule int) ([]byte, error) {
	png, err := qrcode.Encode(link, qrcode.Medium, -pixelsPerModule)
	if err != nil {
		return nil, fmt.Errorf("QR code of node %d (%s): %w", n.Index, n.Alias, err)
	}
	return png, nil
}

// Instructions is the one line every card carries.
const Instructions = "Scan with your phone's camera: Clams opens this node as your wallet. Pay the others, and ask them for invoices."

type card struct {
	order.Node
	QR    template.URL
	Short string
}

type page struct{ Cards []card }

var sheet = template.Must(template.New("sheet").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>lnplay.live playground {{.ID}}</title>
<style>{{.CSS}}</style></head><body>
{{range .Pages}}<section class="page">{{range .Cards}}
<div class="card" data-node="{{.Index}}"><img alt="Clams link of {{.Alias}}" src="{{.QR}}">
<div><div class="alias">{{.Alias}}</div><div class="short">{{.Short}}</div>
<div class="meta">Node {{.Index}} · until <time datetime="{{$.ExpiresISO}}">{{$.ExpiresUTC}}</time></div>
<div class="how">{{$.Instructions}}</div></div></div>{{end}}
</section>{{end}}
{{if .ScriptSrc}}<script src="{{.ScriptSrc}}"></script>{{else}}<script>{{.Script}}</script>{{end}}
</body></html>
`))

// SheetCSS is the sheet's style sheet, inline in the page (a printed
// sheet is one file). A server with a Content-Security-Policy allows it
// by its hash.
const SheetCSS = `@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", Arial, sans-serif; color: #111; }
.page { width: 190mm; height: 277mm; display: grid; grid-template-columns: 1fr 1fr; grid-template-rows: repeat(4, 1fr);
  gap: 4mm; page-break-after: always; break-after: page; }
.page:last-child { page-break-after: auto; break-after: auto; }
.card { border: 0.3mm dashed #888; padding: 3mm; display: flex; gap: 3mm; align-items: center; overflow: hidden; }
.card img { width: 52mm; height: 52mm; image-rendering: pixelated; flex: none; }
.alias { font-size: 16pt; font-weight: bold; }
.short { font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; word-break: break-all; margin: 1mm 0; }
.meta, .how { font-size: 7.5pt; }
`

// SheetScript shows the expiry in the reader's own time zone; the UTC text
// stays without script. A storefront serves it as a file (ScriptSrc).
const SheetScript = `for (const t of document.querySelectorAll("time[datetime]")) {
  t.textContent = new Date(t.getAttribute("datetime")).toLocaleString([], {year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"});
}
`

// Sheet writes the printable page: PerPage nodes per A4 page, each with
// its alias, a QR code of its Clams link, its short form, the expiry and
// one line of instructions.
func Sheet(w io.Writer, o Order) error {
	var pages []page
	for i, n := range o.Nodes {
		link := n.ClamsURL
		if l, ok := o.QRLinks[n.Index]; ok {
			link = l
		}
		png, err := qrPNG(n, link, 6)
		if err != nil {
			return err
		}
		if i%PerPage == 0 {
			pages = append(pages, page{})
		}
		p := &pages[len(pages)-1]
		p.Cards = append(p.Cards, card{Node: n, Short: Short(n),
			QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))})
	}
	return sheet.Execute(w, map[string]any{
		"ID": o.ID, "Pages": pages, "Instructions": Instructions,
		"CSS": template.CSS(SheetCSS), "Script": template.JS(SheetScript), "ScriptSrc": o.ScriptSrc,
		"ExpiresISO": o.Expires.UTC().Format(time.RFC3339),
		"ExpiresUTC": o.Expires.UTC().Format("2 Jan 2006 15:04 UTC"),
	})
}

// Terminal writes a table of the nodes and then each node's Clams link as
// a QR code drawn with half blocks, under its alias.
func Terminal(w io.Writer, o Order) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tALIAS\tNODE ID\tWS PORT\tP2P PORT")
	for _, n := range o.Nodes {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\n", n.Index, n.Alias, n.ID, n.WSPort, n.P2PPort)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nexpires %s\n", o.Expires.Local().Format("Mon 2 Jan 15:04 MST"))
	for _, n := range o.Nodes {
		var b bytes.Buffer
		qrterminal.GenerateWithConfig(n.ClamsURL, qrterminal.Config{Level: qrterminal.L, Writer: &b,
			HalfBlocks: true, BlackChar: qrterminal.BLACK_BLACK, WhiteBlackChar: qrterminal.WHITE_BLACK,
			WhiteChar: qrterminal.WHITE_WHITE, BlackWhiteChar: qrterminal.BLACK_WHITE, QuietZone: 2})
		fmt.Fprintf(w, "\n%s (node %d)\n%s%s\n", n.Alias, n.Index, b.String(), strings.TrimSpace(n.ClamsURL))
	}
	return nil
}
