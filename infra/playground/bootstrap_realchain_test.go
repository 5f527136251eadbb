package playground

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/internal/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/sshdtest"
	"github.com/lnplaylive/lnplaylive/order"
)

// realChain is an order's machine on the container engine double: the
// compose file runs as Docker and the images would, with real Bitcoin
// Core and real lightningd v25.12.1, over a real sshd.
type realChain struct {
	fixture
	e *playgroundtest.Engine
}

func newRealChain(t *testing.T, portBase, p2pBase int) realChain {
	t.Helper()
	hostPriv, _ := sshdtest.NewKey(t)
	_, operator := sshdtest.NewKey(t)
	e := playgroundtest.StartEngine(t, hostPriv, operator.PublicKey(), "127.0.0.1", 0)
	hostPub, _ := ssh.NewPublicKey(hostPriv.Public())
	f := fixture{m: e.Machine, b: New(Config{Signer: operator, Images: DefaultImages(), RemoteDir: e.RemoteDir, ReadyMarker: e.ReadyMarker}),
		host: infra.Host{ID: "1", Address: "127.0.0.1", SSHPort: e.SSHD.Port, SSHUser: "root",
			HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))), PortBase: portBase, P2PPortBase: p2pBase}}
	return realChain{f, e}
}

// project is the compose project of an order.
func project(orderID string) string { return Spec{OrderID: orderID}.Project() }

// cli runs a command in a service's container, as the bootstrap does.
func (r realChain) cli(t *testing.T, orderID, service string, argv ...string) (string, error) {
	t.Helper()
	dir := filepath.Join(r.e.RemoteDir, orderID)
	return r.e.TryDocker(append([]string{"compose", "-p", project(orderID), "-f", filepath.Join(dir, "compose.yml"), "exec", "-T", service}, argv...)...)
}

func (r realChain) lightning(t *testing.T, orderID string, node int, v any, argv ...string) error {
	t.Helper()
	out, err := r.cli(t, orderID, fmt.Sprintf("cln-%d", node), append([]string{"lightning-cli", "--network=regtest"}, argv...)...)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal([]byte(out), v)
}

func (r realChain) height(t *testing.T, orderID string) int {
	t.Helper()
	out, err := r.cli(t, orderID, "bitcoind", "bitcoin-cli", "-regtest", "-rpcuser=lnplaylive", "-rpcpassword=lnplaylive", "getblockcount")
	if err != nil {
		return -1
	}
	h, _ := strconv.Atoi(strings.TrimSpace(out))
	return h
}

// activeChannels counts a node's channels that are CHANNELD_NORMAL with
// the peer connected: usable now.
func (r realChain) activeChannels(t *testing.T, orderID string, node int) int {
	t.Helper()
	var pc struct {
		Channels []struct {
			State         string `json:"state"`
			PeerConnected bool   `json:"peer_connected"`
		} `json:"channels"`
	}
	if err := r.lightning(t, orderID, node, &pc, "listpeerchannels"); err != nil {
		return -1
	}
	n := 0
	for _, c := range pc.Channels {
		if c.State == "CHANNELD_NORMAL" && c.PeerConnected {
			n++
		}
	}
	return n
}

