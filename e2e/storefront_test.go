package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/order"
)

// The storefront in a real browser (headless Chromium through chromedp),
// on lightningd with the plugin (the real v25.12.1 and a real paying node
// where LNPLAYLIVE_REAL_CLN names a build; otherwise the stand-in, and the
// offer subtest skips), and a host pool of real sshd hosts.

// shop is a running lnplaylive-web binary.
type shop struct {
	url  string // its public URL
	proc *exec.Cmd
}

// startShop runs bin/lnplaylive-web against the seller's node.
func startShop(t *testing.T, s *seller, env ...string) shop {
	t.Helper()
	bin, err := testbin.Path("lnplaylive-web")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u := "http://" + addr
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LNPLAYLIVE_LIGHTNING_RPC="+s.rpcFile,
		"LNPLAYLIVE_WEB_ADDR="+addr, "LNPLAYLIVE_WEB_PUBLIC_URL="+u,
		"LNPLAYLIVE_WEB_LINK_KEY_FILE="+filepath.Join(t.TempDir(), "link.key"))
	cmd.Env = append(cmd.Env, env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("storefront log:\n%s", logs.String())
		}
	})
	waitReal(t, "the storefront", func() bool {
		r, err := http.Get(u + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	})
	return shop{url: u, proc: cmd}
}

// browser is a headless Chromium; tab opens a page context in it.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is missing: run `make deps` (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 800))
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

func tab(t *testing.T, b context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b)
	t.Cleanup(cancel)
	// The tab lives as long as the context of its first run: that run
	// must have no timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// do runs browser actions, within a limit.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, what, chromedp.Steps(actions...))
}

// get runs a browser action that returns a value, within a limit.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a script in the page (through the DevTools protocol,
// also where the page's own scripts are disabled), awaiting a promise.
func eval[T any](t *testing.T, ctx context.Context, script string) T {
	t.Helper()
	return get(t, ctx, "evaluate "+script[:min(len(script), 60)], chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
}

// text is an element's text.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// scripts turns the page's scripts on or off (off: a browser without
// JavaScript).
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// waitState waits until the order box says state.
func waitState(t *testing.T, ctx context.Context, want string, within time.Duration, seen func(state string)) {
	t.Helper()
	last := ""
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		a, err := chromedp.Run(c, chromedp.AttributeValue(chromedp.CSS("#order"), "data-state"))
		cancel()
		v := a.Value
		if err == nil && a.Exists {
			if v != last && seen != nil {
				seen(v)
			}
			last = v
			if v == want {
				return
			}
		}
	}
	t.Fatalf("page state %q not reached in %s; last %q", want, within, last)
}

// orderOfPage is the order id in the page's address.
func orderOfPage(t *testing.T, ctx context.Context) order.ID {
	t.Helper()
	loc := get(t, ctx, "location", chromedp.Location())
	m := regexp.MustCompile(`/order/([0-9a-f-]{36})$`).FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("not an order page: %s", loc)
	}
	return order.ID(m[1])
}

