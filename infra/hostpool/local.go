package hostpool

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lnplaylive/lnplaylive/infra"
)

// ParsePortRange reads "first-last" (inclusive).
func ParsePortRange(s string) (first, last int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || first < 1024 || last > 65535 || last < first {
		return 0, 0, fmt.Errorf("port range %q: want first-last, unprivileged (1024–65535), first ≤ last", s)
	}
	return first, last, nil
}

// LocalSlots divides a port range of this machine into at most count slots
// of slotNodes nodes: the local provider's pool, leased like a host pool's.
// A slot takes 2×slotNodes ports: its nodes' websockets, then their p2p
// ports. address is what customers connect to (127.0.0.1, or the machine's
// LAN address for phones on the same network); dir holds per-order files.
func LocalSlots(first, last, slotNodes, count int, address, dir string) ([]Slot, error) {
	if slotNodes < 1 || count < 1 {
		return nil, fmt.Errorf("local slots: %d slots of %d nodes", count, slotNodes)
	}
	if !strings.HasPrefix(dir, "/") {
		return nil, fmt.Errorf("local slots: directory %q is not absolute", dir)
	}
	var slots []Slot
	for base := first - 1; base+2*slotNodes <= last && len(slots) < count; base += 2 * slotNodes {
		id := fmt.Sprintf("local/s%d", len(slots)+1)
		slots = append(slots, Slot{ID: id, MaxNodes: slotNodes, Host: infra.Host{
			ID: id, Address: "127.0.0.1", PublicAddress: address, PortBase: base, P2PPortBase: base + slotNodes,
			RemoteDir: dir, NoCloudInit: true, Local: true,
		}})
	}
	if len(slots) == 0 {
		return nil, fmt.Errorf("local slots: ports %d-%d hold no slot of %d nodes (it takes %d ports)", first, last, slotNodes, 2*slotNodes)
	}
	return slots, nil
}
