package playground

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/shell"
	"github.com/lnplaylive/lnplaylive/infra/sshx"
	"github.com/lnplaylive/lnplaylive/order"
)

//go:embed bootstrap.sh
var bootstrapScript []byte

// Config is the Bootstrapper's configuration.
type Config struct {
	Signer ssh.Signer // the operator's SSH key (secret)
	Images Images
	// ClamsApp and ClamsProxy make the Remote 2.x links (clams_url);
	// ClamsBase the seed's connection_strings.
	ClamsApp, ClamsProxy, ClamsBase string
	// Runes is the customers' rune profile (PlaygroundProfile by default).
	Runes       RuneProfile
	RemoteDir   string // per-order files go to RemoteDir/<order>
	ReadyMarker string // written by cloud-init when the runtime is installed
	// Sizing overrides bitcoind's RPC sizing and the nodes' poll (make
	// bench compares the old settings); zero: sized by node count.
	Sizing Sizing
	// Parallel bounds the SSH sessions used at once for per-node steps.
	Parallel int
	// Dial, when set, opens the SSH transport (tests drop it on purpose).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Bootstrapper brings a playground up on a host over one SSH connection.
type Bootstrapper struct{ cfg Config }

// New makes a Bootstrapper.
func New(cfg Config) *Bootstrapper {
	if cfg.Parallel < 1 {
		cfg.Parallel = 8
	}
	if cfg.Runes.Name == "" {
		cfg.Runes = PlaygroundProfile
	}
	for _, d := range []struct {
		v   *string
		def string
	}{{&cfg.ClamsApp, DefaultClamsApp}, {&cfg.ClamsProxy, DefaultClamsProxy}, {&cfg.ClamsBase, DefaultClamsBase}} {
		if *d.v == "" {
			*d.v = d.def
		}
	}
	return &Bootstrapper{cfg: cfg}
}

// Request is one order's playground.
type Request struct {
	OrderID   string
	NodeCount int
	Topology  order.Topology
	// Warm builds the playground for the warm pool: no rune is minted and
	// no link made, since no customer exists yet. MintRunes finishes it
	// when an order claims it.
	Warm bool
}

// Playground is what the customer receives, in node order: the nodes, and
// the seed's links to them (SPEC §6's connection_strings).
type Playground struct {
	Nodes             []order.Node
	ConnectionStrings []string
	// Links made the nodes' links; an order stores it once, with its
	// nodes, rather than the links (order.Deployment.Linked).
	Links order.Links
}

var nodeID = regexp.MustCompile(`^0[23][0-9a-f]{64}$`)

// ScriptError is a failure the bootstrap script named itself (a "FAIL"
// line): a node that never confirmed its channels, a payment that found no
// route. Its reason is what the customer is told.
type ScriptError struct{ Reason string }

func (e *ScriptError) Error() string { return e.Reason }

// Bootstrap implements activities.Bootstrapper. Progress is reported as the
// script goes; the nodes come back in node order.
func (b *Bootstrapper) Bootstrap(ctx context.Context, req Request, host infra.Host, progress func(step string, nodesReady int)) (Playground, error) {
	spec := b.spec(req, host)
	compose, err := spec.ComposeFile()
	if err != nil {
		return Playground{}, &infra.PermanentError{Reason: err.Error()}
	}
	plan, err := PlanFor(req.Topology, req.NodeCount)
	if err != nil {
		return Playground{}, &infra.PermanentError{Reason: err.Error()}
	}
	progress("connecting", 0)
	c, err := b.open(ctx, host, progress)
	if err != nil {
		return Playground{}, err
	}
	defer c.Close()

	if !host.NoCloudInit {
		progress("waiting_for_cloud_init", 0)
		if err := b.waitReady(ctx, c); err != nil {
			return Playground{}, err
		}
	}
	dir := path.Join(b.remoteDir(host), req.OrderID)
	progress("uploading", 0)
	for _, f := range []struct {
		name string
		data []byte
		mode uint32
	}{{"compose.yml", compose, 0o600}, {"plan", plan.File(), 0o600}, {"bootstrap.sh", bootstrapScript, 0o700}} {
		if err := c.Upload(path.Join(dir, f.name), f.data, f.mode); err != nil {
			return Playground{}, err
		}
	}

	ids := make([]string, req.NodeCount)
	var protoErr error
	var failed *ScriptError
	_, err = c.Run(ctx, fmt.Sprintf("sh %s %s %d %s", path.Join(dir, "bootstrap.sh"), spec.Project(), req.NodeCount, path.Join(dir, "plan")), func(line string) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "PROGRESS":
			if n, err := strconv.Atoi(f[2]); err == nil {
				progress(f[1], n)
			}
		case len(f) == 3 && f[0] == "NODE":
			i, err := strconv.Atoi(f[1])
			if err != nil || i < 1 || i > req.NodeCount || !nodeID.MatchString(f[2]) {
				protoErr = fmt.Errorf("bootstrap reported a malformed node line %q", truncate(line))
				return
			}
			ids[i-1] = f[2]
		case len(f) > 1 && f[0] == "FAIL":
			failed = &ScriptError{Reason: describeNodes(truncate(strings.TrimPrefix(line, "FAIL ")))}
		}
	})
	if failed != nil {
		return Playground{}, failed
	}
	if err != nil {
		return Playground{}, fmt.Errorf("bootstrap script: %w", err)
	}
	if protoErr != nil {
		return Playground{}, protoErr
	}
	for i, id := range ids {
		if id == "" {
			return Playground{}, fmt.Errorf("bootstrap did not report node %d", i+1)
		}
	}

	addr := host.CustomerAddress()
	nodes := make([]order.Node, req.NodeCount)
	for i := range nodes {
		n := i + 1
		nodes[i] = order.Node{Index: n, Alias: Alias(n), ID: ids[i], Host: addr, WSPort: spec.Port(n), P2PPort: spec.P2PPort(n)}
	}
	if req.Warm {
		return Playground{Nodes: nodes}, nil
	}
	progress("creating_runes", req.NodeCount)
	return b.finish(ctx, c, spec, dir, nodes)
}

