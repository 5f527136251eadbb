package playground

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/internal/testworld/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
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

// project is an order's compose project on the engine.
func (r realChain) project(orderID string) playgroundtest.Project {
	return r.e.Project(Spec{OrderID: orderID}.Project(), filepath.Join(r.e.RemoteDir, orderID, "compose.yml"))
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
				t.Fatalf("%v\nsteps %v\nbitcoind: %s\nminer: %s", err, steps, r.e.Log(r.project(id).Name, "bitcoind"), r.e.Log(r.project(id).Name, "miner"))
			}
			t.Logf("%d nodes, %s: provisioned in %s", c.n, c.topo, time.Since(start).Round(time.Second))
			ids := checkNodesAt(t, pg, c.n, 6200+100*i, 24200+100*i)
			plan, _ := PlanFor(c.topo, c.n)
			p := r.project(id)
			for node := 1; node <= c.n; node++ {
				var info struct {
					ID    string `json:"id"`
					Alias string `json:"alias"`
				}
				if err := p.Lightning(node, &info, "getinfo"); err != nil || info.ID != ids[node-1] || info.Alias != Alias(node) {
					t.Fatalf("node %d: %v %+v", node, err, info)
				}
			}
			p.WaitActive(t, plan.Ends(), 10*time.Second)
			// The miner service mines by itself: blocks keep coming.
			h := p.Height()
			waitFor(t, 15*time.Second, "the miner's next block", func() bool { return p.Height() > h })

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
				total += p.ActiveChannels(node)
			}
			if total != 2*len(plan.Channels) {
				t.Fatalf("a rerun left %d channel ends, want %d", total, 2*len(plan.Channels))
			}
		})
	}
}

