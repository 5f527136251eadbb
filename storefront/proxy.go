package storefront

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/lnplaylive/lnplaylive/infra/wsproxy"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// The attendees' websocket proxy, served at <prefix>/ws-proxy/<host>:<port>:
// links name it (wss://<public host><prefix>/ws-proxy, the worker's
// LNPLAYLIVE_CLAMS_PROXY) so attendees' wallets need no third party. It
// relays only to the nodes of live orders, as the plugin knows them
// (lnplaylive-proxytarget); answers are kept briefly, because a wallet
// reconnects often and every attendee's wallet connects at once.

const (
	targetTTL  = 10 * time.Second
	refusalTTL = 5 * time.Second
	maxTargets = 4096
)

type targetAnswer struct {
	target wsproxy.Target
	err    error // wsproxy.ErrRefused, or nil
	until  time.Time
}

// targets asks the plugin which live order's node an address is.
type targets struct {
	node Node
	now  func() time.Time

	mu sync.Mutex
	m  map[string]targetAnswer
}

func (t *targets) authorize(ctx context.Context, host string, port int) (wsproxy.Target, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	now := t.now()
	t.mu.Lock()
	if a, ok := t.m[addr]; ok && now.Before(a.until) {
		t.mu.Unlock()
		return a.target, a.err
	}
	t.mu.Unlock()
	var r order.ProxyTargetReply
	err := t.node.Call(ctx, "lnplaylive-proxytarget", map[string]any{"address": addr}, &r)
	var rpcErr *cln.Error
	var a targetAnswer
	switch {
	case errors.As(err, &rpcErr) && rpcErr.Code == -32602:
		a = targetAnswer{err: wsproxy.ErrRefused, until: now.Add(refusalTTL)}
	case err != nil:
		return wsproxy.Target{}, err // the plugin is away: nothing is relayed, nothing is kept
	default:
		until, perr := time.Parse(time.RFC3339, r.Until)
		if perr != nil {
			return wsproxy.Target{}, perr
		}
		// The order's uuid prefix names it in metrics: the whole id is
		// the host's bearer token for the order page.
		name := string(r.InvoiceID)
		if len(name) > 8 {
			name = name[:8]
		}
		keep := now.Add(targetTTL)
		if until.Before(keep) {
			keep = until
		}
		a = targetAnswer{target: wsproxy.Target{Order: name, Until: until}, until: keep}
	}
	t.mu.Lock()
	if len(t.m) >= maxTargets {
		clear(t.m) // a scan of addresses: start over rather than grow
	}
	t.m[addr] = a
	t.mu.Unlock()
	return a.target, a.err
}

func (s *Server) newProxy() *wsproxy.Relay {
	t := &targets{node: s.node, now: time.Now, m: map[string]targetAnswer{}}
	return &wsproxy.Relay{
		Authorize:  t.authorize,
		ClientAddr: func(r *http.Request) netip.Addr { return clientAddr(r, s.cfg.TrustedProxies) },
		Log:        s.log,
	}
}