// spec is the order's playground on the host.
func (b *Bootstrapper) spec(req Request, host infra.Host) Spec {
	return Spec{OrderID: req.OrderID, NodeCount: req.NodeCount, PortBase: host.PortBase, P2PPortBase: host.P2PBase(), Images: b.cfg.Images, Sizing: b.cfg.Sizing}
}

// MintRunes finishes a warm playground for the order that claimed it: a
// rune per node, minted now (none existed while it was warm), and the
// links. A retry reuses the runes already minted (see runes).
func (b *Bootstrapper) MintRunes(ctx context.Context, req Request, host infra.Host, nodes []order.Node) (Playground, error) {
	if len(nodes) != req.NodeCount {
		return Playground{}, &infra.PermanentError{Reason: fmt.Sprintf("warm playground has %d nodes, the order %d", len(nodes), req.NodeCount)}
	}
	spec := b.spec(req, host)
	c, err := b.open(ctx, host, func(string, int) {})
	if err != nil {
		return Playground{}, err
	}
	defer c.Close()
	return b.finish(ctx, c, spec, path.Join(b.remoteDir(host), req.OrderID), slices.Clone(nodes))
}

// finish mints the runes and makes the links of a built playground.
func (b *Bootstrapper) finish(ctx context.Context, c shell.Session, spec Spec, dir string, nodes []order.Node) (Playground, error) {
	runes, err := b.runes(ctx, c, spec, dir)
	if err != nil {
		return Playground{}, err
	}
	for i := range nodes {
		nodes[i].Rune = runes[i]
	}
	links := b.cfg.Links()
	d := (&order.Deployment{Nodes: nodes}).Linked(&links)
	return Playground{Nodes: d.Nodes, ConnectionStrings: d.ConnectionStrings, Links: links}, nil
}

// describeNodes names nodes by alias in a script's reason: "node 3" reads
// "node 3 (Carol)", which is what the attendees call it.
func describeNodes(reason string) string {
	return nodeRef.ReplaceAllStringFunc(reason, func(m string) string {
		i, _ := strconv.Atoi(strings.TrimPrefix(m, "node "))
		return fmt.Sprintf("%s (%s)", m, Alias(i))
	})
}

var nodeRef = regexp.MustCompile(`node \d+`)

// File is the plan as the bootstrap script reads it.
func (p Plan) File() []byte {
	var b strings.Builder
	for _, c := range p.Channels {
		fmt.Fprintf(&b, "channel %d %d %d %d\n", c.From, c.To, c.Sat, c.PushMsat)
	}
	if p.ProofFrom != 0 {
		fmt.Fprintf(&b, "proof %d %d %d\n", p.ProofFrom, p.ProofTo, ProofSat)
	}
	return []byte(b.String())
}

