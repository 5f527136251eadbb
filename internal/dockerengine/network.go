package dockerengine

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A project's network is a Linux bridge on the host with a /24 of its
// own; each container is a network namespace joined to it by a veth pair.
// Addresses are never handed out twice in a network's life (a counter),
// so a container started again after a reboot gets a new one, as Docker
// may give it.
//
// Subnets are 10.200.0.0/24 … 10.207.255.0/24, taken under a lock in
// /run/dockerengine with the owning daemon's pid, so daemons of parallel
// tests never share one and a dead daemon's leftovers are cleaned up by
// the next one that takes its slot. No route leads anywhere else: the
// containers reach each other and the host, nothing outside it.
type network struct {
	Slot   int
	Bridge string
	next   int // last host number handed out
}

const claimDir = "/run/dockerengine"

func (n *network) subnet() string  { return fmt.Sprintf("10.%d.%d", 200+n.Slot/256, n.Slot%256) }
func (n *network) gateway() string { return n.subnet() + ".1" }

// address hands out the next address of the network.
func (n *network) address() (string, error) {
	n.next++
	if n.next > 254 {
		// Wrap: a long-lived network has long released its early addresses.
		n.next = 2
	}
	if n.next < 2 {
		n.next = 2
	}
	return fmt.Sprintf("%s.%d", n.subnet(), n.next), nil
}

// newNetwork claims a free slot and makes its bridge.
func newNetwork() (*network, error) {
	if err := os.MkdirAll(claimDir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(claimDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	for slot := 0; slot < 2048; slot++ {
		claim := filepath.Join(claimDir, "slot-"+strconv.Itoa(slot))
		if b, err := os.ReadFile(claim); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && syscall.Kill(pid, 0) == nil {
				continue
			}
		}
		n := &network{Slot: slot, Bridge: fmt.Sprintf("ddbr%d", slot), next: 1}
		n.cleanup() // a dead daemon's leftovers
		if err := ipBatch(fmt.Sprintf("link add %s type bridge\naddr add %s/24 dev %s\nlink set %s up\n", n.Bridge, n.gateway(), n.Bridge, n.Bridge)); err != nil {
			return nil, fmt.Errorf("network slot %d: %w", slot, err)
		}
		if err := os.WriteFile(claim, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("no free network slot in %s", claimDir)
}

// nsName is a container's network namespace.
func (n *network) nsName(seq int) string { return fmt.Sprintf("dd%d-%d", n.Slot, seq) }

// attach makes the container's namespace with its address and loopback.
func (n *network) attach(seq int, addr string) error {
	ns, host, peer := n.nsName(seq), fmt.Sprintf("ddv%d_%d", n.Slot, seq), fmt.Sprintf("ddp%d_%d", n.Slot, seq)
	// Leftovers of a dead daemon that had this slot: its namespace, and a
	// veth whose namespace is still held by a process on its way out.
	_ = ipBatch(fmt.Sprintf("netns del %s\n", ns))
	_ = ipBatch(fmt.Sprintf("link del %s\n", host))
	if err := ipBatch(fmt.Sprintf(`netns add %[1]s
link add %[2]s type veth peer name %[3]s
link set %[3]s netns %[1]s
link set %[2]s master %[4]s up
`, ns, host, peer, n.Bridge)); err != nil {
		return err
	}
	return ipBatch(fmt.Sprintf(`link set %[1]s name eth0
addr add %[2]s/24 dev eth0
link set eth0 up
link set lo up
`, peer, addr), "-n", ns)
}

// detach removes a container's namespace (its veth goes with it).
func (n *network) detach(seq int) { _ = ipBatch(fmt.Sprintf("netns del %s\n", n.nsName(seq))) }

// cleanup removes the slot's bridge and namespaces.
func (n *network) cleanup() {
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		var b strings.Builder
		prefix := fmt.Sprintf("dd%d-", n.Slot)
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
				fmt.Fprintf(&b, "netns del %s\n", f[0])
			}
		}
		if b.Len() > 0 {
			_ = ipBatch(b.String())
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		var b strings.Builder
		prefix := fmt.Sprintf("ddv%d_", n.Slot)
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], prefix) {
				name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
				fmt.Fprintf(&b, "link del %s\n", name)
			}
		}
		if b.Len() > 0 {
			_ = ipBatch(b.String())
		}
	}
	_ = ipBatch(fmt.Sprintf("link del %s\n", n.Bridge))
}

// release removes the network and gives up its slot.
func (n *network) release() {
	n.cleanup()
	_ = os.Remove(filepath.Join(claimDir, "slot-"+strconv.Itoa(n.Slot)))
}

func ipBatch(cmds string, opts ...string) error {
	cmd := exec.Command("ip", append(opts, "-batch", "-")...)
	cmd.Stdin = strings.NewReader(cmds)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
