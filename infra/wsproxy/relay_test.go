package wsproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// node is a TCP peer standing in for a Lightning node's p2p port: it
// echoes what it reads, and counts the connections it accepted.
type node struct {
	addr     string
	accepted atomic.Int64
}

func startNode(t *testing.T) *node {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	n := &node{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.accepted.Add(1)
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return n
}

// proxy serves a Relay over real TLS, authorizing only allowed.
func proxy(t *testing.T, allowed map[string]bool, mutate func(*Relay)) (*Relay, string, *http.Client) {
	r := &Relay{
		Authorize: func(_ context.Context, host string, port int) (Target, error) {
			if allowed[net.JoinHostPort(host, strconv.Itoa(port))] {
				return Target{Order: "8d33e17d", Until: time.Now().Add(time.Hour)}, nil
			}
			return Target{}, ErrRefused
		},
		ClientAddr: func(*http.Request) netip.Addr { return netip.MustParseAddr("198.51.100.7") },
	}
	if mutate != nil {
		mutate(r)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws-proxy/{target}", r)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	// The client trusts the test server's certificate, and nothing else.
	return r, "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws-proxy", srv.Client()
}

func dial(t *testing.T, client *http.Client, url string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
}

// A wallet reaches a live order's node through the proxy over TLS: its
// binary messages are the node's bytes both ways, and they are counted.
func TestTheProxyRelaysToALiveNodeOverTLS(t *testing.T) {
	n := startNode(t)
	r, base, client := proxy(t, map[string]bool{n.addr: true}, nil)
	c, _, err := dial(t, client, base+"/"+n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hello := bytes.Repeat([]byte{0x00, 0x10}, 25) // 50 bytes, as BOLT 8's act one is
	if err := c.Write(ctx, websocket.MessageBinary, hello); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < len(hello) {
		typ, b, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageBinary {
			t.Fatalf("read: %v %v", typ, err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, hello) {
		t.Fatalf("node answered %x", got)
	}
	if v := testutil.ToFloat64(r.bytes.WithLabelValues("8d33e17d", "to_node")); v != 50 {
		t.Fatalf("to_node counted %v", v)
	}
	if v := testutil.ToFloat64(r.bytes.WithLabelValues("8d33e17d", "to_wallet")); v != 50 {
		t.Fatalf("to_wallet counted %v", v)
	}
}

// Any target that is not a live order's node is refused before the proxy
// dials anything: it is never an open relay.
func TestTheProxyRefusesEveryOtherTargetBeforeDialling(t *testing.T) {
	n := startNode(t)
	_, base, client := proxy(t, map[string]bool{}, nil)
	for _, target := range []string{n.addr, "127.0.0.1:22", "169.254.169.254:80", "[::1]:9735", "example.com:9735", "10.0.0.1"} {
		_, resp, err := dial(t, client, base+"/"+target)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v %v; want 403", target, resp, err)
		}
	}
	for _, bad := range []string{"host:0", "host:70000", ":9735"} {
		_, resp, err := dial(t, client, base+"/"+bad)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %v %v; want 400", bad, resp, err)
		}
	}
	if a := n.accepted.Load(); a != 0 {
		t.Fatalf("the proxy dialled a refused target %d times", a)
	}
}

// One client holds at most PerClient connections at once; a connection
// idle for Idle is closed; a failing authority refuses, it does not relay.
func TestTheProxyBoundsClientsAndIdleConnections(t *testing.T) {
	n := startNode(t)
	_, base, client := proxy(t, map[string]bool{n.addr: true}, func(r *Relay) { r.PerClient, r.Idle = 2, 300*time.Millisecond })
	a, _, err := dial(t, client, base+"/"+n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.CloseNow()
	b, _, err := dial(t, client, base+"/"+n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.CloseNow()
	if _, resp, err := dial(t, client, base+"/"+n.addr); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third connection: %v %v; want 429", resp, err)
	}
	// Both idle: closed by the proxy, which frees the client's places.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := a.Read(ctx); err == nil {
		t.Fatal("an idle connection stayed open")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := dial(t, client, base+"/"+n.addr)
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the places of closed connections were not freed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	_, base, client = proxy(t, nil, func(r *Relay) {
		r.Authorize = func(context.Context, string, int) (Target, error) {
			return Target{}, errors.New("lightningd is restarting")
		}
	})
	if _, resp, err := dial(t, client, base+"/"+n.addr); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with the authority down: %v %v; want 503", resp, err)
	}
}

// Check, the start-up probe, passes a proxy that refuses the probe's
// target (as ours does) and fails one that is not there.
func TestCheckTellsAnAnsweringProxyFromNone(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, ErrRefused.Error(), http.StatusForbidden)
	}))
	defer plain.Close()
	if c := Check(context.Background(), "ws"+strings.TrimPrefix(plain.URL, "http")); c.Err != nil || !strings.Contains(c.Detail, "403") {
		t.Fatalf("an answering proxy: %+v", c)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := l.Addr().String()
	l.Close()
	if c := Check(context.Background(), "ws://"+gone); c.Err == nil || c.Fix == "" {
		t.Fatalf("no proxy there: %+v", c)
	}
	if c := Check(context.Background(), "https://proxy.example"); c.Err == nil {
		t.Fatalf("not a websocket URL: %+v", c)
	}
}
