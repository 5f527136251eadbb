package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/infra/wsproxy"
	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
)

// lnmessageSync is Clams Remote's first sync as its connection library
// runs it: lnmessage (npm) connects through a websocket proxy, over the
// node's Lightning transport, and sends every sync call by commando with
// the attendee's rune, a few at once as Remote does. It prints one JSON
// line: the methods answered, and the errors.
const lnmessageSync = `
import LnMessage from 'lnmessage'
const [proxy, id, ip, port, rune, methods] = process.argv.slice(2)
const ln = new LnMessage({ remoteNodePublicKey: id, wsProxy: proxy, ip, port: Number(port) })
const out = { answered: [], errors: {} }
if (!(await ln.connect(false))) { console.log(JSON.stringify({ error: 'could not connect' })); process.exit(1) }
await Promise.all(methods.split(',').map(async (method) => {
  try { await ln.commando({ method, params: {}, rune }); out.answered.push(method) }
  catch (e) { out.errors[method] = e }
}))
console.log(JSON.stringify(out))
ln.disconnect()
process.exit(0)
`

// playgroundRune mints a rune of the playground profile, as the bootstrap
// does for an attendee.
func playgroundRune(t *testing.T, n *realcln.Node) string {
	t.Helper()
	var r struct {
		Rune string `json:"rune"`
	}
	restrictions, _ := json.Marshal(playground.PlaygroundProfile.Restrictions)
	if err := n.Get(&r, "createrune", "restrictions="+string(restrictions)); err != nil {
		t.Fatal(err)
	}
	return r.Rune
}

// proxyTo serves our attendee proxy over TLS, relaying to n's Lightning
// port only: its wss URL, and its certificate's PEM file for a client to
// trust (as a phone trusts ACME's).
func proxyTo(t *testing.T, n *realcln.Node) (url, caFile string) {
	t.Helper()
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port))
	relay := &wsproxy.Relay{
		Authorize: func(_ context.Context, host string, port int) (wsproxy.Target, error) {
			if net.JoinHostPort(host, strconv.Itoa(port)) != target {
				return wsproxy.Target{}, wsproxy.ErrRefused
			}
			return wsproxy.Target{Order: "attendee", Until: time.Now().Add(time.Hour)}, nil
		},
		ClientAddr: func(*http.Request) netip.Addr { return netip.MustParseAddr("127.0.0.1") },
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws-proxy/{target}", relay)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws-proxy", caFile
}

// An attendee's wallet syncs through our proxy over TLS: lnmessage, the
// library Clams Remote connects with, reaches a real lightningd through
// lnplaylive's proxy (TLS by a certificate the test CA signs, as ACME's
// would be), holding a rune of the playground profile, and the first sync
// (every method Remote calls to show a wallet) is answered. The proxy
// relays to that node only.
func TestLnmessageSyncsThroughOurProxyOverTLS(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	npm := filepath.Join(filepath.Dir(file), "..", ".data", "npm")
	if _, err := os.Stat(filepath.Join(npm, "node_modules", "lnmessage", "package.json")); err != nil {
		t.Fatalf("lnmessage is missing (%v): run `make deps`", err)
	}
	node := realcln.Start(t, "--developer")
	id := node.ID(t)
	rune := playgroundRune(t, node)
	proxy, ca := proxyTo(t, node)
	script := filepath.Join(npm, "lnplaylive-sync.mjs")
	if err := os.WriteFile(script, []byte(lnmessageSync), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := playground.ClamsMethods["sync"]
	var methods []string
	for _, m := range sync {
		if m != "waitanyinvoice" && m != "bkpr-listaccountevents" { // one blocks; one needs the bookkeeper's data
			methods = append(methods, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, proxy, id, "127.0.0.1", strconv.Itoa(node.Port), rune, strings.Join(methods, ","))
	cmd.Dir = npm
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lnmessage through the proxy: %v\n%s", err, out)
	}
	var res struct {
		Answered []string       `json:"answered"`
		Errors   map[string]any `json:"errors"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("lnmessage said %s", out)
	}
	if len(res.Answered) != len(methods) || len(res.Errors) != 0 {
		t.Fatalf("the first sync through the proxy: answered %v, errors %v (of %d)", res.Answered, res.Errors, len(methods))
	}
	t.Logf("%d sync calls answered through the proxy over TLS", len(res.Answered))
}
