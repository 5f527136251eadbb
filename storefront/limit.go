package storefront

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientLimiter bounds how fast one client may create orders and
// extensions. The plugin bounds the unpaid invoices of everyone together
// (--lnplaylive-max-live-orders); without a bound per client, one address
// could take them all and shut everyone else out. A client gets burst
// creations at once, then one per every.
type clientLimiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	clients map[netip.Addr]*clientEntry
	swept   time.Time
}

type clientEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimiter(every time.Duration, burst int) *clientLimiter {
	return &clientLimiter{every: every, burst: burst, clients: map[netip.Addr]*clientEntry{}}
}

// allow takes one creation for client; when it may not, it says how long
// until it may.
func (l *clientLimiter) allow(client netip.Addr) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Clients idle long enough to have their whole burst back are dropped:
	// the map holds only recent clients.
	full := l.every * time.Duration(l.burst)
	if now.Sub(l.swept) > full {
		for a, e := range l.clients {
			if now.Sub(e.seen) > full {
				delete(l.clients, a)
			}
		}
		l.swept = now
	}
	e := l.clients[client]
	if e == nil {
		e = &clientEntry{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.clients[client] = e
	}
	e.seen = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// retryAfter is a Retry-After value: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

// clientAddr is the address a request comes from. X-Forwarded-For is
// believed only from the trusted proxies, and read from the right: the
// first address that is not a trusted proxy is the client.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a garbled chain: the last proxy is all we know
		}
		addr = a.Unmap()
		if !isTrusted(addr, trusted) {
			return addr
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
