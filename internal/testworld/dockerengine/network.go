package dockerengine

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A project's network is a Linux bridge in a network namespace of its own
// (the switch) with a /24 of its own; each container is a network
// namespace joined to the switch by a veth pair. Nothing of it is in the
// host's own namespace: the host reaches containers only through their
// published ports, whose proxies dial from inside the switch, so no
// packet of a project's network is ever routed by the host.
//
// Addresses are never handed out twice in a network's life (a counter),
// so a container started again after a reboot gets a new one, as Docker
// may give it.
//
// Subnets are 10.200.0.0/24 … 10.207.255.0/24, taken under a lock in
// /run/dockerengine with the owning daemon's pid, so daemons of parallel
// tests never share one and a dead daemon's leftovers are cleaned up by
// the next one that takes its slot.
type network struct {
	Slot int
	next int // last host number handed out
}

const claimDir = "/run/dockerengine"

func (n *network) subnet() string  { return fmt.Sprintf("10.%d.%d", 200+n.Slot/256, n.Slot%256) }
func (n *network) gateway() string { return n.subnet() + ".1" }

// switchNS is the namespace of the network's bridge.
func (n *network) switchNS() string { return fmt.Sprintf("dd%d-sw", n.Slot) }

// address hands out the next address of the network.
func (n *network) address() string {
	n.next++
	if n.next > 254 || n.next < 2 {
		// Wrap: a long-lived network has long released its early addresses.
		n.next = 2
	}
	return fmt.Sprintf("%s.%d", n.subnet(), n.next)
}

// newNetwork claims a free slot and makes its switch.
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
		n := &network{Slot: slot, next: 1}
		n.cleanup() // a dead daemon's leftovers
		if err := ipBatch(fmt.Sprintf("netns add %s\n", n.switchNS())); err != nil {
			return nil, fmt.Errorf("network slot %d: %w", slot, err)
		}
		if err := ipBatch(fmt.Sprintf("link add name sw0 type bridge\naddr add %s/24 dev sw0\nlink set sw0 up\nlink set lo up\n", n.gateway()), "-n", n.switchNS()); err != nil {
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

// attach makes the container's namespace with its address and loopback,
// joined to the switch.
func (n *network) attach(seq int, addr string) error {
	ns, host, peer := n.nsName(seq), fmt.Sprintf("ddv%d_%d", n.Slot, seq), fmt.Sprintf("ddp%d_%d", n.Slot, seq)
	// Leftovers of a dead daemon that had this slot, or of this
	// container's last run: its namespace, and a veth whose end is still
	// held by a process on its way out.
	_ = ipBatch(fmt.Sprintf("netns del %s\n", ns))
	_ = ipBatch(fmt.Sprintf("link del %s\n", host))
	_ = ipBatch(fmt.Sprintf("link del %s\n", host), "-n", n.switchNS())
	if err := ipBatch(fmt.Sprintf(`netns add %[1]s
link add %[2]s type veth peer name %[3]s
link set %[3]s netns %[1]s
link set %[2]s netns %[4]s
`, ns, host, peer, n.switchNS())); err != nil {
		return err
	}
	if err := ipBatch(fmt.Sprintf("link set %s master sw0 up\n", host), "-n", n.switchNS()); err != nil {
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

// dial connects to a container's address from inside the switch: what
// docker-proxy does for a published port, without a route on the host.
func (n *network) dial(addr string) (net.Conn, error) {
	runtime.LockOSThread()
	// The thread is in the switch's namespace until it is put back; if it
	// cannot be, it must die rather than serve other goroutines.
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer unix.Close(home)
	sw, err := unix.Open("/run/netns/"+n.switchNS(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer unix.Close(sw)
	if err := unix.Setns(sw, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	conn, dialErr := net.Dial("tcp", addr)
	if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
		// Left locked: the runtime ends this thread with the goroutine.
		return conn, dialErr
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

// cleanup removes the slot's switch and namespaces.
func (n *network) cleanup() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
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
