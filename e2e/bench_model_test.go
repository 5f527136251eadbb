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
// order an order meets them. Hetzner: a create_server action takes 10–30 s;
// the kernel boots and sshd listens about 10 s later. The image is a
// snapshot with Docker and both images preloaded (the README's advice), so
// cloud-init only installs the host key and writes its marker. Then the
// Compose project starts from local images, bitcoind answers RPC, and the
// CLN nodes (started in parallel) answer getinfo.
const (
	modelCreateAction = 20 * time.Second
	modelBootToSSH    = 10 * time.Second
	modelCloudInit    = 10 * time.Second
	modelComposeUp    = 8  // seconds, before `compose up` returns
	modelBitcoind     = 3  // seconds, before bitcoind answers RPC
	modelNodes        = 10 // seconds, before the nodes answer getinfo
	modelMining       = 1  // seconds, for the first 101 blocks
	// An order's hour in this run: expiry 3 × 40 s after payment, after
	// provisioning has finished.
	modelHour = 40
)

// modelledProvisioning runs one 8-node order, on its own installation,
// through stand-ins that wait as the real services do, and measures payment
// → provisioned and expiry → DeleteVM started.
func modelledProvisioning(t *testing.T) [][]string {
	d := newDeployment(t)
	d.api.ActionPolls = 1 << 30
	d.api.ActionTime = modelCreateAction
	base := t.TempDir()
	marker := filepath.Join(base, "ready")
	env := append(d.env, "LNPLAYLIVE_REMOTE_DIR="+filepath.Join(base, "orders"), "LNPLAYLIVE_READY_MARKER="+marker,
		"LNPLAYLIVE_HETZNER_POLL_MS=1000")
	s := newSystem(t, options{workerEnv: env, pluginOptions: map[string]any{"lnplaylive-dev-hour-seconds": modelHour}})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
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
		time.Sleep(time.Until(created.Add(modelCreateAction + modelBootToSSH)))
		m := d.machine(t, d.keys.For(id).Private)
		for _, f := range []string{
			fmt.Sprintf("sleep-before up %d", modelComposeUp),
			fmt.Sprintf("sleep-before getblockchaininfo %d", modelBitcoind),
			fmt.Sprintf("sleep-before generatetoaddress %d", modelMining),
			fmt.Sprintf("sleep-before getinfo %d", modelNodes),
		} {
			m.Fault(t, f)
		}
		time.Sleep(modelCloudInit)
		machineUp <- os.WriteFile(marker, nil, 0o600)
	}()
	st := s.waitStatus(id, 4*time.Minute, provisioned)
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
	return [][]string{
		{"payment → provisioned, 8 nodes, modelled", secs(toProvisioned), "", "", "",
			fmt.Sprintf("one order; create action %s, boot to sshd %s, cloud-init on a Docker-preloaded snapshot %s, compose up %d s, bitcoind %d s, 101 blocks %d s, nodes %d s (sum of waits %s)",
				modelCreateAction, modelBootToSSH, modelCloudInit, modelComposeUp, modelBitcoind, modelMining, modelNodes,
				modelCreateAction+modelBootToSSH+modelCloudInit+time.Duration(modelComposeUp+modelBitcoind+modelMining+modelNodes)*time.Second),
			"≤ 120 s"},
		{"expiry → DeleteVM started", ms(deleteAt.Sub(expiry)), "", "", "",
			fmt.Sprintf("vm_expiration_date %s (3 development hours of %d s after payment) → DELETE /servers at the stand-in", order.FormatTime(expiry), modelHour),
			"≤ 2 s"},
	}
}