// allActive waits until every node has every planned channel usable.
func (r realChain) allActive(t *testing.T, orderID string, plan Plan, within time.Duration) {
	t.Helper()
	lagging := 0
	deadline := time.Now().Add(within)
	for {
		lagging = 0
		for i := 1; i <= plan.Nodes && lagging == 0; i++ {
			want := 0
			for _, c := range plan.Channels {
				if c.From == i || c.To == i {
					want++
				}
			}
			if r.activeChannels(t, orderID, i) < want {
				lagging = i
			}
		}
		if lagging == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	out, _ := r.cli(t, orderID, fmt.Sprintf("cln-%d", lagging), "lightning-cli", "--network=regtest", "listpeers")
	t.Fatalf("node %d: not every planned channel active within %s\nlistpeers: %s\nlog: %s", lagging, within, tail(out), tail(r.e.Log(project(orderID), fmt.Sprintf("cln-%d", lagging))))
}

// payFarthest has the plan's proof pair make a new payment, retrying
// while routes come back, and fails the test after within.
func (r realChain) payFarthest(t *testing.T, orderID string, plan Plan, label string, within time.Duration) {
	t.Helper()
	var inv struct {
		Bolt11 string `json:"bolt11"`
	}
	if err := r.lightning(t, orderID, plan.ProofTo, &inv, "invoice", "10000", label, "after a restart"); err != nil {
		t.Fatal(err)
	}
	var last error
	waitFor(t, within, fmt.Sprintf("node %d pays node %d", plan.ProofFrom, plan.ProofTo), func() bool {
		last = r.lightning(t, orderID, plan.ProofFrom, nil, "pay", inv.Bolt11)
		return last == nil
	})
}

// The whole bootstrap over sshd, on real bitcoind and real lightningd run
// as the compose file says (entrypoints, init, DNS, published ports), at
// 8 and 16 nodes in the mesh and prism topologies: funded from Bitcoin
// Core's own wallet, channels opened, confirmed by the miner service and
// the bootstrap, gossiped, the routing proof paid, runes minted; a rerun
// makes no second channel or rune.
func TestBootstrapOnRealChain(t *testing.T) {
	for i, c := range []struct {
		n    int
		topo order.Topology
	}{{8, order.TopologyMesh}, {8, order.TopologyPrism}, {16, order.TopologyMesh}, {16, order.TopologyPrism}} {
		t.Run(fmt.Sprintf("%d-%s", c.n, c.topo), func(t *testing.T) {
			if testing.Short() && c.n > 8 {
				t.Skip("-short: 8 nodes only")
			}
			r := newRealChain(t, 6200+100*i, 24200+100*i)
			id := fmt.Sprintf("chain%d", i)
			start := time.Now()
			pg, steps, err := r.bootstrapTopology(t, id, c.n, c.topo)
			if err != nil {
				t.Fatalf("%v\nsteps %v\nbitcoind: %s\nminer: %s", err, steps, tail(r.e.Log(project(id), "bitcoind")), tail(r.e.Log(project(id), "miner")))
			}
			t.Logf("%d nodes, %s: provisioned in %s", c.n, c.topo, time.Since(start).Round(time.Second))
			ids := checkNodesAt(t, pg, c.n, 6200+100*i, 24200+100*i)
			plan, _ := PlanFor(c.topo, c.n)
			for node := 1; node <= c.n; node++ {
				var info struct {
					ID    string `json:"id"`
					Alias string `json:"alias"`
				}
				if err := r.lightning(t, id, node, &info, "getinfo"); err != nil || info.ID != ids[node-1] || info.Alias != Alias(node) {
					t.Fatalf("node %d: %v %+v", node, err, info)
				}
			}
			r.allActive(t, id, plan, 10*time.Second)
			// The miner service mines by itself: blocks keep coming.
			h := r.height(t, id)
			waitFor(t, 15*time.Second, "the miner's next block", func() bool { return r.height(t, id) > h })

			again, _, err := r.bootstrapTopology(t, id, c.n, c.topo)
			if err != nil {
				t.Fatal(err)
			}
			for k := range again.Nodes {
				if again.Nodes[k].Rune != pg.Nodes[k].Rune {
					t.Fatalf("node %d got a second rune", k+1)
				}
			}
			total := 0
			for node := 1; node <= c.n; node++ {
				total += r.activeChannels(t, id, node)
			}
			if total != 2*len(plan.Channels) {
				t.Fatalf("a rerun left %d channel ends, want %d", total, 2*len(plan.Channels))
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// bootstrapped is an 8-node mesh provisioned on the engine.
func bootstrapped(t *testing.T, portBase, p2pBase int, id string) (realChain, Plan) {
	t.Helper()
	r := newRealChain(t, portBase, p2pBase)
	if _, steps, err := r.bootstrapTopology(t, id, 8, order.TopologyMesh); err != nil {
		t.Fatalf("%v\nsteps %v", err, steps)
	}
	plan, _ := PlanFor(order.TopologyMesh, 8)
	return r, plan
}

// A restarted bitcoind (an OOM kill under restart: unless-stopped, a
// dockerd restart) loads the miner's wallet again, and the miner goes on
// mining. Before the fix, every -generate after it failed with "Requested
// wallet does not exist or is not loaded", into /dev/null.
func TestMinerSurvivesBitcoindRestart(t *testing.T) {
	r, plan := bootstrapped(t, 6700, 24700, "restart1")
	p := project("restart1")
	for _, how := range []string{"restart", "crash"} {
		before := r.e.Inspect(t, p, "bitcoind")
		if how == "restart" {
			r.e.Docker(t, "compose", "-p", p, "restart", "bitcoind")
		} else {
			r.e.Docker(t, "__crash", p, "bitcoind")
		}
		waitFor(t, 30*time.Second, "bitcoind back", func() bool {
			in := r.e.Inspect(t, p, "bitcoind")
			return in.Running && in.Pid != before.Pid && r.height(t, "restart1") > 0
		})
		h := r.height(t, "restart1")
		waitFor(t, 20*time.Second, "the miner's next block after a bitcoind "+how, func() bool { return r.height(t, "restart1") >= h+2 })
	}
	r.allActive(t, "restart1", plan, 60*time.Second)
	r.payFarthest(t, "restart1", plan, "after-bitcoind-restart", 60*time.Second)
}

// A miner whose wallet is not loaded says so in its log, once, and loads
// it: the failure is never silent and never for good.
func TestMinerLogsAndLoadsAnUnloadedWallet(t *testing.T) {
	r, _ := bootstrapped(t, 6800, 24800, "unload1")
	p := project("unload1")
	if out, err := r.cli(t, "unload1", "bitcoind", "bitcoin-cli", "-regtest", "-rpcuser=lnplaylive", "-rpcpassword=lnplaylive", "unloadwallet", "lnplaylive"); err != nil {
		t.Fatalf("unloadwallet: %v %s", err, out)
	}
	waitFor(t, 20*time.Second, "the miner logs the unloaded wallet", func() bool {
		return strings.Contains(r.e.Log(p, "miner"), "not loaded")
	})
	h := r.height(t, "unload1")
	waitFor(t, 20*time.Second, "blocks again", func() bool { return r.height(t, "unload1") >= h+2 })
	if n := strings.Count(r.e.Log(p, "miner"), "not loaded"); n != 1 {
		t.Errorf("the miner logged the same failure %d times", n)
	}
}

// Every service stops on SIGTERM: an 8-node project's `down -v` takes
// well under Docker's 10 s grace period. Before the fix, the CLN
// entrypoint (bash as PID 1) and the miner's `sh -c` ignored SIGTERM and
// each was killed after the grace.
func TestDownStopsWithinTheGracePeriod(t *testing.T) {
	r, _ := bootstrapped(t, 6900, 24900, "down1")
	p := project("down1")
	start := time.Now()
	r.e.Docker(t, "compose", "-p", p, "down", "-v")
	took := time.Since(start)
	t.Logf("8-node down -v: %s", took.Round(10*time.Millisecond))
	if took > 6*time.Second {
		t.Fatalf("down -v took %s: some service waited out the 10 s grace", took)
	}
	for _, svc := range []string{"miner", "cln-1"} {
		if strings.Contains(r.e.Log(p, svc), "SIGKILL") {
			t.Errorf("%s was killed", svc)
		}
	}
	if vols, _ := filepath.Glob(filepath.Join(r.e.RemoteDir, "..", "engine", "volumes", p+"_*")); len(vols) != 0 {
		t.Errorf("volumes left: %v", vols)
	}
	if _, err := os.Stat(filepath.Join(r.e.RemoteDir, "down1")); err != nil {
		t.Fatal(err)
	}
}

// After a whole-host reboot (a power cut: every process killed, new
// container addresses), the nodes come back with their channels and
// funds, every planned channel is active again and the farthest pair can
// pay within 60 s.
func TestRebootBringsChannelsBack(t *testing.T) {
	r, plan := bootstrapped(t, 7000, 25000, "reboot1")
	p := project("reboot1")
	before := r.e.Inspect(t, p, "cln-1")
	var funds struct {
		Outputs []any `json:"outputs"`
	}
	if err := r.lightning(t, "reboot1", 1, &funds, "listfunds"); err != nil {
		t.Fatal(err)
	}
	r.e.Reboot(t, true)
	after := r.e.Inspect(t, p, "cln-1")
	if after.Address == before.Address {
		t.Fatalf("the reboot kept cln-1's address %s: the test would prove nothing", after.Address)
	}
	start := time.Now()
	r.allActive(t, "reboot1", plan, 60*time.Second)
	r.payFarthest(t, "reboot1", plan, "after-reboot", 60*time.Second-time.Since(start))
	t.Logf("channels active and the farthest pair paid %s after the reboot", time.Since(start).Round(100*time.Millisecond))
	var again struct {
		Outputs []any `json:"outputs"`
	}
	if err := r.lightning(t, "reboot1", 1, &again, "listfunds"); err != nil || len(again.Outputs) < len(funds.Outputs) {
		t.Fatalf("node 1's funds after the reboot: %v, %d outputs, had %d", err, len(again.Outputs), len(funds.Outputs))
	}
}
