package playground

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/internal/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/realcln"
	"github.com/lnplaylive/lnplaylive/internal/sshdtest"
)

// The bootstrap script, whole, over a real sshd, against real lightningd
// v25.12.1 nodes (the double's real mode: only bitcoind's wallet is
// modelled, on the nodes' own chain): funded, channels opened, confirmed,
// gossiped, the routing proof paid, runes minted; then run again, as a
// retried activity would, without a second channel or rune.
func TestBootstrapOnRealLightningNodes(t *testing.T) {
	build, chain := realcln.Paths(t)
	hostPriv, _ := sshdtest.NewKey(t)
	_, operator := sshdtest.NewKey(t)
	m := playgroundtest.StartEnv(t, hostPriv, operator.PublicKey(), "127.0.0.1", 0,
		map[string]string{"DOCKER_DOUBLE_CLN": build, "DOCKER_DOUBLE_CHAIN": chain})
	cli := filepath.Join(build, "cli", "lightning-cli")
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join(m.StateDir, "real", "*", "cln-*"))
		realcln.StopDirs(build, dirs...)
	})
	hostPub, _ := ssh.NewPublicKey(hostPriv.Public())
	f := fixture{m: m, b: New(Config{Signer: operator, Images: DefaultImages(), RemoteDir: m.RemoteDir, ReadyMarker: m.ReadyMarker}),
		host: infra.Host{ID: "1", Address: "127.0.0.1", SSHPort: m.SSHD.Port, SSHUser: "root",
			HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))), PortBase: 6000, P2PPortBase: 24000}}

	// Five nodes: the chain stand-in is a Python script that every node
	// polls every second; eight of them catching up 100 blocks at once
	// saturate two cores (bitcoind answers in microseconds).
	const n = 5
	pg, steps, err := f.bootstrap(t, "real1", n)
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(m.StateDir, "real", "*", "cln-1", "log"))
		var tail []byte
		if len(logs) > 0 {
			tail, _ = os.ReadFile(logs[0])
			if len(tail) > 3000 {
				tail = tail[len(tail)-3000:]
			}
		}
		t.Fatalf("%v\nsteps %v\nnode 1 log: %s", err, steps, tail)
	}
	ids := checkNodesAt(t, pg, n, 24000)
	plan, _ := PlanFor("", n)
	node := func(i int) string {
		return filepath.Join(m.StateDir, "real", "lnplaylive-real1", fmt.Sprintf("cln-%d", i))
	}
	channels := func(i int) (normal int) {
		out, err := exec.Command(cli, "--lightning-dir="+node(i), "--network=regtest", "listpeerchannels").Output()
		if err != nil {
			t.Fatal(err)
		}
		var pc struct {
			Channels []struct {
				State string `json:"state"`
			} `json:"channels"`
		}
		if err := json.Unmarshal(out, &pc); err != nil {
			t.Fatal(err)
		}
		for _, c := range pc.Channels {
			if c.State == "CHANNELD_NORMAL" {
				normal++
			}
		}
		return normal
	}
	total := 0
	for i := 1; i <= n; i++ {
		var info struct {
			ID    string `json:"id"`
			Alias string `json:"alias"`
		}
		out, err := exec.Command(cli, "--lightning-dir="+node(i), "--network=regtest", "getinfo").Output()
		if err != nil || json.Unmarshal(out, &info) != nil || info.ID != ids[i-1] || info.Alias != Alias(i) {
			t.Fatalf("node %d: %v %+v", i, err, info)
		}
		total += channels(i)
	}
	if total != 2*len(plan.Channels) {
		t.Fatalf("%d channel ends normal, want %d", total, 2*len(plan.Channels))
	}
	again, _, err := f.bootstrap(t, "real1", n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again.Nodes {
		if again.Nodes[i].Rune != pg.Nodes[i].Rune {
			t.Fatalf("node %d got a second rune", i+1)
		}
	}
	total = 0
	for i := 1; i <= n; i++ {
		total += channels(i)
	}
	if total != 2*len(plan.Channels) {
		t.Fatalf("a rerun left %d channel ends, want %d", total, 2*len(plan.Channels))
	}
}