// open reaches the host: this machine for a local host, otherwise SSH with
// the pinned host key (retried while sshd is still starting).
func (b *Bootstrapper) open(ctx context.Context, host infra.Host, progress func(string, int)) (shell.Session, error) {
	if host.Local {
		return shell.Local{}, nil
	}
	if b.cfg.Signer == nil {
		// Retried like an unconfigured bootstrapper: an operator who adds
		// the key and restarts the worker still gets the order deployed.
		return nil, errors.New("no SSH key configured (LNPLAYLIVE_SSH_KEY_FILE): remote hosts cannot be bootstrapped")
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(host.HostKey))
	if err != nil {
		return nil, &infra.PermanentError{Reason: "the host's pinned SSH key is unreadable", Err: err}
	}
	target := sshx.Target{Addr: net.JoinHostPort(host.Address, strconv.Itoa(host.SSHPort)), User: host.SSHUser, Signer: b.cfg.Signer, HostKey: hostKey, Dial: b.cfg.Dial}
	c, err := sshx.DialRetry(ctx, target, func(error) { progress("waiting_for_ssh", 0) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// remoteDir is where the host keeps per-order files.
func (b *Bootstrapper) remoteDir(host infra.Host) string {
	if host.RemoteDir != "" {
		return host.RemoteDir
	}
	return b.cfg.RemoteDir
}

// RuntimeError is a host whose first boot failed to install the container
// runtime: every bootstrap on it would fail. The activity retries it (a
// marker can be stale), then the order fails with its cause.
type RuntimeError struct{ Cause string }

func (e *RuntimeError) Error() string {
	return "the host's container runtime is not installed: " + e.Cause + " (replace the host; its first boot failed)"
}

// waitReady polls for cloud-init's ready marker, and checks that the
// runtime answers; a failed marker ends the wait with its cause.
func (b *Bootstrapper) waitReady(ctx context.Context, c shell.Session) error {
	failed := infra.FailedMarker(b.cfg.ReadyMarker)
	check := fmt.Sprintf(`if [ -f %[1]s ]; then echo "CAUSE $(head -c 300 %[1]s)"; exit 0; fi
test -f %[2]s || exit 1
docker compose version >/dev/null 2>&1 || { echo "CAUSE the ready marker is there, but docker compose does not answer"; exit 0; }
echo READY`, failed, b.cfg.ReadyMarker)
	backoff := time.Second
	for {
		var cause string
		ready := false
		_, err := c.Run(ctx, check, func(line string) {
			if rest, ok := strings.CutPrefix(line, "CAUSE "); ok {
				cause = rest
			}
			ready = ready || line == "READY"
		})
		switch {
		case err == nil && cause != "":
			return &RuntimeError{Cause: cause}
		case err == nil && ready:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cloud-init did not finish: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// showrunesFilter picks, from showrunes, a rune that is not blacklisted
// and carries exactly the restrictions $want (a createrune restrictions
// array). showrunes lists each alternative as {fieldname, condition,
// value}; the unique id's own restriction (an empty field name) is not
// among ours.
const showrunesFilter = `first(.runes[] | select((.blacklisted | not) and ([.restrictions[] | [.alternatives[] | select(.fieldname != "") | .fieldname + .condition + .value] | select(length > 0)] == $want)) | {rune, unique_id})`

// runes gives every node its customer's rune, several nodes at a time, in
// one SSH session (a session costs a round trip and a login shell). A rune
// the node already made with the profile's restrictions (showrunes) is
// reused, so a retried bootstrap mints no second rune. Each rune is decoded
// and its restrictions checked before it is handed out.
func (b *Bootstrapper) runes(ctx context.Context, c shell.Session, spec Spec, dir string) ([]string, error) {
	restrictions, _ := json.Marshal(b.cfg.Runes.Restrictions)
	lnc := fmt.Sprintf(`docker compose -p %s -f %s exec -T cln-$0 lightning-cli --network=regtest`, spec.Project(), path.Join(dir, "compose.yml"))
	find := fmt.Sprintf(`%s showrunes | jq -ce --argjson want '%s' '%s'`, lnc, restrictions, showrunesFilter)
	create := fmt.Sprintf(`%s -k createrune restrictions='%s' | jq -ce '{rune, unique_id}'`, lnc, restrictions)
	one := fmt.Sprintf(`{ %s || %s; } | jq -ce --arg i "$0" '{i: ($i|tonumber), rune, unique_id}'`, find, create)
	cmd := fmt.Sprintf(`seq 1 %d | xargs -P %d -I{} sh -c %s {}`, spec.NodeCount, b.cfg.Parallel, shellQuote(one))
	runes := make([]string, spec.NodeCount)
	var bad error
	_, err := c.Run(ctx, cmd, func(line string) {
		var res struct {
			I        int    `json:"i"`
			Rune     string `json:"rune"`
			UniqueID string `json:"unique_id"`
		}
		// The line holds a secret: errors say what was wrong, never echo it.
		if json.Unmarshal([]byte(line), &res) != nil || res.I < 1 || res.I > spec.NodeCount || res.Rune == "" {
			bad = errors.New("createrune: unexpected output")
			return
		}
		if err := b.cfg.Runes.Check(res.Rune, res.UniqueID); err != nil {
			bad = fmt.Errorf("node %d: %w", res.I, err)
			return
		}
		runes[res.I-1] = res.Rune
	})
	if err != nil {
		return nil, fmt.Errorf("runes: %w", err)
	}
	if bad != nil {
		return nil, bad
	}
	for i, r := range runes {
		if r == "" {
			return nil, fmt.Errorf("runes: no rune for node %d", i+1)
		}
	}
	return runes, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
