package storefront

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// host is the storefront's public name in the test; a DNS server of the
// test's own answers it with loopback, for Pebble's validation.
const host = "shop.lnplay.test"

// dnsForPebble answers A queries for host with 127.0.0.1 (and nothing
// else), over TCP as Pebble's custom resolver asks.
func dnsForPebble(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && strings.EqualFold(q.Name, host+".") {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return l.Addr().String()
}

// The storefront's certificate comes from an ACME CA: Pebble, Let's
// Encrypt's test server, in this process, validating by TLS-ALPN-01
// against the storefront's own TLS listener. A client trusting only
// Pebble's root then reaches the storefront and, on the same listener,
// the attendees' proxy over wss.
func TestTheStorefrontGetsItsCertificateByACME(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := tl.Addr().(*net.TCPAddr).Port

	quiet := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(quiet, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(quiet, 0, tlsPort, false, dnsForPebble(t), store)
	front := wfe.New(quiet, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	pebble := httptest.NewTLSServer(front.Handler())
	defer pebble.Close()

	node := &proxyNode{live: echoPeer(t), asks: map[string]int{}}
	s, err := New(Config{Log: slog.New(slog.DiscardHandler)}, node)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ACME{Hosts: []string{host}, Directory: pebble.URL + "/dir", CacheDir: t.TempDir(), HTTPClient: pebble.Client()}.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(tls.NewListener(tl, cfg)) }()
	defer hs.Close()

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	loopback := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DialContext: loopback}}
	base := "https://" + host + ":" + strconv.Itoa(tlsPort)
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("the storefront over ACME's certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "ok" || resp.TLS == nil || resp.TLS.PeerCertificates[0].DNSNames[0] != host {
		t.Fatalf("healthz %q, certificate %v", body, resp.TLS.PeerCertificates[0].DNSNames)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+host+":"+strconv.Itoa(tlsPort)+"/ws-proxy/"+node.live, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("the proxy over ACME's certificate: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, []byte("init")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != "init" {
		t.Fatalf("through the proxy: %q %v", b, err)
	}
}
