package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
)

// The latencies of the real services in the modelled provisioning, in the
// order an order meets them.
//   - Hetzner: a create_server action takes 10–30 s; the kernel boots and
//     sshd listens about 10 s later. The image is a snapshot with Docker and
//     both images preloaded (docs/ARCHITECTURE.md's advice), so cloud-init only
//     installs the host key and writes its marker.
//   - The Compose project starts from local images, bitcoind answers RPC
//     and mines its first 101 blocks; the nodes start in parallel (8: about
//     10 s; 64 on 8 vCPU: 40 s, docs/ARCHITECTURE.md's estimate).
//   - The channel phases are measured on this machine with real lightningd
//     v25.12.1 nodes and the playground's developer options
//     (TestMeshOnRealCoreLightning, 8 nodes, 2 cores shared by the 8 nodes
//     and the chain): funding seen 6.6 s, multifundchannel on every node at
//     once 3.3 s, six blocks to CHANNELD_NORMAL everywhere 12.2 s, gossip of
//     every channel to every node 1.0 s, the 2-hop proof 1.5 s. For 64 nodes
//     they are scaled, not measured: 8× the openings on 8 vCPU (10 s), the
//     same blocks (12 s), gossip one --dev-fast-gossip second per hop of the
//     diameter (6 s), the 6-hop proof 3 s.
type model struct {
	nodes                              int
	createAction, bootToSSH, cloudInit time.Duration
	// seconds, each held before the script's matching call
	composeUp, bitcoind, mining, nodesUp, fundingSeen, open, lockIn, gossip, proof int
}

var models = []model{
	{nodes: 8, createAction: 20 * time.Second, bootToSSH: 10 * time.Second, cloudInit: 10 * time.Second,
		composeUp: 8, bitcoind: 3, mining: 1, nodesUp: 10, fundingSeen: 7, open: 3, lockIn: 12, gossip: 1, proof: 2},
	{nodes: 64, createAction: 20 * time.Second, bootToSSH: 10 * time.Second, cloudInit: 10 * time.Second,
		composeUp: 15, bitcoind: 3, mining: 1, nodesUp: 40, fundingSeen: 7, open: 10, lockIn: 12, gossip: 6, proof: 3},
}

// faults are the model's waits as the docker double's "sleep-before"
// lines, consumed in order: the three generatetoaddress lines are the first
// 101 blocks, the funding block and the six confirming blocks.
func (m model) faults() []string {
	return []string{
		fmt.Sprintf("sleep-before up %d", m.composeUp),
		fmt.Sprintf("sleep-before getblockchaininfo %d", m.bitcoind),
		fmt.Sprintf("sleep-before generatetoaddress %d", m.mining),
		fmt.Sprintf("sleep-before getinfo %d", m.nodesUp),
		fmt.Sprintf("sleep-before generatetoaddress %d", m.fundingSeen),
		fmt.Sprintf("sleep-before multifundchannel %d", m.open),
		fmt.Sprintf("sleep-before generatetoaddress %d", m.lockIn),
		fmt.Sprintf("sleep-before listchannels %d", m.gossip),
		fmt.Sprintf("sleep-before pay %d", m.proof),
	}
}

func (m model) waits() time.Duration {
	return m.createAction + m.bootToSSH + m.cloudInit +
		time.Duration(m.composeUp+m.bitcoind+m.mining+m.nodesUp+m.fundingSeen+m.open+m.lockIn+m.gossip+m.proof)*time.Second
}

// An order's hour in this run: expiry 3 × modelHour s after payment, after
// provisioning has finished.
const modelHour = 50

