// Package hetzner is the per-order VM provider on Hetzner Cloud (hcloud-go).
//
// Idempotency comes from Hetzner itself: every server an order makes is
// named lnplaylive-<order> (names are unique per project) and labelled
// lnplaylive-order=<order>. Acquire looks for the order's server before it
// creates one, and a create that collides with an existing name
// (uniqueness_error: an earlier attempt's create succeeded server-side but
// its response was lost) adopts that server instead of making a second.
package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/hostkey"
)

// Labels on everything an order creates.
const (
	LabelOrder     = "lnplaylive-order"
	LabelManagedBy = "managed-by"
	ManagedBy      = "lnplaylive"
	LabelExpires   = "lnplaylive-expires" // unix seconds of the paid end
	LabelWarm      = "lnplaylive-warm"    // node count of a warm-pool machine
)

// PortBase: node i listens on 6000+i of the VM (SPEC §5).
const PortBase = 6000

// Config is the provider's configuration.
type Config struct {
	Token    string // secret: never logged
	Endpoint string // default: Hetzner's public API
	// Sizes are the node counts sold: each gets its server type from
	// Hetzner's catalogue (Plan), unless ServerTypes pins one.
	Sizes []int
	// ServerTypes pins a type for a node count (the operator's choice wins
	// over the catalogue's cheapest fit).
	ServerTypes map[int]string
	// Architectures the playground's images run on (default x86 alone; add
	// arm when the images are multi-arch).
	Architectures []hcloud.Architecture
	Image         string
	// Locations in order of preference.
	Locations  []string
	SSHKeyName string // the operator's key registered at Hetzner
	SSHUser    string
	SSHPort    int
	// PollInterval between action polls (tests make it tiny).
	PollInterval time.Duration
	// RetryBackoff, when set, replaces hcloud-go's exponential backoff for
	// the 429/502/504 it retries itself (tests make it tiny).
	RetryBackoff time.Duration
	// HTTPClient carries the per-request timeout.
	HTTPClient *http.Client
	// Registerer, when set, receives hcloud-go's request metrics
	// (hcloud_api_requests_total by endpoint, method and status code).
	Registerer prometheus.Registerer
}

// Provider implements infra.Provider with one VM per order.
type Provider struct {
	cfg  Config
	c    *hcloud.Client
	keys *hostkey.Deriver
	cat  catalogue
}

// New makes a provider. keys derives each order's SSH host key.
func New(cfg Config, keys *hostkey.Deriver) (*Provider, error) {
	if cfg.Token == "" {
		return nil, errors.New("hetzner: no API token (HCLOUD_TOKEN)")
	}
	if len(cfg.Locations) == 0 {
		return nil, errors.New("hetzner: no locations configured")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	next := cfg.HTTPClient.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	limited := *cfg.HTTPClient
	limited.Transport = limitedTransport{next: next}
	cfg.HTTPClient = &limited
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if len(cfg.Architectures) == 0 {
		cfg.Architectures = []hcloud.Architecture{hcloud.ArchitectureX86}
	}
	opts := []hcloud.ClientOption{
		hcloud.WithToken(cfg.Token),
		hcloud.WithApplication("lnplaylive", "v0.1.0"),
		hcloud.WithHTTPClient(cfg.HTTPClient),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(cfg.PollInterval)}),
	}
	if cfg.Endpoint != "" {
		opts = append(opts, hcloud.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Registerer != nil {
		opts = append(opts, hcloud.WithInstrumentation(cfg.Registerer))
	}
	if cfg.RetryBackoff > 0 {
		opts = append(opts, hcloud.WithRetryOpts(hcloud.RetryOpts{BackoffFunc: hcloud.ConstantBackoff(cfg.RetryBackoff), MaxRetries: 5}))
	}
	return &Provider{cfg: cfg, c: hcloud.NewClient(opts...), keys: keys}, nil
}

func serverName(orderID string) string { return "lnplaylive-" + orderID }

func orderSelector(orderID string) string { return LabelOrder + "=" + orderID }

// Acquire returns the order's VM, creating it if this order has none.
func (p *Provider) Acquire(ctx context.Context, spec infra.Spec, heartbeat func(string)) (infra.Host, error) {
	srv, err := p.find(ctx, spec.OrderID)
	if err != nil {
		return infra.Host{}, err
	}
	if srv == nil {
		srv, err = p.create(ctx, spec, heartbeat)
		if err != nil {
			return infra.Host{}, err
		}
	}
	srv, err = p.waitRunning(ctx, srv, heartbeat)
	if err != nil {
		return infra.Host{}, err
	}
	if srv.PublicNet.IPv4.IP == nil || srv.PublicNet.IPv4.IP.IsUnspecified() {
		return infra.Host{}, fmt.Errorf("server %d has no public IPv4", srv.ID)
	}
	return infra.Host{
		ID:       strconv.FormatInt(srv.ID, 10),
		Address:  srv.PublicNet.IPv4.IP.String(),
		SSHPort:  p.cfg.SSHPort,
		SSHUser:  p.cfg.SSHUser,
		HostKey:  p.keys.For(spec.OrderID).AuthorizedKey(),
		PortBase: PortBase, P2PPortBase: infra.DefaultP2PPortBase,
	}, nil
}

// find returns the order's server, or nil.
func (p *Provider) find(ctx context.Context, orderID string) (*hcloud.Server, error) {
	servers, err := p.c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: orderSelector(orderID)}})
	if err != nil {
		return nil, classify("list servers of order "+orderID, err)
	}
	switch len(servers) {
	case 0:
		return nil, nil
	case 1:
		return servers[0], nil
	default:
		// Cannot happen while names are unique; say so loudly if it does.
		return nil, &infra.PermanentError{Reason: fmt.Sprintf("order %s has %d servers", orderID, len(servers))}
	}
}

