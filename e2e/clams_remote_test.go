package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	bob := realcln.Start(t, "--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1")
	alice := realPayer(t, bob) // Alice holds a channel to Bob
	rune := playgroundRune(t, alice)
	proxyURL, _ := proxyTo(t, alice)
	app := remoteSite(t, site)
	link := order.ClamsURL(app, proxyURL, alice.ID(t), "127.0.0.1", alice.Port, rune, "Alice")

	// The test's proxy has a certificate of the test's own CA: the browser
	// is told to take it, as a phone takes ACME's.
	b := browser(t, chromedp.Flag("ignore-certificate-errors", true))

	without := tab(t, b)
	do(t, without, "the link without larp", chromedp.Navigate(strings.Replace(link, "&larp=true", "", 1)))
	waitURL(t, without, "/welcome", "Remote without larp=true")

	ctx := tab(t, b)
	do(t, ctx, "the attendee's link", chromedp.Navigate(link))
	remoteConnected := func() bool {
		var peers struct {
			Peers []struct {
				Connected bool `json:"connected"`
			} `json:"peers"`
		}
		if alice.Get(&peers, "listpeers") != nil {
			return false
		}
		n := 0
		for _, p := range peers.Peers {
			if p.Connected {
				n++
			}
		}
		return n >= 2 // Bob, and Remote's ultra-light node
	}
	waitReal(t, "Remote connected to Alice through the proxy", remoteConnected)
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
	// The page load reconnects the wallet: pay once it is connected again.
	time.Sleep(time.Second)
	waitReal(t, "Remote connected again on its pay page", remoteConnected)
	do(t, ctx, "pay", chromedp.WaitVisible(chromedp.Search(`//button[normalize-space(.)="Pay"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Pay"]`)))
	t.Cleanup(func() {
		if t.Failed() {
			pays, _ := alice.Call("listpays")
			t.Logf("Alice's pays: %s", pays)
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			body, _ := chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
			t.Logf("Remote's page: %s", body)
		}
	})
	waitReal(t, "Bob paid from Remote", func() bool {
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