// Restarts as they happen to a provisioned playground, one after the
// other on one 8-node mesh (a bootstrap each would cost a minute):
//   - the miner's wallet unloaded: the miner logs it, once, and loads it;
//   - bitcoind restarted, and crashed (an OOM kill under restart:
//     unless-stopped): it loads the wallet again and the miner goes on.
//     Before the fix, every -generate after it failed with "Requested
//     wallet does not exist or is not loaded", into /dev/null;
//   - the whole host rebooted by a power cut (every process killed, new
//     container addresses): the nodes come back with their channels and
//     funds, every planned channel is active again and the farthest pair
//     pays within 60 s. Before the fixes, bitcoind came back at its last
//     flush (block 0: the nodes refused to start), and peers stored by
//     their old address never reconnected;
//   - `down -v` takes well under Docker's 10 s grace period: every
//     service stops on SIGTERM. Before the fix, the CLN entrypoint (bash as
//     PID 1) and the miner's `sh -c` ignored SIGTERM and waited it out.
func TestPlaygroundSurvivesRestartsOnTheRealChain(t *testing.T) {
	const id = "faults1"
	r := newRealChain(t, 6700, 24700)
	if _, steps, err := r.bootstrapTopology(t, id, 8, order.TopologyMesh); err != nil {
		t.Fatalf("%v\nsteps %v", err, steps)
	}
	plan, _ := PlanFor(order.TopologyMesh, 8)
	p := r.project(id)
	blocksGoOn := func(t *testing.T, what string) {
		t.Helper()
		h := p.Height()
		waitFor(t, 20*time.Second, "the miner's blocks after "+what, func() bool { return p.Height() >= h+2 })
	}

	t.Run("wallet unloaded", func(t *testing.T) {
		// The miner may have logged the wallet missing before the bootstrap
		// made it: only what it logs from now on counts.
		before := len(r.e.Log(p.Name, "miner"))
		since := func() string { return r.e.Log(p.Name, "miner")[before:] }
		if out, err := p.Exec("bitcoind", "bitcoin-cli", "-regtest", "-rpcuser=lnplaylive", "-rpcpassword=lnplaylive", "unloadwallet", "lnplaylive"); err != nil {
			t.Fatalf("unloadwallet: %v %s", err, out)
		}
		waitFor(t, 20*time.Second, "the miner logs the unloaded wallet", func() bool {
			return strings.Contains(since(), "not loaded")
		})
		blocksGoOn(t, "an unloaded wallet")
		if n := strings.Count(since(), "not loaded"); n != 1 {
			t.Errorf("the miner logged the same failure %d times", n)
		}
	})

	for _, how := range []string{"restart", "crash"} {
		t.Run("bitcoind "+how, func(t *testing.T) {
			before := r.e.Inspect(t, p.Name, "bitcoind")
			if how == "restart" {
				r.e.Docker(t, "compose", "-p", p.Name, "restart", "bitcoind")
			} else {
				r.e.Docker(t, "__crash", p.Name, "bitcoind")
			}
			waitFor(t, 30*time.Second, "bitcoind back", func() bool {
				in := r.e.Inspect(t, p.Name, "bitcoind")
				return in.Running && in.Pid != before.Pid && p.Height() > 0
			})
			blocksGoOn(t, "a bitcoind "+how)
			p.WaitActive(t, plan.Ends(), 60*time.Second)
		})
	}

	t.Run("host reboot", func(t *testing.T) {
		before := r.e.Inspect(t, p.Name, "cln-1")
		var funds, again struct {
			Outputs []any `json:"outputs"`
		}
		if err := p.Lightning(1, &funds, "listfunds"); err != nil {
			t.Fatal(err)
		}
		r.e.Reboot(t, true)
		if after := r.e.Inspect(t, p.Name, "cln-1"); after.Address == before.Address {
			t.Fatalf("the reboot kept cln-1's address %s: the test would prove nothing", after.Address)
		}
		start := time.Now()
		p.WaitActive(t, plan.Ends(), 60*time.Second)
		p.Pay(t, plan.ProofFrom, plan.ProofTo, "after-reboot", 60*time.Second-time.Since(start))
		t.Logf("channels active and the farthest pair paid %s after the reboot", time.Since(start).Round(100*time.Millisecond))
		if err := p.Lightning(1, &again, "listfunds"); err != nil || len(again.Outputs) < len(funds.Outputs) {
			t.Fatalf("node 1's funds after the reboot: %v, %d outputs, had %d", err, len(again.Outputs), len(funds.Outputs))
		}
		blocksGoOn(t, "a reboot")
	})

	t.Run("down within the grace period", func(t *testing.T) {
		start := time.Now()
		r.e.Docker(t, "compose", "-p", p.Name, "down", "-v")
		took := time.Since(start)
		t.Logf("8-node down -v: %s", took.Round(10*time.Millisecond))
		if took > 6*time.Second {
			t.Fatalf("down -v took %s: some service waited out the 10 s grace", took)
		}
		if out := r.e.Docker(t, "compose", "ls", "--all", "--format", "json"); strings.Contains(out, p.Name) {
			t.Fatalf("the project is still listed: %s", out)
		}
	})
}

// btcFunction is the bootstrap's own btc(), cut from bootstrap.sh.
func btcFunction(t *testing.T) string {
	t.Helper()
	s := string(bootstrapScript)
	begin, end := strings.Index(s, "# BEGIN btc\n"), strings.Index(s, "# END btc\n")
	if begin < 0 || end < begin {
		t.Fatal("bootstrap.sh has no btc() between its markers")
	}
	return s[begin:end]
}