func (p *Provider) create(ctx context.Context, spec infra.Spec, heartbeat func(string)) (*hcloud.Server, error) {
	candidates, err := p.candidates(ctx, spec.NodeCount)
	if err != nil {
		return nil, err
	}
	key, _, err := p.c.SSHKey.GetByName(ctx, p.cfg.SSHKeyName)
	if err != nil {
		return nil, classify("look up SSH key", err)
	}
	if key == nil {
		return nil, &infra.PermanentError{Reason: fmt.Sprintf("SSH key %q is not registered at Hetzner", p.cfg.SSHKeyName)}
	}
	fw, err := p.firewall(ctx, spec)
	if err != nil {
		return nil, err
	}
	ud, err := userData(p.keys.For(spec.OrderID), spec.OrderID)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{LabelOrder: spec.OrderID, LabelManagedBy: ManagedBy}
	if !spec.ExpiresAt.IsZero() {
		labels[LabelExpires] = strconv.FormatInt(spec.ExpiresAt.Unix(), 10)
	}
	if spec.Warm {
		// Which size the pool keeps it for; its order label is the warm
		// playground's id, whose workflow the sweeper asks about.
		labels[LabelWarm] = strconv.Itoa(spec.NodeCount)
	}
	// Each candidate in turn (the next location, then the next type) while
	// Hetzner says the last one cannot be had right now. The name stays the
	// order's whatever the type: a create that reached Hetzner but whose
	// answer was lost is adopted, never repeated.
	var lastErr error
	for _, c := range candidates {
		heartbeat("creating server " + c.Type + " in " + c.Location)
		res, _, err := p.c.Server.Create(ctx, hcloud.ServerCreateOpts{
			Name:       serverName(spec.OrderID),
			ServerType: &hcloud.ServerType{Name: c.Type},
			Image:      &hcloud.Image{Name: p.cfg.Image},
			Location:   &hcloud.Location{Name: c.Location},
			SSHKeys:    []*hcloud.SSHKey{key},
			UserData:   ud,
			Labels:     labels,
			Firewalls:  []*hcloud.ServerCreateFirewall{{Firewall: *fw}},
		})
		switch {
		case err == nil:
			if err := p.wait(ctx, heartbeat, append([]*hcloud.Action{res.Action}, res.NextActions...)...); err != nil {
				return nil, err
			}
			return res.Server, nil
		case hcloud.IsError(err, hcloud.ErrorCodeUniquenessError):
			// An earlier attempt made it; adopt it.
			srv, ferr := p.find(ctx, spec.OrderID)
			if ferr != nil {
				return nil, ferr
			}
			if srv != nil {
				return srv, nil
			}
			return nil, classify("create server", err)
		case hcloud.IsError(err, hcloud.ErrorCodeResourceUnavailable, hcloud.ErrorCodePlacementError):
			lastErr = err // this type is sold out here: try the next candidate
			continue
		default:
			return nil, classify("create server "+c.String(), err)
		}
	}
	return nil, classify(fmt.Sprintf("create server: none of %d candidates can be had now", len(candidates)), lastErr)
}

// firewall returns the order's firewall, creating it: SSH and the nodes'
// websocket ports only.
func (p *Provider) firewall(ctx context.Context, spec infra.Spec) (*hcloud.Firewall, error) {
	fws, err := p.c.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: hcloud.ListOpts{LabelSelector: orderSelector(spec.OrderID)}})
	if err != nil {
		return nil, classify("list firewalls", err)
	}
	if len(fws) > 0 {
		return fws[0], nil
	}
	any4 := net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
	any6 := net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	ssh := strconv.Itoa(p.cfg.SSHPort)
	nodes := fmt.Sprintf("%d-%d", PortBase+1, PortBase+spec.NodeCount)
	// The Lightning p2p ports: Clams's websocket proxy reaches nodes there.
	p2p := fmt.Sprintf("%d-%d", infra.DefaultP2PPortBase+1, infra.DefaultP2PPortBase+spec.NodeCount)
	rule := func(port string) hcloud.FirewallRule {
		return hcloud.FirewallRule{Direction: hcloud.FirewallRuleDirectionIn, Protocol: hcloud.FirewallRuleProtocolTCP,
			Port: &port, SourceIPs: []net.IPNet{any4, any6}}
	}
	res, _, err := p.c.Firewall.Create(ctx, hcloud.FirewallCreateOpts{
		Name:   serverName(spec.OrderID),
		Labels: map[string]string{LabelOrder: spec.OrderID, LabelManagedBy: ManagedBy},
		Rules:  []hcloud.FirewallRule{rule(ssh), rule(nodes), rule(p2p)},
	})
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		return p.firewall(ctx, spec)
	}
	if err != nil {
		return nil, classify("create firewall", err)
	}
	return res.Firewall, nil
}

