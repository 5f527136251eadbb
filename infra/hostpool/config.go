// Package hostpool is the provider for machines an operator already runs:
// a file lists the hosts and their slots, an order leases one slot, and its
// playground runs there as its own Compose project, bootstrapped over SSH
// exactly as on a rented VM. Leases are kept by the capacity workflow in
// Temporal (see workflows/capacity_workflow.go); this package reaches it through a
// Leaser.
package hostpool

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
)

// File is the pool file (LNPLAYLIVE_HOSTS_FILE), YAML:
//
//	hosts:
//	  - name: box1
//	    address: 198.51.100.7      # where the worker connects over SSH
//	    public_address: play.example.com  # in connection strings (default: address)
//	    ssh_port: 22
//	    user: lnplaylive           # must be allowed to run docker
//	    host_key: "ssh-ed25519 AAAA…"  # or a known_hosts line; pinned
//	    dir: /var/lib/lnplaylive/orders  # per-order files (default: the worker's)
//	    slots:
//	      - {name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}
type File struct {
	Hosts []HostConfig `yaml:"hosts"`
}

// HostConfig is one machine of the pool.
type HostConfig struct {
	Name          string       `yaml:"name"`
	Address       string       `yaml:"address"`
	PublicAddress string       `yaml:"public_address"`
	SSHPort       int          `yaml:"ssh_port"`
	User          string       `yaml:"user"`
	HostKey       string       `yaml:"host_key"`
	Dir           string       `yaml:"dir"`
	Slots         []SlotConfig `yaml:"slots"`
}

// SlotConfig is one place on a host: node i of its order serves its
// websocket on PortBase+i and its Lightning p2p port (what Clams's proxy
// reaches) on P2PPortBase+i, for i up to MaxNodes.
type SlotConfig struct {
	Name        string `yaml:"name"`
	PortBase    int    `yaml:"port_base"`
	P2PPortBase int    `yaml:"p2p_port_base"`
	MaxNodes    int    `yaml:"max_nodes"`
}

// Slot is a slot ready to lease: where it is and how to reach it.
type Slot struct {
	ID       string // "<host>/<slot>"
	MaxNodes int
	Host     infra.Host
}

var name = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Load reads and checks a pool file.
func Load(path string) ([]Slot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host pool file: %w", err)
	}
	slots, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("host pool file %s: %w", path, err)
	}
	return slots, nil
}

// Parse checks a pool file's contents and flattens it into slots, in file
// order. Every mistake an operator can make is refused here, at start,
// rather than discovered by an order.
func Parse(b []byte) ([]Slot, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(f.Hosts) == 0 {
		return nil, errors.New("no hosts")
	}
	var slots []Slot
	hosts := map[string]bool{}
	for _, h := range f.Hosts {
		if !name.MatchString(h.Name) || hosts[h.Name] {
			return nil, fmt.Errorf("host name %q: want a unique lower-case name", h.Name)
		}
		hosts[h.Name] = true
		key, err := parseHostKey(h.HostKey)
		if err != nil {
			return nil, fmt.Errorf("host %s: host_key: %w", h.Name, err)
		}
		if h.Address == "" || strings.ContainsAny(h.Address, " /") {
			return nil, fmt.Errorf("host %s: address %q", h.Name, h.Address)
		}
		if h.SSHPort == 0 {
			h.SSHPort = 22
		}
		if h.SSHPort < 1 || h.SSHPort > 65535 {
			return nil, fmt.Errorf("host %s: ssh_port %d", h.Name, h.SSHPort)
		}
		if h.User == "" {
			return nil, fmt.Errorf("host %s: user is required", h.Name)
		}
		if h.Dir != "" && !strings.HasPrefix(h.Dir, "/") {
			return nil, fmt.Errorf("host %s: dir %q must be absolute", h.Name, h.Dir)
		}
		if len(h.Slots) == 0 {
			return nil, fmt.Errorf("host %s: no slots", h.Name)
		}
		used := map[int]string{} // published port → slot
		names := map[string]bool{}
		for _, s := range h.Slots {
			if !name.MatchString(s.Name) || names[s.Name] {
				return nil, fmt.Errorf("host %s: slot name %q: want a unique lower-case name", h.Name, s.Name)
			}
			names[s.Name] = true
			if s.P2PPortBase == 0 {
				return nil, fmt.Errorf("host %s slot %s: p2p_port_base is required: the nodes publish their Lightning port for Clams (e.g. p2p_port_base: %d)", h.Name, s.Name, s.PortBase+1000)
			}
			for _, r := range []struct {
				key  string
				base int
			}{{"port_base", s.PortBase}, {"p2p_port_base", s.P2PPortBase}} {
				if s.MaxNodes < 1 || r.base < 1 || r.base+s.MaxNodes > 65535 {
					return nil, fmt.Errorf("host %s slot %s: %s %d with max_nodes %d is out of range", h.Name, s.Name, r.key, r.base, s.MaxNodes)
				}
				for p := r.base + 1; p <= r.base+s.MaxNodes; p++ {
					if other, ok := used[p]; ok || p == h.SSHPort {
						if !ok {
							other = "ssh"
						}
						return nil, fmt.Errorf("host %s slot %s: port %d is also %s's", h.Name, s.Name, p, other)
					}
					used[p] = s.Name
				}
			}
			slots = append(slots, Slot{
				ID:       h.Name + "/" + s.Name,
				MaxNodes: s.MaxNodes,
				Host: infra.Host{
					ID: h.Name + "/" + s.Name, Address: h.Address, PublicAddress: h.PublicAddress,
					SSHPort: h.SSHPort, SSHUser: h.User, HostKey: key, PortBase: s.PortBase, P2PPortBase: s.P2PPortBase,
					RemoteDir: h.Dir, NoCloudInit: true,
				},
			})
		}
	}
	return slots, nil
}

// parseHostKey accepts an authorized_keys-style key or a known_hosts line
// and returns the key in authorized_keys form.
func parseHostKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("required: the host's SSH key is pinned")
	}
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), nil
	}
	if _, _, k, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), nil
	}
	return "", errors.New("not an SSH public key or known_hosts line")
}