// A bitcoind whose work queue is full answers HTTP 503, which bitcoin-cli
// does not retry; the bootstrap's btc() does, and fails at once on any
// other error. Real Bitcoin Core, one RPC thread and a queue of one, held
// busy by waitfornewblock calls.
func TestBootstrapRetriesBitcoindsTransientRefusals(t *testing.T) {
	bin := filepath.Join(realcln.Bitcoin(t), "bin")
	dir := t.TempDir()
	port := freePort(t)
	start := exec.Command(filepath.Join(bin, "bitcoind"), "-regtest", "-datadir="+dir, "-rpcuser=lnplaylive", "-rpcpassword=lnplaylive",
		fmt.Sprintf("-rpcport=%d", port), fmt.Sprintf("-port=%d", freePort(t)), "-rpcthreads=1", "-rpcworkqueue=1", "-listen=0", "-daemonwait")
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("bitcoind: %v %s", err, out)
	}
	cli := []string{filepath.Join(bin, "bitcoin-cli"), "-regtest", "-datadir=" + dir, "-rpcuser=lnplaylive", "-rpcpassword=lnplaylive", fmt.Sprintf("-rpcport=%d", port)}
	t.Cleanup(func() { _ = exec.Command(cli[0], append(cli[1:], "stop")...).Run() })
	if out, err := exec.Command(cli[0], append(cli[1:], "-rpcwait", "getblockcount")...).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// The bootstrap's dc() runs bitcoin-cli in the container; here it runs
	// it directly, on this bitcoind.
	sh := func(body string) (string, error) {
		script := fmt.Sprintf("DIR=%s\ndc() { shift 4; %s \"$@\"; }\n%s\n%s", dir, strings.Join(cli[:1], " ")+" -datadir="+dir+fmt.Sprintf(" -rpcport=%d", port), btcFunction(t), body)
		out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
		return string(out), err
	}
	busy := func() {
		for range 3 {
			go func() { _ = exec.Command(cli[0], append(cli[1:], "waitfornewblock", "3000")...).Run() }()
		}
		time.Sleep(300 * time.Millisecond)
	}
	busy()
	if out, err := exec.Command(cli[0], append(cli[1:], "getblockcount")...).CombinedOutput(); err == nil || !strings.Contains(string(out), "Work queue depth exceeded") {
		t.Fatalf("a busy bitcoind answered a plain call: %v %s (the test proves nothing)", err, out)
	}
	busy()
	if out, err := sh(`btc getblockcount`); err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("btc() on a busy bitcoind: %v %q", err, out)
	}
	start2 := time.Now()
	if out, err := sh(`btc nosuchmethod`); err == nil || !strings.Contains(out, "Method not found") || time.Since(start2) > 5*time.Second {
		t.Fatalf("btc() on a real error: %v %q after %s", err, out, time.Since(start2))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// bitcoind restarted while the nodes open their channels: a funding
// transaction lightningd could not broadcast (-28 "Loading wallet") is
// discarded by multifundchannel while its channels wait for it for ever.
// The bootstrap sends it itself, and every planned channel is active.
// Before the fix, node after node failed with "channels not confirmed".
func TestBitcoindRestartWhileChannelsOpen(t *testing.T) {
	const id = "reopen1"
	r := newRealChain(t, 7100, 25100)
	p := r.project(id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var restart sync.WaitGroup
	var once sync.Once
	req := Request{OrderID: id, NodeCount: 8, Topology: order.TopologyMesh}
	_, err := r.b.Bootstrap(ctx, req, r.host, func(step string, _ int) {
		if step == "opening_channels" {
			once.Do(func() {
				restart.Add(1)
				go func() {
					defer restart.Done()
					if out, err := r.e.TryDocker("compose", "-p", p.Name, "restart", "bitcoind"); err != nil {
						t.Errorf("restart bitcoind: %v %s", err, out)
					}
				}()
			})
		}
	})
	restart.Wait()
	if err != nil {
		// As a retried activity would.
		t.Logf("first attempt: %v", err)
		if _, err = r.b.Bootstrap(ctx, req, r.host, func(string, int) {}); err != nil {
			t.Fatalf("the retry: %v\nnode 1: %s", err, r.e.Log(p.Name, "cln-1"))
		}
	}
	plan, _ := PlanFor(order.TopologyMesh, 8)
	p.WaitActive(t, plan.Ends(), 30*time.Second)
	if b, err := os.ReadFile(filepath.Join(r.e.RemoteDir, id, "unsent")); err == nil {
		t.Logf("%d funding transactions sent by the bootstrap after lightningd's broadcast failed", strings.Count(string(b), "\n"))
	}
}