func (p *Provider) wait(ctx context.Context, heartbeat func(string), actions ...*hcloud.Action) error {
	err := p.c.Action.WaitForFunc(ctx, func(a *hcloud.Action) error {
		heartbeat(fmt.Sprintf("action %s %d%%", a.Command, a.Progress))
		if a.Status == hcloud.ActionStatusError {
			return a.Error()
		}
		return nil
	}, actions...)
	var ae hcloud.ActionError
	if errors.As(err, &ae) {
		return fmt.Errorf("hetzner action %s failed: %s (%s)", ae.Action().Command, ae.Message, ae.Code)
	}
	if err != nil {
		return classify("wait for action", err)
	}
	return nil
}

// waitRunning polls until the server is running (an adopted server may
// still be initializing).
func (p *Provider) waitRunning(ctx context.Context, srv *hcloud.Server, heartbeat func(string)) (*hcloud.Server, error) {
	for srv.Status != hcloud.ServerStatusRunning {
		heartbeat("server " + string(srv.Status))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(p.cfg.PollInterval):
		}
		next, _, err := p.c.Server.GetByID(ctx, srv.ID)
		if err != nil {
			return nil, classify("get server", err)
		}
		if next == nil {
			return nil, fmt.Errorf("server %d disappeared while starting", srv.ID)
		}
		srv = next
	}
	return srv, nil
}

// Release deletes the order's server and firewall. Gone already is success.
func (p *Provider) Release(ctx context.Context, orderID string, heartbeat func(string)) error {
	servers, err := p.c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: orderSelector(orderID)}})
	if err != nil {
		return classify("list servers of order "+orderID, err)
	}
	for _, srv := range servers {
		heartbeat("deleting server " + strconv.FormatInt(srv.ID, 10))
		res, _, err := p.c.Server.DeleteWithResult(ctx, srv)
		if hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			continue
		}
		if err != nil {
			return classify("delete server", err)
		}
		if err := p.wait(ctx, heartbeat, res.Action); err != nil {
			return err
		}
	}
	fws, err := p.c.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: hcloud.ListOpts{LabelSelector: orderSelector(orderID)}})
	if err != nil {
		return classify("list firewalls", err)
	}
	for _, fw := range fws {
		if _, err := p.c.Firewall.Delete(ctx, fw); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return classify("delete firewall", err)
		}
	}
	return nil
}

// List returns every server lnplaylive manages, for the sweeper.
func (p *Provider) List(ctx context.Context) ([]infra.Lease, error) {
	servers, err := p.c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: LabelManagedBy + "=" + ManagedBy}})
	if err != nil {
		return nil, classify("list servers", err)
	}
	leases := make([]infra.Lease, 0, len(servers))
	for _, s := range servers {
		l := infra.Lease{ID: strconv.FormatInt(s.ID, 10), OrderID: s.Labels[LabelOrder], CreatedAt: s.Created}
		if sec, err := strconv.ParseInt(s.Labels[LabelExpires], 10, 64); err == nil {
			l.ExpiresAt = time.Unix(sec, 0).UTC()
		}
		leases = append(leases, l)
	}
	return leases, nil
}

// classify turns Hetzner errors into what the activity should do: give up
// (PermanentError), wait as told (RetryAfterError), or retry with backoff.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case hcloud.IsError(err, hcloud.ErrorCodeUnauthorized, hcloud.ErrorCodeForbidden):
		return &infra.PermanentError{Reason: "Hetzner rejected the API token (" + what + ")", Err: err}
	case hcloud.IsError(err, hcloud.ErrorCodeInvalidInput):
		var he hcloud.Error
		errors.As(err, &he)
		return &infra.PermanentError{Reason: "Hetzner refused the server configuration: " + he.Message, Err: err}
	case hcloud.IsError(err, hcloud.ErrorCodeRateLimitExceeded):
		return &infra.RetryAfterError{Delay: rateLimitReset(err), Err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// rateLimitReset reads the RateLimit-Reset header (unix seconds) of a 429.
func rateLimitReset(err error) time.Duration {
	var he hcloud.Error
	if errors.As(err, &he) && he.Response() != nil {
		if sec, perr := strconv.ParseInt(he.Response().Header.Get("RateLimit-Reset"), 10, 64); perr == nil {
			if d := time.Until(time.Unix(sec, 0)); d > 0 {
				return min(d, 10*time.Minute)
			}
		}
	}
	return 5 * time.Second
}
