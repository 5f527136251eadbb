package storefront

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// proxyNode answers lnplaylive-proxytarget as the plugin does: one
// address is a live order's node, every other is refused with -32602.
type proxyNode struct {
	live string
	mu   sync.Mutex
	asks map[string]int
}

func (n *proxyNode) Call(_ context.Context, method string, params, result any) error {
	if method != "lnplaylive-proxytarget" {
		return &cln.Error{Code: -32601, Message: "Unknown command '" + method + "'"}
	}
	addr := params.(map[string]any)["address"].(string)
	n.mu.Lock()
	n.asks[addr]++
	n.mu.Unlock()
	if addr != n.live {
		return &cln.Error{Code: -32602, Message: "address: " + order.ErrNotALiveNode.Error()}
	}
	b, _ := json.Marshal(order.ProxyTargetReply{InvoiceID: "8d33e17d-0385-46c0-82f2-16c989f7b112", Node: 1, Until: order.FormatTime(time.Now().Add(time.Hour))})
	return json.Unmarshal(b, result)
}

// echoPeer stands in for a node's p2p port: it echoes what it reads.
func echoPeer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// The storefront serves the attendees' proxy at /ws-proxy/<host>:<port>,
// over its own TLS: a wallet reaches a live order's node, and only that;
// the plugin is asked once per address however often wallets reconnect.
func TestTheStorefrontProxiesToLiveNodesOnly(t *testing.T) {
	node := &proxyNode{live: echoPeer(t), asks: map[string]int{}}
	s, err := New(Config{Log: slog.New(slog.DiscardHandler)}, node)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	base := "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws-proxy/"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		c, _, err := websocket.Dial(ctx, base+node.live, &websocket.DialOptions{HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageBinary, []byte("act one")); err != nil {
			t.Fatal(err)
		}
		if _, b, err := c.Read(ctx); err != nil || string(b) != "act one" {
			t.Fatalf("through the proxy: %q %v", b, err)
		}
		c.CloseNow()
	}
	for _, target := range []string{"127.0.0.1:22", "203.0.113.9:9736"} {
		if _, resp, err := websocket.Dial(ctx, base+target, &websocket.DialOptions{HTTPClient: srv.Client()}); err == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %v %v; want 403", target, resp, err)
		}
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.asks[node.live] != 1 {
		t.Fatalf("the plugin was asked %d times about the live node; want once", node.asks[node.live])
	}
}
