package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/infra/wsproxy"
	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/order"
)

// ClamsRemoteEnv points at a Clams Remote site built by hand (its
// `build` folder); nothing of Remote is in the project.
const ClamsRemoteEnv = "LNPLAYLIVE_CLAMS_REMOTE"

// remoteSite serves a built Clams Remote as its static adapter expects:
// files where they are, 200.html for every other route (a single-page app).
func remoteSite(t *testing.T, dir string) string {
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := filepath.Join(dir, filepath.Clean(r.URL.Path))
		if st, err := os.Stat(p); err == nil && !st.IsDir() || r.URL.Path == "/" {
			files.ServeHTTP(w, r)
			return
		}
		if _, err := os.Stat(p + ".html"); err == nil {
			http.ServeFile(w, r, p+".html")
			return
		}
		http.ServeFile(w, r, filepath.Join(dir, "200.html"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An attendee opens their node's link in today's Clams Remote (2.6.1,
// built by hand): with larp=true it goes straight to the wallet, connects
// through our proxy over TLS to the real lightningd with the attendee's
// rune, and pays an invoice of another node from Remote's own pay page.
// Without larp=true Remote first asks for a passphrase.
func TestAClamsLinkOpensAndPaysInClamsRemote(t *testing.T) {
	site := os.Getenv(ClamsRemoteEnv)
	if site == "" {
		t.Skipf("Clams Remote: skipped (%s unset)", ClamsRemoteEnv)
	}
	if _, err := os.Stat(filepath.Join(site, "200.html")); err != nil {
		t.Fatalf("%s=%s is not a built Remote site: %v", ClamsRemoteEnv, site, err)
	}
	nodes := realcln.StartNet(t, 2, "--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1")
	alice, bob := nodes[0], nodes[1]
	channel(t, alice, bob, 1_000_000)

	var rune struct {
		Rune string `json:"rune"`
	}
	restrictions, _ := jsonOf(playground.PlaygroundProfile.Restrictions)
	if err := alice.Get(&rune, "createrune", "restrictions="+restrictions); err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(alice.Port))
	relay := &wsproxy.Relay{
		Authorize: func(_ context.Context, host string, port int) (wsproxy.Target, error) {
			if net.JoinHostPort(host, strconv.Itoa(port)) != target {
				return wsproxy.Target{}, wsproxy.ErrRefused
			}
			return wsproxy.Target{Order: "remote", Until: time.Now().Add(time.Hour)}, nil
		},
		ClientAddr: func(*http.Request) netip.Addr { return netip.MustParseAddr("127.0.0.1") },
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws-proxy/{target}", relay)
	proxy := httptest.NewTLSServer(mux)
	defer proxy.Close()
	app := remoteSite(t, site)
	proxyURL := "wss" + strings.TrimPrefix(proxy.URL, "https") + "/ws-proxy"
	link := order.ClamsURL(app, proxyURL, alice.ID(t), "127.0.0.1", alice.Port, rune.Rune, "Alice")

	// The test's proxy has a certificate of the test's own CA: the browser
	// is told to take it, as a phone takes ACME's.
	b := browser(t, chromedp.Flag("ignore-certificate-errors", true))

	without := tab(t, b)
	do(t, without, "the link without larp", chromedp.Navigate(strings.Replace(link, "&larp=true", "", 1)))
	waitURL(t, without, "/welcome", "Remote without larp=true")

	ctx := tab(t, b)
	do(t, ctx, "the attendee's link", chromedp.Navigate(link))
	waitFor(t, 60*time.Second, "Remote connects to Alice through the proxy", func() bool {
		var peers struct {
			Peers []struct {
				ID string `json:"id"`
			} `json:"peers"`
		}
		return alice.Get(&peers, "listpeers") == nil && len(peers.Peers) >= 2 // Bob, and Remote's ultra-light node
	})
	if u := get(t, ctx, "location", chromedp.Location()); strings.Contains(u, "/welcome") {
		t.Fatalf("with larp=true Remote still asks for a passphrase: %s", u)
	}

	var inv struct {
		Bolt11 string `json:"bolt11"`
	}
	if err := bob.Get(&inv, "invoice", "amount_msat=21000000", "label=from-remote", "description=workshop"); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "Remote's pay page", chromedp.Navigate(app+"/payments/pay/bolt11/"+inv.Bolt11))
	do(t, ctx, "pay", chromedp.WaitVisible(chromedp.Search(`//button[normalize-space(.)="Pay"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Pay"]`)))
	waitFor(t, 60*time.Second, "Bob is paid from Remote", func() bool {
		var li struct {
			Invoices []struct {
				Status string `json:"status"`
			} `json:"invoices"`
		}
		return bob.Get(&li, "listinvoices", "label=from-remote") == nil && len(li.Invoices) == 1 && li.Invoices[0].Status == "paid"
	})
}

// waitURL waits until the tab's address contains want.
func waitURL(t *testing.T, ctx context.Context, want, what string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if last = get(t, ctx, "location", chromedp.Location()); strings.Contains(last, want) {
			return
		}
	}
	t.Fatalf("%s: at %s, not %s", what, last, want)
}

// waitFor polls ok until it holds, within limit.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
	}
}

func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// channel funds from on the chain stand-in and opens a channel of sat to
// to, confirmed and usable both ways.
func channel(t *testing.T, from, to *realcln.Node, sat int) {
	t.Helper()
	var addr struct {
		Bech32 string `json:"bech32"`
	}
	if err := from.Get(&addr, "newaddr", "addresstype=bech32"); err != nil {
		t.Fatal(err)
	}
	if _, err := from.Bitcoin("faucet", addr.Bech32, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := from.Bitcoin("generatetoaddress", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the funding is seen", func() bool {
		var f struct {
			Outputs []struct {
				Status string `json:"status"`
			} `json:"outputs"`
		}
		return from.Get(&f, "listfunds") == nil && len(f.Outputs) > 0 && f.Outputs[0].Status == "confirmed"
	})
	// Both must see the funding's block first: a node still at height 0
	// records the channel at block 0, which lightningd asserts against.
	for _, n := range []*realcln.Node{from, to} {
		waitFor(t, 30*time.Second, "the nodes see the chain", func() bool {
			var info struct {
				Blockheight int `json:"blockheight"`
			}
			return n.Get(&info, "getinfo") == nil && info.Blockheight > 0
		})
	}
	dest, _ := jsonOf([]map[string]any{{"id": to.ID(t) + "@127.0.0.1:" + strconv.Itoa(to.Port), "amount": sat}})
	if _, err := from.Call("multifundchannel", "destinations="+dest); err != nil {
		t.Fatal(err)
	}
	if _, err := from.Bitcoin("generatetoaddress", "6"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the channel is normal", func() bool {
		var pc struct {
			Channels []struct {
				State string `json:"state"`
			} `json:"channels"`
		}
		return from.Get(&pc, "listpeerchannels") == nil && len(pc.Channels) == 1 && pc.Channels[0].State == "CHANNELD_NORMAL"
	})
}
