package wsproxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/lnplaylive/lnplaylive/infra"
)

// probeTarget is a node address no proxy may relay to (TEST-NET-1, RFC
// 5737): a proxy that is up answers the handshake for it with an HTTP
// refusal, or, if it relays blindly, fails to reach it. Either way it
// answered; only silence, a TLS failure or a server error fails.
const probeTarget = "192.0.2.1:9735"

// Check asks the attendees' websocket proxy (Clams Remote's protocol:
// <proxy>/<host>:<port>) for a websocket handshake.
func Check(ctx context.Context, proxy string) infra.Check {
	c := infra.Check{Name: "attendees' websocket proxy " + proxy}
	if !strings.HasPrefix(proxy, "wss://") && !strings.HasPrefix(proxy, "ws://") {
		c.Err, c.Fix = fmt.Errorf("not a websocket URL"), "set LNPLAYLIVE_CLAMS_PROXY to a wss:// URL"
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, strings.TrimRight(proxy, "/")+"/"+probeTarget, &websocket.DialOptions{HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	switch {
	case err == nil:
		conn.CloseNow()
		c.Detail = "answered the handshake (and relays to any address: an open relay)"
		c.Warning = true
	case resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500:
		c.Detail = fmt.Sprintf("answered the handshake (%d for a target it will not reach)", resp.StatusCode)
	case resp != nil:
		c.Err, c.Fix = fmt.Errorf("answered %d", resp.StatusCode), "the proxy is failing: check it, or point LNPLAYLIVE_CLAMS_PROXY at another one"
	default:
		c.Err = err
		c.Fix = "check that the proxy is up and reachable from here; lnplaylive-web serves one (LNPLAYLIVE_WEB_PUBLIC_URL), or use Clams Remote's current wss://proxy.clams.tech"
	}
	return c
}