// decodeQR reads the QR code in an element's screenshot, as a phone would
// read the screen.
func decodeQR(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	// A phone's camera takes another look too: an element caught while
	// the page still lays out (an image decoding, a scroll) is taken again.
	var last error
	for range 5 {
		do(t, ctx, "scroll to "+sel, chromedp.ScrollIntoView(chromedp.CSS(sel)))
		png := get(t, ctx, "screenshot "+sel, chromedp.Screenshot(chromedp.CSS(sel)))
		img, _, err := image.Decode(bytes.NewReader(png))
		if err != nil {
			t.Fatal(err)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
		if err == nil {
			return res.GetText()
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("decode the QR code of %s from a screenshot: %v", sel, last)
	return ""
}

// axeCheck injects axe-core and fails on any serious or critical violation.
func axeCheck(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := os.ReadFile(axePath())
	if err != nil {
		t.Fatalf("axe-core is missing (%v): run `make deps`", err)
	}
	get(t, ctx, "inject axe", chromedp.Evaluate[any](string(src)+";true"))
	bad := eval[[]string](t, ctx, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")))`)
	if len(bad) > 0 {
		t.Errorf("axe on the %s page: %d serious or critical violations:\n%s", page, len(bad), strings.Join(bad, "\n"))
	}
}

// axePath is axe-core as `make deps` installs it from npm.
func axePath() string {
	return filepath.Join("..", ".data", "npm", "node_modules", "axe-core", "axe.min.js")
}

// screenshots, when LNPLAYLIVE_SCREENSHOTS names a folder, saves the page
// at a phone's size (390×844) and a laptop's (1280×800), for the README and docs.
func screenshots(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("LNPLAYLIVE_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct {
		w, h int64
		tag  string
	}{{390, 844, "phone"}, {1280, 800, "laptop"}} {
		mobile := size.w < 600
		do(t, ctx, "viewport", chromedp.EmulateViewport(size.w, size.h, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
			p.Mobile = mobile
		}), chromedp.Sleep(200*time.Millisecond))
		png := get(t, ctx, "screenshot", chromedp.CaptureScreenshot())
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, size.tag)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "viewport", chromedp.EmulateViewport(1280, 800))
}

// tabTo presses Tab until the focused element matches sel.
func tabTo(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	for range 80 {
		do(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		if eval[bool](t, ctx, fmt.Sprintf("document.activeElement.matches(%q)", sel)) {
			return
		}
	}
	t.Fatalf("Tab never reached %s", sel)
}

// links are the hrefs of every element matching sel.
func links(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	attrs := get(t, ctx, "links "+sel, chromedp.AttributesAll(chromedp.CSSAll(sel)))
	var out []string
	for _, a := range attrs {
		out = append(out, a["href"])
	}
	return out
}

// payment is lnplaylive-payment through the real lightningd.
func (s *seller) payment(t *testing.T, id order.ID, extension int) order.PaymentReply {
	t.Helper()
	var p order.PaymentReply
	if err := s.call("lnplaylive-payment", map[string]any{"invoice_id": id, "extension": extension}, &p); err != nil {
		t.Fatalf("lnplaylive-payment %s %d: %v", id, extension, err)
	}
	return p
}

// checkNodeLinks checks every Clams link on a provisioned order's page,
// and every short link followed through its redirect, against the API.
func checkNodeLinks(t *testing.T, ctx context.Context, s *seller, id order.ID, paymentType string) *order.Deployment {
	t.Helper()
	d := s.status(t, id, paymentType).Deployment()
	if d.Status != order.Provisioned || len(d.Nodes) != 8 {
		t.Fatalf("order %s: %s with %d nodes", id, d.Status, len(d.Nodes))
	}
	clams := links(t, ctx, "a.clams")
	shorts := links(t, ctx, "a.short")
	if len(clams) != len(d.Nodes) || len(shorts) != len(d.Nodes) {
		t.Fatalf("page has %d Clams links and %d short links; the order has %d nodes", len(clams), len(shorts), len(d.Nodes))
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, n := range d.Nodes {
		if clams[i] != n.ClamsURL {
			t.Errorf("node %d: page links %q; the API's clams_url is %q", n.Index, clams[i], n.ClamsURL)
		}
		if len(shorts[i]) > 80 {
			t.Errorf("node %d: short link %q is %d characters", n.Index, shorts[i], len(shorts[i]))
		}
		r, err := noFollow.Get(shorts[i])
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != n.ClamsURL {
			t.Errorf("node %d: short link %s answers %d → %q; want 303 → the API's clams_url", n.Index, shorts[i], r.StatusCode, r.Header.Get("Location"))
		}
	}
	return d
}

// rawStatus is invoicestatus's reply as JSON text, as a front end gets it.
func (s *seller) rawStatus(t *testing.T, id order.ID) string {
	t.Helper()
	var raw json.RawMessage
	if err := s.call("lnplaylive-invoicestatus", map[string]any{"payment_type": "bolt11", "invoice_id": id}, &raw); err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestStorefrontInARealBrowser(t *testing.T) {
	if _, err := os.Stat(axePath()); err != nil {
		t.Fatalf("axe-core is missing (%v): run `make deps`", err)
	}
	p := newPool(t, 1, 5)
	sys := newSystem(t, options{workerEnv: p.env, invoiceExpiry: 45, pluginOptions: map[string]any{
		// A development hour of 40 s: a 3-hour order lasts two minutes.
		"lnplaylive-dev-hour-seconds": 40,
	}})
	s := shopSeller(t, sys)
	sh := startShop(t, s)
	b := browser(t)
	var statuses []string // every status seen, for the original app's reads

	// An order left unpaid from the start: its invoice expires while the
	// others are bought.
	unpaid := tab(t, b)
	do(t, unpaid, "form", chromedp.Navigate(sh.url+"/"), chromedp.WaitVisible(chromedp.CSS("#buy-button")),
		chromedp.Click(chromedp.CSS("#buy-button")), chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
	unpaidID := orderOfPage(t, unpaid)
	statuses = append(statuses, s.rawStatus(t, unpaidID))

	t.Run("buy 8 nodes for 3 hours, pay, watch it come up, hand it out, extend", func(t *testing.T) {
		ctx := tab(t, b)
		do(t, ctx, "form", chromedp.Navigate(sh.url+"/"), chromedp.WaitVisible(chromedp.CSS("#buy-button")))
		axeCheck(t, ctx, "order form")
		screenshots(t, ctx, "1-form")
		do(t, ctx, "choose", chromedp.Click(chromedp.CSS(`input[name=node_count][value="8"]`)),
			chromedp.SetValue(chromedp.CSS("#hours"), "3"))
		eval[bool](t, ctx, `document.getElementById("hours").dispatchEvent(new Event("input", {bubbles: true}))`)
		total := text(t, ctx, "#total-amount")
		// 8 nodes × 3 hours × 200 sat (the default price of a node-hour).
		const want = 4_800_000
		if total != "4,800 sats" {
			t.Fatalf("total before buying %q; want 4,800 sats", total)
		}
		do(t, ctx, "buy", chromedp.Click(chromedp.CSS("#buy-button")), chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
		id := orderOfPage(t, ctx)
		pay := s.payment(t, id, 0)
		if pay.AmountMsat != want || pay.Status != order.InvoiceUnpaid || pay.NodeCount != 8 || pay.Hours != 3 {
			t.Fatalf("the order bought: %+v", pay)
		}
		if got := decodeQR(t, ctx, "#pay-qr"); got != strings.ToUpper("lightning:"+pay.BOLT11Invoice) {
			t.Fatalf("the page's QR code says %q; the invoice is %q", got, pay.BOLT11Invoice)
		}
		payText := get(t, ctx, "pay text", chromedp.Value(chromedp.CSS("#pay-text")))
		title := text(t, ctx, "#pay-title")
		if payText != pay.BOLT11Invoice || !strings.Contains(title, "4,800 sats") {
			t.Fatalf("pay box shows %q, %q", title, payText)
		}
		axeCheck(t, ctx, "pay")
		screenshots(t, ctx, "2-pay")
		statuses = append(statuses, s.rawStatus(t, id))

		// The page is watched for a reload: a reload loses the mark.
		eval[bool](t, ctx, `window.__notReloaded = true; window.__states = [];
			new MutationObserver(() => window.__states.push(document.getElementById("order").dataset.state))
				.observe(document.getElementById("order"), {attributes: true, attributeFilter: ["data-state"]}); true`)
		s.payInvoice(t, pay.BOLT11Invoice)
		shot := false
		waitState(t, ctx, "provisioned", 3*time.Minute, func(state string) {
			if (state == "deploying" || state == "queued") && !shot {
				shot = true
				statuses = append(statuses, s.rawStatus(t, id))
				axeCheck(t, ctx, "progress")
				screenshots(t, ctx, "3-progress")
			}
		})
		notReloaded := eval[bool](t, ctx, `window.__notReloaded === true`)
		states := eval[[]string](t, ctx, `window.__states`)
		if !notReloaded {
			t.Fatal("the page was reloaded; it should have moved on by itself")
		}
		if len(states) < 2 || (states[0] != "deploying" && states[0] != "queued") || states[len(states)-1] != "provisioned" {
			t.Fatalf("the page went through %v; want progress, then provisioned, without a reload", states)
		}
		d := checkNodeLinks(t, ctx, s, id, order.PaymentTypeBolt11)
		statuses = append(statuses, s.rawStatus(t, id))
		axeCheck(t, ctx, "provisioned")
		screenshots(t, ctx, "4-provisioned")

		// The sheet's codes are the short links.
		do(t, ctx, "sheet", chromedp.Navigate(sh.url+"/order/"+string(id)+"/sheet"), chromedp.WaitVisible(chromedp.CSS(".card img")))
		short := decodeQR(t, ctx, `.card[data-node="1"] img`)
		if len(short) > 80 || !strings.HasPrefix(short, sh.url+"/n/") {
			t.Fatalf("the sheet's first code holds %q; want a short link of this storefront", short)
		}
		axeCheck(t, ctx, "sheet")

		// Extend by 2 hours from the page, pay, and see the new end.
		do(t, ctx, "back", chromedp.Navigate(sh.url+"/order/"+string(id)), chromedp.WaitVisible(chromedp.CSS("#extend-button")),
			chromedp.SetValue(chromedp.CSS("#extend-hours"), "2"), chromedp.Click(chromedp.CSS("#extend-button")),
			chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
		ext := s.payment(t, id, 1)
		if ext.Hours != 2 || ext.Status != order.InvoiceUnpaid {
			t.Fatalf("extension: %+v", ext)
		}
		if got := decodeQR(t, ctx, "#pay-qr"); got != strings.ToUpper("lightning:"+ext.BOLT11Invoice) {
			t.Fatalf("the extension's QR code says %q; the invoice is %q", got, ext.BOLT11Invoice)
		}
		axeCheck(t, ctx, "extension pay")
		screenshots(t, ctx, "5-extend-pay")
		s.payInvoice(t, ext.BOLT11Invoice)
		do(t, ctx, "back to the order", chromedp.WaitVisible(chromedp.CSS(".extensions")))
		extText := text(t, ctx, ".extensions")
		after := s.status(t, id, order.PaymentTypeBolt11).Deployment()
		end, _ := time.Parse(time.RFC3339, d.VMExpirationDate)
		if after.VMExpirationDate != order.FormatTime(end.Add(2*40*time.Second)) {
			t.Fatalf("after the extension the order ends %s; it ended %s", after.VMExpirationDate, d.VMExpirationDate)
		}
		shown := get(t, ctx, "new end", chromedp.AttributeValue(chromedp.CSS("#ready-title + p time"), "datetime")).Value
		if shown != after.VMExpirationDate || !strings.Contains(extText, "Extension 1: 2 hours") {
			t.Fatalf("page shows end %q and %q; the API says %s", shown, extText, after.VMExpirationDate)
		}
	})

	t.Run("an unpaid invoice expires on the page, and a new order of the same shape is one button", func(t *testing.T) {
		waitState(t, unpaid, "invoice-expired", 2*time.Minute, nil)
		statuses = append(statuses, s.rawStatus(t, unpaidID))
		axeCheck(t, unpaid, "expired invoice")
		screenshots(t, unpaid, "6-expired")
		do(t, unpaid, "reorder", chromedp.Click(chromedp.CSS("#reorder")), chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
		again := orderOfPage(t, unpaid)
		if again == unpaidID {
			t.Fatal("the button did not make a new order")
		}
		if p := s.payment(t, again, 0); p.NodeCount != 8 || p.Hours != 3 || p.Topology != order.TopologyMesh || p.Status != order.InvoiceUnpaid {
			t.Fatalf("the new order: %+v; want the expired one's shape", p)
		}
	})

	t.Run("the same purchase with JavaScript disabled", func(t *testing.T) {
		ctx := tab(t, b)
		do(t, ctx, "no script", scripts(false), chromedp.Navigate(sh.url+"/"),
			chromedp.WaitVisible(chromedp.CSS("#buy-button")), chromedp.Click(chromedp.CSS("#buy-button")),
			chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
		id := orderOfPage(t, ctx)
		pay := s.payment(t, id, 0)
		if got := decodeQR(t, ctx, "#pay-qr"); got != strings.ToUpper("lightning:"+pay.BOLT11Invoice) {
			t.Fatalf("QR %q; invoice %q", got, pay.BOLT11Invoice)
		}
		s.payInvoice(t, pay.BOLT11Invoice)
		// The page refreshes itself (a <noscript> refresh).
		waitState(t, ctx, "provisioned", 3*time.Minute, nil)
		checkNodeLinks(t, ctx, s, id, order.PaymentTypeBolt11)
		if eval[bool](t, ctx, `document.documentElement.classList.contains("js")`) {
			t.Fatal("the page's script ran")
		}
		// axe needs timers, which a page without scripts has not: on for
		// the check, on the page as it was rendered without them.
		do(t, ctx, "scripts on", scripts(true))
		axeCheck(t, ctx, "provisioned, without JavaScript")
	})

	t.Run("the same purchase by keyboard alone", func(t *testing.T) {
		ctx := tab(t, b)
		do(t, ctx, "form", chromedp.Navigate(sh.url+"/"), chromedp.WaitVisible(chromedp.CSS("#buy-button")))
		tabTo(t, ctx, "#hours")
		do(t, ctx, "type hours", chromedp.KeyEvent(kb.End), chromedp.KeyEvent(kb.Backspace), chromedp.KeyEvent("4"))
		total := text(t, ctx, "#total-amount")
		if total != "6,400 sats" { // 8 × 4 × 200
			t.Fatalf("total after typing 4 hours: %q; want 6,400 sats", total)
		}
		tabTo(t, ctx, "#buy-button")
		do(t, ctx, "enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
		id := orderOfPage(t, ctx)
		pay := s.payment(t, id, 0)
		if pay.Hours != 4 {
			t.Fatalf("bought %d hours by keyboard; typed 4", pay.Hours)
		}
		tabTo(t, ctx, "#order button[data-copy]")
		do(t, ctx, "copy", chromedp.KeyEvent(kb.Enter), chromedp.Sleep(300*time.Millisecond))
		said := get(t, ctx, "announced", chromedp.TextContent(chromedp.CSS("#announce")))
		if said != "Invoice copied" {
			t.Fatalf("after Copy the screen reader hears %q", said)
		}
		s.payInvoice(t, pay.BOLT11Invoice)
		waitState(t, ctx, "provisioned", 3*time.Minute, nil)
		tabTo(t, ctx, "a.clams")
		checkNodeLinks(t, ctx, s, id, order.PaymentTypeBolt11)
	})

	t.Run("the same purchase paid by a BOLT12 offer", func(t *testing.T) {
		s.needsRealCLN(t)
		ctx := tab(t, b)
		do(t, ctx, "form", chromedp.Navigate(sh.url+"/"), chromedp.WaitVisible(chromedp.CSS("#buy-button")),
			chromedp.Click(chromedp.CSS(`input[name=payment_type][value="bolt12"]`)), chromedp.Click(chromedp.CSS("#buy-button")),
			chromedp.WaitVisible(chromedp.CSS("#pay-qr")))
		id := orderOfPage(t, ctx)
		pay := s.payment(t, id, 0)
		if pay.PaymentType != order.PaymentTypeBolt12 || !strings.HasPrefix(pay.BOLT12Offer, "lno1") {
			t.Fatalf("bought by offer: %+v", pay)
		}
		if got := decodeQR(t, ctx, "#pay-qr"); got != strings.ToUpper("lightning:"+pay.BOLT12Offer) {
			t.Fatalf("the page's QR code says %q; the offer is %q", got, pay.BOLT12Offer)
		}
		s.payOffer(t, pay.BOLT12Offer)
		waitState(t, ctx, "provisioned", 3*time.Minute, nil)
		checkNodeLinks(t, ctx, s, id, order.PaymentTypeBolt12)
	})

	t.Run("bad input gets a 4xx page and creates nothing", func(t *testing.T) {
		invoices := func() int {
			var li struct {
				Invoices []json.RawMessage `json:"invoices"`
			}
			if err := s.call("listinvoices", map[string]any{}, &li); err != nil {
				t.Fatal(err)
			}
			return len(li.Invoices)
		}
		before := invoices()
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(path, body string) *http.Response {
			r, err := noFollow.Post(sh.url+path, "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			return r
		}
		for _, c := range []struct{ what, path, body string }{
			{"unknown size", "/order", "node_count=9&hours=3"},
			{"huge hours", "/order", "node_count=8&hours=99999999999999999999"},
			{"hours below the floor", "/order", "node_count=8&hours=2"},
			{"an unknown topology", "/order", "node_count=8&hours=3&topology=ring"},
			{"header injection", "/order", "node_count=8&hours=3&topology=mesh%0d%0aSet-Cookie:%20x=1"},
			{"a field twice", "/order", "node_count=8&node_count=16&hours=3"},
			{"an oversized body", "/order", "node_count=8&hours=3&pad=" + strings.Repeat("x", 10000)},
			{"extend a forged order", "/order/00000000-0000-4000-8000-000000000000/extend", "hours=2"},
			{"extend with no hours", "/order/" + string(unpaidID) + "/extend", ""},
		} {
			r := post(c.path, c.body)
			if r.StatusCode < 400 || r.StatusCode >= 500 || r.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s: %d %v; want a 4xx page", c.what, r.StatusCode, r.Header)
			}
		}
		for _, path := range []string{"/order/not-an-order", "/order/00000000-0000-4000-8000-000000000000", "/order/%0d%0aSet-Cookie:x=1",
			"/order/" + strings.ToUpper(string(unpaidID)), "/n/AAAAAAAAAAAAAAAAAAAAAA", "/n/%2e%2e", "/order/" + string(unpaidID) + "/pay/0",
			"/order/" + string(unpaidID) + "/sheet"} {
			r, err := noFollow.Get(sh.url + path)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode < 400 || r.StatusCode >= 500 {
				t.Errorf("GET %s: %d; want a 4xx page", path, r.StatusCode)
			}
		}
		if after := invoices(); after != before {
			t.Fatalf("bad input made %d invoices", after-before)
		}
		// The order pages' headers.
		r, err := http.Get(sh.url + "/order/" + string(unpaidID))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		h := r.Header
		if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(h.Get("X-Robots-Tag"), "noindex") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self';") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe") {
			t.Fatalf("order page headers: %v", h)
		}
	})

	t.Run("one client cannot fill the unpaid invoices: 429 with Retry-After", func(t *testing.T) {
		limited := startShop(t, s, "LNPLAYLIVE_WEB_ORDERS_BURST=2", "LNPLAYLIVE_WEB_ORDERS_EVERY=1h")
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var codes []int
		for range 3 {
			r, err := noFollow.Post(limited.url+"/order", "application/x-www-form-urlencoded", strings.NewReader("node_count=8&hours=3"))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			codes = append(codes, r.StatusCode)
			if r.StatusCode == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
		if fmt.Sprint(codes) != "[303 303 429]" {
			t.Fatalf("three orders from one client with a burst of 2: %v", codes)
		}
	})

	t.Run("the original app's reads work on every status", func(t *testing.T) {
		// lnplay.live's app read deployment_details.connection_strings.length
		// while an order deployed, and threw where the field was absent.
		ctx := tab(t, b)
		do(t, ctx, "blank", chromedp.Navigate(sh.url+"/healthz"))
		for _, st := range statuses {
			n := eval[int](t, ctx, fmt.Sprintf(`(() => { const r = JSON.parse(%q);
				return typeof r.deployment_details === "object" ? r.deployment_details.connection_strings.length : -1 })()`, st))
			var reply struct {
				InvoiceStatus string `json:"invoice_status"`
			}
			json.Unmarshal([]byte(st), &reply)
			if reply.InvoiceStatus == "paid" && n < 0 {
				t.Errorf("paid status without deployment details: %s", st)
			}
		}
		if len(statuses) < 5 {
			t.Fatalf("only %d statuses seen", len(statuses))
		}
	})
}
