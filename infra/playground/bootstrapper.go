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
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/sshx"
)

//go:embed bootstrap.sh
var bootstrapScript []byte

// Config is the Bootstrapper's configuration.
type Config struct {
	Signer      ssh.Signer // the operator's SSH key (secret)
	Images      Images
	ClamsBase   string // e.g. http://app.clams.tech:80
	RemoteDir   string // per-order files go to RemoteDir/<order>
	ReadyMarker string // written by cloud-init when the runtime is installed
	// Parallel bounds the SSH sessions used at once for per-node steps.
	Parallel int
	// Dial, when set, opens the SSH transport (tests drop it on purpose).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultClamsBase is SPEC §6's front end.
const DefaultClamsBase = "http://app.clams.tech:80"

// Bootstrapper brings a playground up on a host over one SSH connection.
type Bootstrapper struct{ cfg Config }

// New makes a Bootstrapper.
func New(cfg Config) *Bootstrapper {
	if cfg.Parallel < 1 {
		cfg.Parallel = 8
	}
	return &Bootstrapper{cfg: cfg}
}

var nodeID = regexp.MustCompile(`^0[23][0-9a-f]{64}$`)

// Bootstrap implements activities.Bootstrapper. Progress is reported as the
// script goes; the connection strings come back in node order.
func (b *Bootstrapper) Bootstrap(ctx context.Context, orderID string, nodeCount int, host infra.Host, progress func(step string, nodesReady int)) ([]string, error) {
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(host.HostKey))
	if err != nil {
		return nil, &infra.PermanentError{Reason: "the host's pinned SSH key is unreadable", Err: err}
	}
	spec := Spec{OrderID: orderID, NodeCount: nodeCount, PortBase: host.PortBase, Images: b.cfg.Images}
	compose, err := spec.ComposeFile()
	if err != nil {
		return nil, &infra.PermanentError{Reason: err.Error()}
	}
	progress("connecting", 0)
	target := sshx.Target{Addr: net.JoinHostPort(host.Address, strconv.Itoa(host.SSHPort)), User: host.SSHUser, Signer: b.cfg.Signer, HostKey: hostKey, Dial: b.cfg.Dial}
	c, err := sshx.DialRetry(ctx, target, func(error) { progress("waiting_for_ssh", 0) })
	if err != nil {
		return nil, err
	}
	defer c.Close()

	if !host.NoCloudInit {
		progress("waiting_for_cloud_init", 0)
		if err := b.waitReady(ctx, c); err != nil {
			return nil, err
		}
	}
	dir := path.Join(b.remoteDir(host), orderID)
	progress("uploading", 0)
	if err := c.Upload(path.Join(dir, "compose.yml"), compose, 0o600); err != nil {
		return nil, err
	}
	if err := c.Upload(path.Join(dir, "bootstrap.sh"), bootstrapScript, 0o700); err != nil {
		return nil, err
	}

	ids := make([]string, nodeCount)
	var protoErr error
	_, err = c.Run(ctx, fmt.Sprintf("sh %s %s %d", path.Join(dir, "bootstrap.sh"), spec.Project(), nodeCount), func(line string) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "PROGRESS":
			if n, err := strconv.Atoi(f[2]); err == nil {
				progress(f[1], n)
			}
		case len(f) == 3 && f[0] == "NODE":
			i, err := strconv.Atoi(f[1])
			if err != nil || i < 1 || i > nodeCount || !nodeID.MatchString(f[2]) {
				protoErr = fmt.Errorf("bootstrap reported a malformed node line %q", truncate(line))
				return
			}
			ids[i-1] = f[2]
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap script: %w", err)
	}
	if protoErr != nil {
		return nil, protoErr
	}
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("bootstrap did not report node %d", i+1)
		}
	}

	progress("creating_runes", nodeCount)
	runes, err := b.createRunes(ctx, c, spec, dir)
	if err != nil {
		return nil, err
	}
	conns := make([]string, nodeCount)
	for i := range conns {
		conns[i] = ConnectionString(b.cfg.ClamsBase, ids[i], host.CustomerAddress(), spec.Port(i+1), runes[i])
	}
	return conns, nil
}

// remoteDir is where the host keeps per-order files.
func (b *Bootstrapper) remoteDir(host infra.Host) string {
	if host.RemoteDir != "" {
		return host.RemoteDir
	}
	return b.cfg.RemoteDir
}

// waitReady polls for cloud-init's marker: the container runtime is there.
func (b *Bootstrapper) waitReady(ctx context.Context, c *sshx.Client) error {
	backoff := time.Second
	for {
		if _, err := c.Run(ctx, "test -f "+b.cfg.ReadyMarker, nil); err == nil {
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

// createRunes makes each node's restricted rune, several nodes at a time,
// in one SSH session (a session costs a round trip and a login shell), and
// checks every rune before it is handed out.
func (b *Bootstrapper) createRunes(ctx context.Context, c *sshx.Client, spec Spec, dir string) ([]string, error) {
	restrictions, _ := json.Marshal(Restrictions)
	one := fmt.Sprintf(`docker compose -p %s -f %s exec -T cln-$0 lightning-cli --network=regtest createrune restrictions='%s' | jq -ce --arg i "$0" '{i: ($i|tonumber), rune, unique_id}'`,
		spec.Project(), path.Join(dir, "compose.yml"), restrictions)
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
		if err := CheckRune(res.Rune, res.UniqueID); err != nil {
			bad = fmt.Errorf("node %d: %w", res.I, err)
			return
		}
		runes[res.I-1] = res.Rune
	})
	if err != nil {
		return nil, fmt.Errorf("createrune: %w", err)
	}
	if bad != nil {
		return nil, bad
	}
	for i, r := range runes {
		if r == "" {
			return nil, fmt.Errorf("createrune: no rune for node %d", i+1)
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
