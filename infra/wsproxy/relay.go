// Package wsproxy is the attendees' websocket proxy, in Clams Remote's
// protocol (as Clams's own ln-ws-proxy speaks it): a websocket opened on
// <proxy>/<host>:<port> whose binary messages are the raw bytes of a TCP
// connection to that Lightning node. A wallet in a browser cannot open a
// TCP socket, and a page served over https cannot open ws:; through the
// proxy it reaches the node's p2p port, which needs no certificate (the
// Lightning transport is encrypted end to end: the proxy sees ciphertext).
//
// It relays only to addresses Authorize accepts (the nodes of live orders)
// and refuses every other target before dialling, so it is never an open
// relay. Check (check.go) is the start-up probe of any such proxy.
package wsproxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lnplaylive/lnplaylive/order"
)

// Target is an address the proxy may relay to, and until when.
type Target struct {
	Order string // a short name for metrics and logs (never the order's bearer id)
	Until time.Time
}

// ErrRefused: the address is not one the proxy relays to.
var ErrRefused = errors.New("not a node of a live order")

// Relay serves the proxy. The target is the request's path value "target".
type Relay struct {
	// Authorize says whether host:port may be relayed to (ErrRefused if
	// not; any other error is the authority failing).
	Authorize func(ctx context.Context, host string, port int) (Target, error)
	// ClientAddr is who is asking (behind a trusted proxy, its
	// X-Forwarded-For).
	ClientAddr func(*http.Request) netip.Addr
	// PerClient bounds one client's connections at once (default 16: a
	// host testing every node of a playground from one address).
	PerClient int
	// Idle closes a connection that carried nothing either way this long
	// (default 10 minutes; Lightning peers ping every minute or so).
	Idle time.Duration
	// DialTimeout bounds the TCP connect to the node (default 5 s).
	DialTimeout time.Duration
	Log         *slog.Logger

	once    sync.Once
	mu      sync.Mutex
	clients map[netip.Addr]int
	bytes   *prometheus.CounterVec
	open    prometheus.Gauge
	refused *prometheus.CounterVec
}

func (r *Relay) init() {
	r.once.Do(func() {
		r.clients = map[netip.Addr]int{}
		if r.PerClient <= 0 {
			r.PerClient = 16
		}
		if r.Idle <= 0 {
			r.Idle = 10 * time.Minute
		}
		if r.DialTimeout <= 0 {
			r.DialTimeout = 5 * time.Second
		}
		if r.Log == nil {
			r.Log = slog.Default()
		}
		r.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lnplaylive_proxy_bytes_total",
			Help: "Bytes the attendees' websocket proxy relayed, by order and direction (to_node, to_wallet)."}, []string{"order", "direction"})
		r.open = prometheus.NewGauge(prometheus.GaugeOpts{Name: "lnplaylive_proxy_connections", Help: "Wallet connections the proxy relays now."})
		r.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lnplaylive_proxy_refused_total",
			Help: "Proxy connections refused before any byte was relayed, by reason."}, []string{"reason"})
	})
}

// Collectors are the proxy's metrics, for the owner's registry.
func (r *Relay) Collectors() []prometheus.Collector {
	r.init()
	return []prometheus.Collector{r.bytes, r.open, r.refused}
}

func (r *Relay) refuse(w http.ResponseWriter, status int, reason, msg string) {
	r.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, status)
}

// ServeHTTP relays one wallet's connection.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.init()
	host, port, err := order.SplitTarget(req.PathValue("target"))
	if err != nil {
		r.refuse(w, http.StatusBadRequest, "bad_target", err.Error())
		return
	}
	client := r.ClientAddr(req)
	if !r.enter(client) {
		r.refuse(w, http.StatusTooManyRequests, "per_client_limit", "too many connections from this address")
		return
	}
	defer r.leave(client)
	target, err := r.Authorize(req.Context(), host, port)
	switch {
	case errors.Is(err, ErrRefused):
		r.refuse(w, http.StatusForbidden, "not_a_live_node", ErrRefused.Error())
		return
	case err != nil:
		r.Log.Warn("proxy: authorize", "target", net.JoinHostPort(host, strconv.Itoa(port)), "error", err)
		r.refuse(w, http.StatusServiceUnavailable, "authority_unavailable", "cannot check the target now; try again")
		return
	}
	node, err := (&net.Dialer{Timeout: r.DialTimeout}).DialContext(req.Context(), "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		r.refuse(w, http.StatusBadGateway, "node_unreachable", "the node does not answer")
		return
	}
	defer node.Close()
	// The wallet's page is served by Clams Remote, not by us: any origin.
	// The target check above is what keeps this from being an open relay.
	c, err := websocket.Accept(w, req, &websocket.AcceptOptions{OriginPatterns: []string{"*"}})
	if err != nil {
		return // Accept has answered
	}
	c.SetReadLimit(1 << 20) // a Lightning message is at most 65535 bytes plus framing
	r.open.Inc()
	defer r.open.Dec()
	ctx, cancel := context.WithDeadline(req.Context(), target.Until)
	defer cancel()
	wallet := websocket.NetConn(ctx, c, websocket.MessageBinary)
	defer wallet.Close()
	r.pipe(ctx, cancel, wallet, node, target.Order)
}

// pipe copies both ways until either side closes, the order ends (ctx),
// or nothing moved for Idle.
func (r *Relay) pipe(ctx context.Context, cancel context.CancelFunc, wallet, node net.Conn, orderName string) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	toNode, toWallet := r.bytes.WithLabelValues(orderName, "to_node"), r.bytes.WithLabelValues(orderName, "to_wallet")
	done := make(chan struct{}, 2)
	copyCounted := func(dst, src net.Conn, counter prometheus.Counter) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				counter.Add(float64(n))
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go copyCounted(node, wallet, toNode)
	go copyCounted(wallet, node, toWallet)
	tick := time.NewTicker(min(r.Idle/4, time.Second*15))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return // one side closed: the deferred closes end the other
		case <-ctx.Done():
			return
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) >= r.Idle {
				cancel()
				return
			}
		}
	}
}

func (r *Relay) enter(client netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients[client] >= r.PerClient {
		return false
	}
	r.clients[client]++
	return true
}

func (r *Relay) leave(client netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients[client]--; r.clients[client] <= 0 {
		delete(r.clients, client)
	}
}
