package hostpool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/infra/shell"
	"github.com/lnplaylive/lnplaylive/infra/sshx"
	"github.com/lnplaylive/lnplaylive/order"
)

// ErrNoFreeSlot: every slot that fits is leased. Retried: slots free up.
var ErrNoFreeSlot = errors.New("no free slot in the host pool")

// Lease is an order's hold on a slot, as the Leaser keeps it.
type Lease struct {
	OrderID  string
	SlotID   string
	Host     infra.Host
	LeasedAt time.Time
	// Held is true once the order is paid; before that the lease is a
	// reservation for an unpaid invoice and nothing runs on the slot.
	Held bool
}

// Leaser keeps the leases durably and exclusively (the capacity workflow).
// Acquire is idempotent per order: it returns the slot the order already
// holds or reserved.
type Leaser interface {
	Acquire(ctx context.Context, orderID string, nodeCount int) (Lease, error)
	Release(ctx context.Context, orderID string) error
	Leases(ctx context.Context) ([]Lease, error)
}

// Provider implements infra.Provider on a host pool.
type Provider struct {
	slots      []Slot
	signer     ssh.Signer
	defaultDir string
	leaser     Leaser
	// Dial, when set, opens SSH transports (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New makes the provider; signer is the operator's SSH key, defaultDir the
// per-order directory on hosts that do not name one.
func New(slots []Slot, signer ssh.Signer, defaultDir string) *Provider {
	return &Provider{slots: slots, signer: signer, defaultDir: defaultDir}
}

// Slots lists the configured slots.
func (p *Provider) Slots() []Slot { return p.slots }

// UseLeaser connects the provider to where leases are kept. The worker does
// it once it has a Temporal client.
func (p *Provider) UseLeaser(l Leaser) { p.leaser = l }

func (p *Provider) leases() (Leaser, error) {
	if p.leaser == nil {
		return nil, errors.New("host pool: no lease keeper connected")
	}
	return p.leaser, nil
}

// Acquire leases the order a slot and returns where it is.
func (p *Provider) Acquire(ctx context.Context, spec infra.Spec, heartbeat func(string)) (infra.Host, error) {
	fits := false
	for _, s := range p.slots {
		fits = fits || s.MaxNodes >= spec.NodeCount
	}
	if !fits {
		return infra.Host{}, &infra.PermanentError{Reason: fmt.Sprintf("no slot in the host pool takes %d nodes", spec.NodeCount)}
	}
	l, err := p.leases()
	if err != nil {
		return infra.Host{}, err
	}
	heartbeat("leasing a slot")
	lease, err := l.Acquire(ctx, spec.OrderID, spec.NodeCount)
	if err != nil {
		return infra.Host{}, fmt.Errorf("lease a slot: %w", err)
	}
	return lease.Host, nil
}

// Release takes the order's Compose project down (volumes included) and
// only then frees its slot, so a slot is never handed on while the old
// playground still holds its ports. An order without a lease (the sweeper
// found its project, or a retry after the slot was freed) is looked for on
// every host.
func (p *Provider) Release(ctx context.Context, orderID string, heartbeat func(string)) error {
	l, err := p.leases()
	if err != nil {
		return err
	}
	leases, err := l.Leases(ctx)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	var lease *Lease
	for i := range leases {
		if leases[i].OrderID == orderID {
			lease = &leases[i]
		}
	}
	switch {
	case lease != nil && lease.Held:
		heartbeat("removing the playground from " + lease.SlotID)
		if err := p.down(ctx, lease.Host, orderID); err != nil {
			return err
		}
	case lease == nil:
		for _, h := range p.hosts() {
			projects, err := p.projects(ctx, h)
			if err != nil {
				return err
			}
			if projects[orderID] {
				heartbeat("removing the playground from " + h.ID)
				if err := p.down(ctx, h, orderID); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := l.Release(ctx, orderID); err != nil {
		return fmt.Errorf("free slot %s: %w", lease.SlotID, err)
	}
	return nil
}

// List reports held leases and any lnplaylive Compose project on a pool
// host that no lease covers, for the sweeper. An unreachable host fails the
// list: the sweeper never acts on a partial view.
func (p *Provider) List(ctx context.Context) ([]infra.Lease, error) {
	l, err := p.leases()
	if err != nil {
		return nil, err
	}
	leases, err := l.Leases(ctx)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var out []infra.Lease
	covered := map[string]bool{}
	for _, le := range leases {
		if le.Held {
			out = append(out, infra.Lease{ID: le.SlotID, OrderID: le.OrderID, CreatedAt: le.LeasedAt})
		}
		covered[le.OrderID] = true
	}
	for _, h := range p.hosts() {
		projects, err := p.projects(ctx, h)
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(projects))
		for id := range projects {
			if !covered[id] {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			out = append(out, infra.Lease{ID: h.ID + "/" + projectName(id), OrderID: id})
		}
	}
	return out, nil
}

// hosts returns one Host per pool machine (its first slot's), with the
// machine's name as ID.
func (p *Provider) hosts() []infra.Host {
	var out []infra.Host
	seen := map[string]bool{}
	for _, s := range p.slots {
		name, _, _ := strings.Cut(s.ID, "/")
		if !seen[name] {
			seen[name] = true
			h := s.Host
			h.ID = name
			out = append(out, h)
		}
	}
	return out
}

func projectName(orderID string) string { return playground.Spec{OrderID: orderID}.Project() }

func (p *Provider) dir(h infra.Host) string {
	if h.RemoteDir != "" {
		return h.RemoteDir
	}
	return p.defaultDir
}

func (p *Provider) connect(ctx context.Context, h infra.Host) (shell.Session, error) {
	if h.Local {
		return shell.Local{}, nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		return nil, &infra.PermanentError{Reason: "the host's pinned SSH key is unreadable", Err: err}
	}
	c, err := sshx.Dial(ctx, sshx.Target{Addr: net.JoinHostPort(h.Address, strconv.Itoa(h.SSHPort)), User: h.SSHUser,
		Signer: p.signer, HostKey: key, Dial: p.Dial})
	if err != nil {
		return nil, fmt.Errorf("ssh to pool host %s: %w", h.ID, err)
	}
	return c, nil
}

// down removes the order's project, its volumes and its files. Taking down
// a project that is not there succeeds, so it can be retried.
func (p *Provider) down(ctx context.Context, h infra.Host, orderID string) error {
	// Only an order's or a warm playground's id reaches the remote shell.
	if !order.ValidMachineID(orderID) {
		return &infra.PermanentError{Reason: fmt.Sprintf("%q is not an order id", orderID)}
	}
	c, err := p.connect(ctx, h)
	if err != nil {
		return err
	}
	defer c.Close()
	cmd := fmt.Sprintf("docker compose -p %s down -v --remove-orphans && rm -rf %s", projectName(orderID), path.Join(p.dir(h), orderID))
	if _, err := c.Run(ctx, cmd, nil); err != nil {
		return fmt.Errorf("take down %s on %s: %w", projectName(orderID), h.ID, err)
	}
	return nil
}

// composeProject is one entry of `docker compose ls --format json`.
type composeProject struct {
	Name   string `json:"Name"`
	Status string `json:"Status"`
}

// projects lists the order ids of lnplaylive projects on a host, stopped
// ones included.
func (p *Provider) projects(ctx context.Context, h infra.Host) (map[string]bool, error) {
	c, err := p.connect(ctx, h)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out, err := c.Run(ctx, "docker compose ls --all --format json", nil)
	if err != nil {
		return nil, fmt.Errorf("list projects on %s: %w", h.ID, err)
	}
	var ps []composeProject
	if err := json.Unmarshal(out, &ps); err != nil {
		return nil, fmt.Errorf("list projects on %s: %w", h.ID, err)
	}
	ids := map[string]bool{}
	for _, pr := range ps {
		if id, ok := strings.CutPrefix(pr.Name, projectName("")); ok {
			if order.ValidMachineID(id) {
				ids[id] = true
			}
		}
	}
	return ids, nil
}