// modelledProvisioning runs one order of m.nodes, on its own installation,
// through stand-ins that wait as the real services do, and measures payment
// → provisioned and (for the first model) expiry → DeleteVM started.
func modelledProvisioning(t *testing.T, m model, target string, withExpiry bool) [][]string {
	d := newDeployment(t)
	d.api.ActionPolls = 1 << 30
	d.api.ActionTime = m.createAction
	base := t.TempDir()
	marker := filepath.Join(base, "ready")
	env := append(d.env, "LNPLAYLIVE_REMOTE_DIR="+filepath.Join(base, "orders"), "LNPLAYLIVE_READY_MARKER="+marker,
		"LNPLAYLIVE_HETZNER_POLL_MS=1000")
	s := newSystem(t, options{workerEnv: env, pluginOptions: map[string]any{"lnplaylive-dev-hour-seconds": modelHour}})
	r := s.createOrder(map[string]any{"node_count": m.nodes, "hours": 3})
	id := string(r.BOLT11InvoiceID)
	paid := time.Now()
	if err := s.node.Pay("lnplaylive-" + id); err != nil {
		t.Error(err)
		return nil
	}
	// The VM "boots": sshd comes up after the create action and the boot,
	// cloud-init's marker after that.
	machineUp := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for len(d.api.Servers()) == 0 {
			if time.Now().After(deadline) {
				machineUp <- fmt.Errorf("no server created")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		created := d.api.Servers()[0].Created
		time.Sleep(time.Until(created.Add(m.createAction + m.bootToSSH)))
		machine := d.machine(t, d.keys.For(id).Private)
		for _, f := range m.faults() {
			machine.Fault(t, f)
		}
		time.Sleep(m.cloudInit)
		machineUp <- os.WriteFile(marker, nil, 0o600)
	}()
	st := s.waitStatus(id, 8*time.Minute, provisioned)
	toProvisioned := time.Since(paid)
	if err := <-machineUp; err != nil {
		t.Error(err)
		return nil
	}
	dep := st.deployment(t)
	if dep.Status != "provisioned" {
		t.Errorf("modelled order: %s (%s)", dep.Status, dep.Error)
		return nil
	}
	row := []string{fmt.Sprintf("payment → provisioned, %d nodes, modelled", m.nodes), secs(toProvisioned), "", "", "",
		fmt.Sprintf("one order; create action %s, boot to sshd %s, cloud-init on a Docker-preloaded snapshot %s, compose up %d s, bitcoind %d s, 101 blocks %d s, nodes %d s, funding seen %d s, channels opened %d s, 6 blocks to lock-in %d s, gossip %d s, routing proof %d s (sum of waits %s; the rest is the system and the stand-ins)",
			m.createAction, m.bootToSSH, m.cloudInit, m.composeUp, m.bitcoind, m.mining, m.nodesUp, m.fundingSeen, m.open, m.lockIn, m.gossip, m.proof, m.waits()),
		target}
	if !withExpiry {
		return [][]string{row}
	}
	expiry, err := time.Parse(time.RFC3339, dep.VMExpirationDate)
	if err != nil {
		t.Error(err)
		return nil
	}
	deadline := expiry.Add(time.Minute)
	for d.api.DeleteRequestedAt(id).IsZero() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	deleteAt := d.api.DeleteRequestedAt(id)
	if deleteAt.IsZero() {
		t.Error("the VM was not deleted within a minute of its expiry")
		return nil
	}
	return [][]string{row,
		{"expiry → DeleteVM started", ms(deleteAt.Sub(expiry)), "", "", "",
			fmt.Sprintf("vm_expiration_date %s (3 development hours of %d s after payment) → DELETE /servers at the stand-in", order.FormatTime(expiry), modelHour),
			"≤ 2 s"},
	}
}

// TestModelledProvisioning runs the modelled rows alone
// (LNPLAYLIVE_BENCH_MODEL=1), without the rest of make bench.
func TestModelledProvisioning(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_BENCH_MODEL") == "" {
		t.Skip("run with LNPLAYLIVE_BENCH_MODEL=1, or as part of make bench")
	}
	rows := modelledProvisioning(t, models[0], "≤ 120 s", true)
	rows = append(rows, modelledProvisioning(t, models[1], "≤ 240 s", false)...)
	for _, r := range rows {
		t.Logf("%s: %s (%s) target %s", r[0], r[1], r[5], r[6])
	}
}
