package storefront

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

func FuzzParseBuyForm(f *testing.F) {
	cat := order.DefaultProducts().Catalogue(true, 0)
	for _, s := range []string{"", "node_count=8&hours=3", "node_count=64&hours=504&topology=prism&payment_type=bolt12",
		"node_count=9", "hours=-1", "hours=1e9", "topology=%00", "node_count=8&node_count=8", "payment_type=bolt13"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		form, err := parseBuyForm(v, cat)
		if err != nil {
			if _, ok := err.(*formError); !ok {
				t.Fatalf("%q: error %T %v is not a form error", raw, err, err)
			}
			return
		}
		// What it accepts, the plugin sells: the same rules.
		params, _ := json.Marshal(map[string]any{"node_count": form.NodeCount, "hours": form.Hours, "topology": form.Topology, "payment_type": form.PaymentType})
		if _, err := order.ParseCreateOrder(params, cat.Products()); err != nil {
			t.Fatalf("%q: accepted %+v, which createorder refuses: %v", raw, form, err)
		}
	})
}

func TestShortLinksRoundTripAndResistForgery(t *testing.T) {
	key := make([]byte, LinkKeySize)
	rand.Read(key)
	c, err := newLinkCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	id := order.NewID()
	seen := map[string]bool{}
	for i := 1; i <= MaxShortLinkNodes; i++ {
		tok, err := c.token(id, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 22 || seen[tok] || strings.Contains(tok, string(id)[:8]) {
			t.Fatalf("node %d: token %q", i, tok)
		}
		seen[tok] = true
		gotID, gotIndex, err := c.parse(tok)
		if err != nil || gotID != id || gotIndex != i {
			t.Fatalf("node %d: parsed %s %d %v", i, gotID, gotIndex, err)
		}
	}
	if _, err := c.token(id, 65); err == nil {
		t.Fatal("node 65 got a short link")
	}
	// Another key reads nothing of ours: a changed token names another id.
	other, _ := newLinkCodec(make([]byte, LinkKeySize))
	tok, _ := c.token(id, 3)
	if gotID, _, _ := other.parse(tok); gotID == id {
		t.Fatal("a token read under another key")
	}
	flipped := []byte(tok)
	flipped[5] ^= 1
	if gotID, _, _ := c.parse(string(flipped)); gotID == id {
		t.Fatal("an altered token still names the order")
	}
	for _, bad := range []string{"", "x", "AAAA", strings.Repeat("A", 23), "%%%%"} {
		if _, _, err := c.parse(bad); err == nil {
			t.Fatalf("token %q parsed", bad)
		}
	}
}

func TestClientAddrBelievesOnlyTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct{ remote, xff, want string }{
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},             // not a proxy: its header is ignored
		{"10.0.0.2:5000", "1.2.3.4", "1.2.3.4"},                    // our proxy says who
		{"10.0.0.2:5000", "6.6.6.6, 1.2.3.4, 10.0.0.3", "1.2.3.4"}, // the rightmost untrusted hop
		{"10.0.0.2:5000", "garbage", "10.0.0.2"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		r.Header.Set("X-Forwarded-For", c.xff)
		if got := clientAddr(r, trusted); got.String() != c.want {
			t.Errorf("%s via %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// countingNode answers invoicestatus for any order as unpaid, and counts
// the calls per order (when each reached it).
type countingNode struct {
	mu    sync.Mutex
	calls map[string][]time.Time
}

func (n *countingNode) Call(_ context.Context, method string, params, result any) error {
	p := params.(map[string]any)
	id := string(p["invoice_id"].(order.ID))
	var v any
	switch method {
	case methodInvoiceStatus:
		n.mu.Lock()
		n.calls[id] = append(n.calls[id], time.Now())
		n.mu.Unlock()
		v = map[string]any{"invoice_id": id, "payment_type": "bolt11", "invoice_status": "unpaid", "deployment_details": "not_deployed"}
	case methodPayment:
		v = order.PaymentReply{InvoiceID: order.ID(id), PaymentType: order.PaymentTypeBolt11, BOLT11Invoice: "lnbcrt1", Status: order.InvoiceUnpaid, ExpiresAt: order.FormatTime(time.Now().Add(time.Hour))}
	}
	b, _ := json.Marshal(v)
	return json.Unmarshal(b, result)
}

func TestOnePollPerOrderHoweverManyWatch(t *testing.T) {
	node := &countingNode{calls: map[string][]time.Time{}}
	interval := 100 * time.Millisecond
	s, err := New(Config{PollInterval: interval}, node)
	if err != nil {
		t.Fatal(err)
	}
	ids := []order.ID{order.NewID(), order.NewID(), order.NewID()}
	var cancels []func()
	for _, id := range ids {
		for range 50 {
			_, cancel := s.hub.subscribe(id)
			cancels = append(cancels, cancel)
		}
	}
	// Page loads between polls are answered from the last one.
	var loads atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				for _, id := range ids {
					if _, err := s.hub.get(context.Background(), id); err != nil {
						t.Error(err)
					}
					loads.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for _, c := range cancels {
		c()
	}
	time.Sleep(3 * interval)
	node.mu.Lock()
	defer node.mu.Unlock()
	for _, id := range ids {
		calls := node.calls[string(id)]
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].Sub(calls[i-1]); gap < interval {
				t.Fatalf("order %s asked twice within %s (%s apart)", id, interval, gap)
			}
		}
		if len(calls) < 2 {
			t.Fatalf("order %s asked %d times while watched", id, len(calls))
		}
	}
	// Nobody watches any more: the polls have stopped.
	before := len(node.calls[string(ids[0])])
	node.mu.Unlock()
	time.Sleep(5 * interval)
	node.mu.Lock()
	if after := len(node.calls[string(ids[0])]); after != before {
		t.Fatalf("still polled after the last watcher left: %d → %d", before, after)
	}
	t.Logf("%d page loads and 150 watchers on 3 orders: %d, %d, %d status calls", loads.Load(),
		len(node.calls[string(ids[0])]), len(node.calls[string(ids[1])]), len(node.calls[string(ids[2])]))
}

func TestSettingsRefuseWithTheFix(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "LNPLAYLIVE_LIGHTNING_RPC is not set"},
		{map[string]string{"LNPLAYLIVE_LIGHTNING_RPC": "/x", "LNPLAYLIVE_WEB_PUBLIC_URL": "https://a"}, "LNPLAYLIVE_WEB_LINK_KEY_FILE"},
		{map[string]string{"LNPLAYLIVE_LIGHTNING_RPC": "/x", "LNPLAYLIVE_WEB_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"}, `"nonsense"`},
		{map[string]string{"LNPLAYLIVE_LIGHTNING_RPC": "/x", "LNPLAYLIVE_WEB_ORDERS_BURST": "0"}, "LNPLAYLIVE_WEB_ORDERS_BURST"},
		{map[string]string{"LNPLAYLIVE_LIGHTNING_RPC": "/x", "LNPLAYLIVE_WEB_TLS_ADDR": ":443"}, "LNPLAYLIVE_WEB_PUBLIC_URL must be the https://"},
		{map[string]string{"LNPLAYLIVE_LIGHTNING_RPC": "/x", "LNPLAYLIVE_WEB_TLS_ADDR": ":443", "LNPLAYLIVE_WEB_PUBLIC_URL": "http://shop.example",
			"LNPLAYLIVE_WEB_LINK_KEY_FILE": "/k"}, "LNPLAYLIVE_WEB_PUBLIC_URL must be the https://"},
		{map[string]string{"LNPLAYLIVE_LIGHTNING_RPC": "/x", "LNPLAYLIVE_WEB_TLS_ADDR": ":443", "LNPLAYLIVE_WEB_PUBLIC_URL": "https://shop.example",
			"LNPLAYLIVE_WEB_LINK_KEY_FILE": "/k"}, "LNPLAYLIVE_WEB_ACME_CACHE"},
	} {
		if _, err := SettingsFromEnv(env(c.env)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want it to say %s", c.env, err, c.want)
		}
	}
	if _, err := New(Config{PublicURL: "ftp://x"}, nil); err == nil {
		t.Error("an ftp public URL was taken")
	}
	s, err := New(Config{PublicURL: "https://shop.example/lnplay/", LinkKey: make([]byte, LinkKeySize)}, &countingNode{calls: map[string][]time.Time{}})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/lnplay/static/app.js", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "EventSource") {
		t.Fatalf("the script under the public URL's prefix: %d", w.Code)
	}
}

