package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/internal/testworld/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
	"github.com/lnplaylive/lnplaylive/ops"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// pool is a host pool of real sshd "hosts" on loopback (127.0.0.1,
// 127.0.0.2, …), each with the recorded container-runtime double, and the
// worker environment that deploys on it.
type pool struct {
	hosts []*playgroundtest.Machine
	env   []string
}

// newPool starts n hosts with `slots` slots each; slot k of a host has port
// base 10000+100k and room for 8 nodes.
func newPool(t *testing.T, n, slots int) pool {
	t.Helper()
	opPriv, operator := sshdtest.NewKey(t)
	block, err := ssh.MarshalPrivateKey(opPriv, "operator")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	var p pool
	var file strings.Builder
	file.WriteString("hosts:\n")
	for i := range n {
		hostKey, hostSigner := sshdtest.NewKey(t)
		m := playgroundtest.StartAt(t, hostKey, operator.PublicKey(), fmt.Sprintf("127.0.0.%d", i+1), 0)
		p.hosts = append(p.hosts, m)
		// The pin is given as a known_hosts line, as an operator would
		// copy it from ~/.ssh/known_hosts.
		known := fmt.Sprintf("[%s]:%d %s", m.SSHD.Listen, m.SSHD.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))))
		fmt.Fprintf(&file, "  - name: host%d\n    address: %s\n    ssh_port: %d\n    user: %s\n    host_key: %q\n    dir: %s\n    slots:\n",
			i+1, m.SSHD.Listen, m.SSHD.Port, u.Username, known, m.RemoteDir)
		for k := range slots {
			fmt.Fprintf(&file, "      - {name: s%d, port_base: %d, p2p_port_base: %d, max_nodes: 8}\n", k+1, 10000+100*k, 20000+100*k)
		}
	}
	poolFile := filepath.Join(dir, "pool.yaml")
	if err := os.WriteFile(poolFile, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// HCLOUD_TOKEN is set too: LNPLAYLIVE_PROVIDER decides.
	p.env = []string{"LNPLAYLIVE_PROVIDER=hosts", "LNPLAYLIVE_HOSTS_FILE=" + poolFile, "HCLOUD_TOKEN=not-used",
		"LNPLAYLIVE_SSH_KEY_FILE=" + keyFile}
	return p
}

// projects lists the Compose projects up on each host.
func (p pool) projects(t *testing.T) map[string]int {
	out := map[string]int{}
	for i, h := range p.hosts {
		for name, up := range h.State(t).Projects {
			if up {
				out[name] = i
			}
		}
	}
	return out
}

