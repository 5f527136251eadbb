// Package infra holds the outside world the worker deploys onto: a Provider
// gives an order a machine to run on; subpackages talk to Hetzner Cloud and
// to machines over SSH.
package infra

import (
	"context"
	"time"
)

// Spec is what an order needs from a provider.
type Spec struct {
	OrderID   string
	NodeCount int
	// ExpiresAt is the paid end of the order; providers record it on what
	// they create so the sweeper can judge it without Temporal. Zero for a
	// warm playground: its end is not known until an order claims it.
	ExpiresAt time.Time
	// Warm: the machine is built ahead of any order, for the warm pool;
	// OrderID is then the warm playground's id.
	Warm bool
}

// Host is the place an order runs: reachable over SSH with a pinned host key,
// node i serving its websocket on PortBase+i and its Lightning p2p port on
// P2PPortBase+i of Address.
type Host struct {
	// ID is the provider's handle for the place (a Hetzner server id).
	ID      string `json:"id"`
	Address string `json:"address"`
	SSHPort int    `json:"ssh_port"`
	SSHUser string `json:"ssh_user"`
	// HostKey is the SSH host public key in authorized_keys form. It is
	// public, but it is pinned: a server offering any other key is refused.
	HostKey  string `json:"host_key"`
	PortBase int    `json:"port_base"`
	// P2PPortBase: node i's Lightning port (what Clams's proxy reaches) is
	// P2PPortBase+i. Zero in hosts recorded before p2p ports were
	// published: DefaultP2PPortBase then.
	P2PPortBase int `json:"p2p_port_base,omitempty"`
	// PublicAddress, when set, is what customers connect to (Address is
	// where the worker's SSH goes; they differ behind NAT or a proxy).
	PublicAddress string `json:"public_address,omitempty"`
	// RemoteDir overrides the worker's directory for per-order files.
	RemoteDir string `json:"remote_dir,omitempty"`
	// NoCloudInit marks a machine an operator prepared (a pool host): there
	// is no first-boot setup to wait for.
	NoCloudInit bool `json:"no_cloud_init,omitempty"`
	// Local: the machine the worker runs on (the local provider); commands
	// run here, not over SSH.
	Local bool `json:"local,omitempty"`
}

// DefaultP2PPortBase is SPEC §5's: node i's p2p port is 9735+i.
const DefaultP2PPortBase = 9735

// P2PBase is the host's p2p port base, defaulted.
func (h Host) P2PBase() int {
	if h.P2PPortBase == 0 {
		return DefaultP2PPortBase
	}
	return h.P2PPortBase
}

// CustomerAddress is the address in connection strings.
func (h Host) CustomerAddress() string {
	if h.PublicAddress != "" {
		return h.PublicAddress
	}
	return h.Address
}

// Lease is a place that exists at a provider, as the sweeper sees it.
type Lease struct {
	ID        string
	OrderID   string
	CreatedAt time.Time
	// ExpiresAt is zero when the provider did not record it.
	ExpiresAt time.Time
}

// Provider gives orders somewhere to run. Every method is idempotent per
// order: Acquire twice returns the same Host, Release of something already
// gone succeeds. That is what lets Temporal retry them safely.
type Provider interface {
	Acquire(ctx context.Context, spec Spec, heartbeat func(detail string)) (Host, error)
	Release(ctx context.Context, orderID string, heartbeat func(detail string)) error
	List(ctx context.Context) ([]Lease, error)
}