// refusingNode sells the default products and refuses every order as
// the plugin does when no provider is registered (plugin/sale_admission.go).
type refusingNode struct{ creates atomic.Int64 }

func (n *refusingNode) Call(_ context.Context, method string, _, result any) error {
	switch method {
	case methodProducts:
		b, _ := json.Marshal(order.DefaultProducts().Catalogue(true, 0))
		return json.Unmarshal(b, result)
	case methodCreateOrder:
		n.creates.Add(1)
		return &cln.Error{Code: -1, Message: "no capacity configured: the worker has no provider to deploy on (it needs HCLOUD_TOKEN or LNPLAYLIVE_HOSTS_FILE)"}
	}
	return &cln.Error{Code: -32601, Message: "Unknown command"}
}

func TestRefusalsAreShownNextToTheForm(t *testing.T) {
	node := &refusingNode{}
	s, err := New(Config{}, node)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/order", strings.NewReader("node_count=16&hours=48&topology=prism"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.ServeHTTP(w, r)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "no capacity configured") {
		t.Fatalf("%d:\n%s", w.Code, body)
	}
	// The buyer's choices are kept.
	if !strings.Contains(body, `value="16" data-rate="3520000" checked`) || !strings.Contains(body, `value="48"`) || !strings.Contains(body, `value="prism" checked`) {
		t.Fatalf("the form lost the buyer's choices:\n%s", body)
	}
	if node.creates.Load() != 1 {
		t.Fatalf("%d createorder calls", node.creates.Load())
	}
}