func (s *system) capacityState() workflows.CapacityState {
	s.t.Helper()
	c := capacity.Client{Temporal: s.client(), TaskQueue: s.taskQueue, DataConverter: s.dataConverter()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.State(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

func provisioned(st status) bool {
	return strings.Contains(string(st.DeploymentDetails), `"provisioned"`) || strings.Contains(string(st.DeploymentDetails), `"failed"`)
}

// slotOf returns the host address and port base an order's connection
// strings point at.
func slotOf(t *testing.T, d status) (string, int) {
	t.Helper()
	dep := d.deployment(t)
	if dep.Status != "provisioned" || len(dep.ConnectionStrings) == 0 {
		t.Fatalf("not provisioned: %s (%s)", dep.Status, dep.Error)
	}
	c := dep.ConnectionStrings[0]
	at := strings.Index(c, "@")
	amp := strings.Index(c, "&")
	host, port, ok := strings.Cut(c[at+1:amp], ":")
	if at < 0 || amp < at || !ok {
		t.Fatalf("connection string without host:port")
	}
	var p int
	fmt.Sscan(port, &p)
	return host, p - 1
}

// queuedAt is the place of a paid order waiting for capacity (0: not
// queued).
func queuedAt(st status) int {
	var d struct {
		Progress *order.Progress `json:"progress"`
	}
	if json.Unmarshal(st.DeploymentDetails, &d) != nil || d.Progress == nil || d.Progress.Step != order.StepQueued {
		return 0
	}
	return d.Progress.Position
}

// 20 customers order at once from a pool of 6 slots, and all pay at once.
// Every one gets an invoice (capacity is taken at payment, not by an
// invoice); 6 are admitted and provisioned on 6 different slots, the other
// 14 wait in line, each with its own place. While 10 or more paid orders
// wait, new customers are refused before any invoice. When a playground
// ends, the first in line gets its slot and everyone behind moves up.
func TestConcurrentPaymentsNeverShareASlotAndQueueInOrder(t *testing.T) {
	p := newPool(t, 2, 3)
	s := newSystem(t, options{workerEnv: p.env})
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = string(s.createOrder(map[string]any{"node_count": 8, "hours": 3}).BOLT11InvoiceID) })
	}
	wg.Wait()
	if n := len(s.node.Invoices()); n != 20 {
		t.Fatalf("%d invoices for 20 orders", n)
	}
	for _, id := range ids {
		wg.Go(func() {
			if err := s.node.Pay("lnplaylive-" + id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Settled: 6 provisioned, 14 queued at places 1..14.
	var running []string
	place := map[int]string{}
	deadline := time.Now().Add(180 * time.Second)
	for {
		running, place = nil, map[int]string{}
		for _, id := range ids {
			st := s.status(id)
			if provisioned(st) {
				running = append(running, id)
			} else if q := queuedAt(st); q > 0 {
				place[q] = id
			}
		}
		if len(running) == 6 && len(place) == 14 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d provisioned, places %v", len(running), place)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for q := 1; q <= 14; q++ {
		if place[q] == "" {
			t.Fatalf("no order at place %d: %v", q, place)
		}
	}
	used := map[string]string{}
	for _, id := range running {
		host, base := slotOf(t, s.status(id))
		key := fmt.Sprintf("%s/%d", host, base)
		if other, dup := used[key]; dup {
			t.Fatalf("orders %s and %s share slot %s", other, id, key)
		}
		used[key] = id
	}
	if got := p.projects(t); len(got) != 6 {
		t.Fatalf("%d projects up on the hosts, want 6: %v", len(got), got)
	}
	st := s.capacityState()
	if len(st.Leases) != 6 || st.Free(8) != 0 || len(st.Queue) != 14 {
		t.Fatalf("capacity workflow: %d leases, %d free, %d queued", len(st.Leases), st.Free(8), len(st.Queue))
	}
	// The queue is long: new customers are told before paying.
	_, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3})
	if rerr == nil || !strings.Contains(rerr.Message, "14 paid orders are waiting") {
		t.Fatalf("createorder with 14 paid orders waiting: %v", rerr)
	}

	freed := running[0]
	host, base := slotOf(t, s.status(freed))
	if out, err := s.cli("", "orders", "teardown", freed, "--yes"); err != nil {
		t.Fatalf("teardown: %v: %s", err, out)
	}
	first := s.waitStatus(place[1], 120*time.Second, provisioned)
	if h, b := slotOf(t, first); h != host || b != base {
		t.Fatalf("the first in line got %s:%d, want the freed slot %s:%d", h, b, host, base)
	}
	for q := 2; q <= 14; q++ {
		s.waitStatus(place[q], 30*time.Second, func(st status) bool { return queuedAt(st) == q-1 })
	}
	if got := p.projects(t); len(got) != 6 {
		t.Fatalf("%d projects up after the hand-over, want 6: %v", len(got), got)
	}
}

// A one-slot pool: a second customer pays while the first playground runs.
// It waits in line (first, with the first order's end as its estimate);
// when the paid time is over the playground is taken down (volumes too)
// and the waiting order gets the same slot.
func TestExpiryFreesTheSlotForTheNextOrder(t *testing.T) {
	p := newPool(t, 1, 1)
	s := newSystem(t, options{workerEnv: p.env, pluginOptions: map[string]any{"lnplaylive-dev-hour-seconds": 8}})
	first := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	// The paid clock runs in the queue too: 20 hours (160 s) leave the
	// next order time to be served after the first's 24 s.
	next := s.createOrder(map[string]any{"node_count": 8, "hours": 20})
	if err := s.node.Pay("lnplaylive-" + string(first.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	st := s.waitStatus(string(first.BOLT11InvoiceID), 60*time.Second, provisioned)
	host1, base1 := slotOf(t, st)
	d1 := deploymentOf(t, st)
	project := "lnplaylive-" + string(first.BOLT11InvoiceID)
	if _, up := p.projects(t)[project]; !up {
		t.Fatalf("project %s is not up", project)
	}
	if err := s.node.Pay("lnplaylive-" + string(next.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	dq := deploymentOf(t, s.waitStatus(string(next.BOLT11InvoiceID), 10*time.Second, func(st status) bool { return queuedAt(st) == 1 }))
	if dq.Progress.EstimatedStart != d1.VMExpirationDate {
		t.Fatalf("estimated start %q; want the running order's end %s", dq.Progress.EstimatedStart, d1.VMExpirationDate)
	}
	// 3 development hours of 8 s: expiry, then `down -v`.
	s.waitStatus(string(first.BOLT11InvoiceID), 60*time.Second, func(st status) bool {
		return strings.Contains(string(st.DeploymentDetails), `"expired"`)
	})
	downs := 0
	for _, c := range p.hosts[0].Calls(t) {
		if strings.Join(c, " ") == "compose -p "+project+" down -v --remove-orphans" {
			downs++
		}
	}
	if downs == 0 {
		t.Fatal("the project was not taken down with its volumes")
	}
	if _, err := os.Stat(filepath.Join(p.hosts[0].RemoteDir, string(first.BOLT11InvoiceID))); !os.IsNotExist(err) {
		t.Fatalf("the order's files are still on the host: %v", err)
	}
	st = s.waitStatus(string(next.BOLT11InvoiceID), 60*time.Second, provisioned)
	time.Sleep(time.Second) // the workflow task that published it completes
	recordHistory(t, s, next.BOLT11InvoiceID.WorkflowID(), "order_queued_admitted")
	// The first order's whole life, provisioned storing each fact once
	// (the nodes-once version) and ended.
	recordHistory(t, s, first.BOLT11InvoiceID.WorkflowID(), "order_provisioned_nodes_once")
	host2, base2 := slotOf(t, st)
	if host1 != host2 || base1 != base2 {
		t.Fatalf("next order on %s:%d, want the freed slot %s:%d", host2, base2, host1, base1)
	}
}

// The worker is killed while an order holds its slot, mid-bootstrap. The
// lease lives in Temporal: after the restart the order finishes on the same
// slot, and tearing it down frees the slot for the next order.
func TestWorkerKilledHoldingALeaseLeaksNoSlot(t *testing.T) {
	p := newPool(t, 1, 1)
	s := newSystem(t, options{workerEnv: p.env})
	p.hosts[0].Fault(t, "sleep-before getinfo 4")
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	id := string(r.BOLT11InvoiceID)
	if err := s.node.Pay("lnplaylive-" + id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(s.status(id).DeploymentDetails), "waiting_for_nodes") {
		if time.Now().After(deadline) {
			t.Fatalf("bootstrap did not start: %s", s.status(id).DeploymentDetails)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.worker.signal(syscall.SIGKILL)
	s.worker.start()
	st := s.waitStatus(id, 120*time.Second, provisioned)
	slotOf(t, st)
	leases := s.capacityState().Leases
	if len(leases) != 1 || leases[0].OrderID != id || !leases[0].Held() {
		t.Fatalf("leases after the restart: %+v", leases)
	}
	if out, err := s.cli("", "orders", "teardown", id, "--yes"); err != nil {
		t.Fatalf("teardown: %v: %s", err, out)
	}
	s.waitStatus(id, 60*time.Second, func(st status) bool { return strings.Contains(string(st.DeploymentDetails), `"expired"`) })
	if l := s.capacityState().Leases; len(l) != 0 {
		t.Fatalf("slot still leased after teardown: %+v", l)
	}
	next := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if next.BOLT11InvoiceID == "" {
		t.Fatal("no order after the slot was freed")
	}
}

// An operator issues an order from the CLI with no invoice: it runs on the
// pool (taking its only slot, so a second operator order is refused), is marked
// operator-issued in its status and search attributes, and tears down like
// any other. The sweeper removes a project no order owns.
func TestOperatorIssuedOrderRunsFromTheCLIToTeardown(t *testing.T) {
	p := newPool(t, 1, 1)
	s := newSystem(t, options{workerEnv: p.env})
	out, err := s.cli("", "orders", "create", "--nodes", "8", "--hours", "3", "--reason", "bitcoin++ workshop", "--by", "alice", "--json")
	if err != nil {
		t.Fatalf("orders create: %v: %s", err, out)
	}
	var created struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.OrderID == "" {
		t.Fatalf("orders create printed %q", out)
	}
	id := created.OrderID
	if out, err := s.cli("", "orders", "create", "--nodes", "8", "--hours", "3", "--reason", "again"); err == nil || !strings.Contains(out, "no capacity") {
		t.Fatalf("a second operator order on a full pool: %v: %s", err, out)
	}
	// A customer still gets an invoice: capacity is taken at payment.
	if _, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3}); rerr != nil {
		t.Fatalf("customer order while the operator's holds the slot: %v", rerr)
	}
	var st workflows.State
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := s.cli("", "orders", "show", id, "--json")
		if err != nil {
			t.Fatalf("orders show: %v: %s", err, out)
		}
		st = workflows.State{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		if st.Deployment != nil && (st.Deployment.Status == "provisioned" || st.Deployment.Status == "failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("operator order not provisioned: %s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if st.Deployment.Status != "provisioned" || len(st.Deployment.ConnectionStrings) != 8 || st.Issued == nil ||
		st.Issued.Reason != "bitcoin++ workshop" || st.Issued.By != "alice" || st.InvoiceStatus != "paid" {
		t.Fatalf("operator order: %+v", st)
	}
	// The customer's unpaid order is listed too; the operator's is marked.
	deadline = time.Now().Add(20 * time.Second)
	for listed := false; !listed; time.Sleep(200 * time.Millisecond) {
		out, err := s.cli("", "orders", "list", "--json")
		if err != nil {
			t.Fatalf("orders list: %v: %s", err, out)
		}
		var rows []ops.Row
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		listed = slices.ContainsFunc(rows, func(r ops.Row) bool { return r.ID == id && r.Source == workflows.SourceOperator })
		if !listed && time.Now().After(deadline) {
			t.Fatalf("operator order not listed as operator-issued: %s", out)
		}
	}

	// A project left on a host with no order behind it (a hand-made one,
	// or one from a lost database) is found and removed by the sweeper.
	stray := "lnplaylive-3f1e6c52-4d8e-4f7a-9a53-2f0f8a0e5d11"
	statePath := filepath.Join(p.hosts[0].StateDir, "state.json")
	raw, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var double map[string]any
	if err := json.Unmarshal(raw, &double); err != nil {
		t.Fatal(err)
	}
	double["projects"].(map[string]any)[stray] = true
	raw, _ = json.Marshal(double)
	if err := os.WriteFile(statePath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.cli("", "sweep", "now"); err != nil {
		t.Fatalf("sweep now: %v: %s", err, out)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		projects := p.projects(t)
		_, strayUp := projects[stray]
		_, ownUp := projects["lnplaylive-"+id]
		if !ownUp {
			t.Fatal("the sweeper removed a live order's playground")
		}
		if !strayUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stray project not swept: %v", projects)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if out, err := s.cli("", "orders", "teardown", id, "--yes"); err != nil {
		t.Fatalf("teardown: %v: %s", err, out)
	}
	deadline = time.Now().Add(60 * time.Second)
	for len(p.projects(t)) != 0 || len(s.capacityState().Leases) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after teardown: projects %v, leases %+v", p.projects(t), s.capacityState().Leases)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.createOrder(map[string]any{"node_count": 8, "hours": 3}) // the slot is free again
}

// With no provider configured the worker says so, and createorder refuses
// before creating any invoice.
func TestNoProviderRefusesOrdersBeforeAnyInvoice(t *testing.T) {
	s := newSystem(t, options{noProvider: true})
	_, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3})
	if rerr == nil || !strings.Contains(rerr.Message, "no capacity configured") {
		t.Fatalf("createorder with no provider: %v", rerr)
	}
	if n := len(s.node.Invoices()); n != 0 {
		t.Fatalf("%d invoices created", n)
	}
	if !strings.Contains(s.worker.out.String(), "NO CAPACITY CONFIGURED") {
		t.Fatal("the worker did not say plainly that no capacity is configured")
	}
	if out, err := s.cli("", "orders", "create", "--nodes", "8", "--hours", "3", "--reason", "test"); err == nil || !strings.Contains(out, "no capacity configured") {
		t.Fatalf("operator order with no provider: %v: %s", err, out)
	}
}

// An order's workflow terminated by hand leaves its lease held and its
// playground up; the sweeper finds the lease's order gone, takes the
// project down and frees the slot.
func TestSweeperReleasesTheSlotOfATerminatedOrder(t *testing.T) {
	p := newPool(t, 1, 1)
	s := newSystem(t, options{workerEnv: p.env})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	id := string(r.BOLT11InvoiceID)
	if err := s.node.Pay("lnplaylive-" + id); err != nil {
		t.Fatal(err)
	}
	slotOf(t, s.waitStatus(id, 60*time.Second, provisioned))
	if err := s.client().TerminateWorkflow(context.Background(), "lnplaylive-"+id, "", "operator mistake"); err != nil {
		t.Fatal(err)
	}
	if l := s.capacityState().Leases; len(l) != 1 {
		t.Fatalf("leases after the terminate: %+v", l)
	}
	if out, err := s.cli("", "sweep", "now"); err != nil {
		t.Fatalf("sweep now: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(s.capacityState().Leases) != 0 || len(p.projects(t)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the sweep: leases %+v, projects %v", s.capacityState().Leases, p.projects(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.createOrder(map[string]any{"node_count": 8, "hours": 3}) // the slot is free again
}
