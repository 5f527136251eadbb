package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// waitWarm waits until the pool holds want ready playgrounds.
func (s *system) waitWarm(t *testing.T, want int, timeout time.Duration) workflows.CapacityState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.capacityState()
		ready := 0
		for _, w := range st.Warm {
			if w.State == workflows.WarmReady {
				ready++
			}
		}
		if ready == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d warm playgrounds ready after %s, want %d: %+v (config %+v, leases %d)", ready, timeout, want, st.Warm, st.Config.Warm, len(st.Leases))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runesOn counts the runes each node of a project minted, on any host.
func (p pool) runesOn(t *testing.T, project string) []int {
	var out []int
	for _, h := range p.hosts {
		if n, ok := h.State(t).Nets[project]; ok {
			for i := 1; i <= len(n.Nodes); i++ {
				out = append(out, len(n.Nodes["cln-"+strconv.Itoa(i)].Runes))
			}
		}
	}
	return out
}

func deploymentOf(t *testing.T, st status) order.Deployment {
	t.Helper()
	var d order.Deployment
	if err := json.Unmarshal(st.DeploymentDetails, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// With LNPLAYLIVE_WARM=8:2 the pool builds two playgrounds before anyone
// orders, channels and all, with no rune on any node. A paid order claims
// one and is provisioned in seconds: one rune per node is minted then, for
// it. The pool refills to two; when the order ends its playground is
// destroyed, never handed on.
func TestAWarmPlaygroundIsClaimedInSecondsAndRefilled(t *testing.T) {
	p := newPool(t, 1, 3)
	s := newSystem(t, options{workerEnv: append(p.env, "LNPLAYLIVE_WARM=8:2")})
	st := s.waitWarm(t, 2, 180*time.Second)
	for _, w := range st.Warm {
		if runes := p.runesOn(t, "lnplaylive-"+w.ID); len(runes) != 8 || runes[0] != 0 {
			t.Fatalf("warm playground %s: runes per node %v; want 8 nodes and none", w.ID, runes)
		}
	}
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	paid := time.Now()
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	got := s.waitStatus(string(r.BOLT11InvoiceID), 30*time.Second, provisioned)
	took := time.Since(paid)
	t.Logf("payment → provisioned from the warm pool: %s", took)
	if took > 15*time.Second {
		t.Errorf("a warm order took %s; a cold one takes about as long", took)
	}
	d := deploymentOf(t, got)
	var claimed workflows.WarmPlayground
	for _, w := range s.capacityState().Warm {
		if w.ClaimedBy == string(r.BOLT11InvoiceID) {
			claimed = w
		}
	}
	if claimed.ID == "" || d.Nodes[0].ID != claimed.Nodes[0].ID || d.Nodes[0].WSPort != claimed.Nodes[0].WSPort {
		t.Fatalf("the order's nodes are not its claimed warm playground's: %+v vs %+v", d.Nodes[0], claimed)
	}
	for i, n := range d.Nodes {
		if n.Rune == "" || !strings.Contains(d.ConnectionStrings[i], n.Rune) {
			t.Fatalf("node %d has no rune in its link", i+1)
		}
	}
	if runes := p.runesOn(t, "lnplaylive-"+claimed.ID); len(runes) != 8 || slices.Max(runes) != 1 || slices.Min(runes) != 1 {
		t.Fatalf("runes per node after the claim: %v; want exactly one each", runes)
	}
	// Refilled: two ready again (the third slot), the claimed one apart.
	st = s.waitWarm(t, 2, 180*time.Second)
	if st.WarmStats.Claimed != 1 || st.WarmStats.Built != 3 {
		t.Fatalf("warm stats %+v; want 3 built, 1 claimed", st.WarmStats)
	}
	recordHistory(t, s, workflows.CapacityWorkflowID(s.taskQueue), "capacity_warm_pool")
	recordHistory(t, s, workflows.WarmWorkflowID(claimed.ID), "warm_playground_claimed")
	recordHistory(t, s, r.BOLT11InvoiceID.WorkflowID(), "order_warm_claimed")
	if out, err := s.cli("", "orders", "teardown", string(r.BOLT11InvoiceID), "--yes"); err != nil {
		t.Fatalf("teardown: %v: %s", err, out)
	}
	s.waitStatus(string(r.BOLT11InvoiceID), 60*time.Second, func(st status) bool { return strings.Contains(string(st.DeploymentDetails), `"expired"`) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, up := p.projects(t)["lnplaylive-"+claimed.ID]
		st := s.capacityState()
		gone := true
		for _, w := range st.Warm {
			gone = gone && w.ID != claimed.ID
		}
		for _, l := range st.Leases {
			gone = gone && l.OrderID != claimed.ID
		}
		if !up && gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the used playground is still up (%v) or held: %+v", up, st)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The worker is killed while an order mints its runes on the warm
// playground it claimed. After the restart the order gets that same
// playground (exactly one, one rune per node), and the pool loses none:
// it still refills to K.
func TestWorkerKilledMidClaimGivesOnePlaygroundAndLosesNone(t *testing.T) {
	p := newPool(t, 1, 3)
	s := newSystem(t, options{workerEnv: append(p.env, "LNPLAYLIVE_WARM=8:1")})
	s.waitWarm(t, 1, 180*time.Second)
	p.hosts[0].Fault(t, "sleep-before createrune 3")
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(s.status(string(r.BOLT11InvoiceID)).DeploymentDetails), `"creating_runes"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the claim did not start: %s", s.status(string(r.BOLT11InvoiceID)).DeploymentDetails)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.worker.signal(syscall.SIGKILL)
	s.worker.start()
	got := s.waitStatus(string(r.BOLT11InvoiceID), 120*time.Second, provisioned)
	st := s.capacityState()
	var mine []workflows.WarmPlayground
	for _, w := range st.Warm {
		if w.ClaimedBy == string(r.BOLT11InvoiceID) {
			mine = append(mine, w)
		}
	}
	if len(mine) != 1 || deploymentOf(t, got).Nodes[0].ID != mine[0].Nodes[0].ID {
		t.Fatalf("the order holds %d warm playgrounds: %+v", len(mine), mine)
	}
	if runes := p.runesOn(t, "lnplaylive-"+mine[0].ID); slices.Max(runes) != 1 || slices.Min(runes) != 1 {
		t.Fatalf("runes per node: %v; a retried claim minted a second one", runes)
	}
	st = s.waitWarm(t, 1, 180*time.Second)
	if st.WarmStats.Claimed != 1 || st.WarmStats.Built != 2 {
		t.Fatalf("warm stats %+v", st.WarmStats)
	}
}

// A warm playground whose workflow was terminated by hand is an orphan:
// the pool no longer holds it. The sweeper takes its project down and
// frees its slot, the pool forgets it, and builds a fresh one in its
// place; nothing is handed to an order from the orphan.
func TestAnOrphanedWarmPlaygroundIsSweptAndReplaced(t *testing.T) {
	p := newPool(t, 1, 2)
	s := newSystem(t, options{workerEnv: append(p.env, "LNPLAYLIVE_WARM=8:1")})
	orphan := s.waitWarm(t, 1, 180*time.Second).Warm[0].ID
	if err := s.client().TerminateWorkflow(context.Background(), workflows.WarmWorkflowID(orphan), "", "operator mistake"); err != nil {
		t.Fatal(err)
	}
	if out, err := s.cli("", "sweep", "now"); err != nil {
		t.Fatalf("sweep now: %v: %s", err, out)
	}
	deadline := time.Now().Add(180 * time.Second)
	for {
		st := s.capacityState()
		_, up := p.projects(t)["lnplaylive-"+orphan]
		held := slices.ContainsFunc(st.Warm, func(w workflows.WarmPlayground) bool { return w.ID == orphan }) ||
			slices.ContainsFunc(st.Leases, func(l workflows.SlotLease) bool { return l.OrderID == orphan })
		ready := slices.ContainsFunc(st.Warm, func(w workflows.WarmPlayground) bool { return w.State == workflows.WarmReady })
		if !up && !held && ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the sweep: orphan up %v, held %v, a fresh one ready %v: %+v", up, held, ready, st.Warm)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Two warm playgrounds, four slots, and 20 customers who all pay at once:
// four orders run (the two warm playgrounds, and two more from the free
// slots), each warm playground claimed by exactly one order, the other 16
// orders wait in line; no slot is ever shared.
func TestTwentyConcurrentPaymentsClaimEachWarmPlaygroundOnce(t *testing.T) {
	p := newPool(t, 1, 4)
	s := newSystem(t, options{workerEnv: append(p.env, "LNPLAYLIVE_WARM=8:2")})
	warmIDs := map[string]bool{}
	for _, w := range s.waitWarm(t, 2, 180*time.Second).Warm {
		warmIDs[w.ID] = true
	}
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = string(s.createOrder(map[string]any{"node_count": 8, "hours": 3}).BOLT11InvoiceID) })
	}
	wg.Wait()
	for _, id := range ids {
		wg.Go(func() {
			if err := s.node.Pay("lnplaylive-" + id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(180 * time.Second)
	for {
		running, queued := 0, 0
		for _, id := range ids {
			st := s.status(id)
			switch {
			case provisioned(st):
				running++
			case queuedAt(st) > 0:
				queued++
			}
		}
		if running == 4 && queued == 16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d provisioned, %d queued; want 4 and 16", running, queued)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Each playground claimed by one order, each order holding at most
	// one; the two built before the payments among them. (The refill may
	// take the free slots before the others queue, and then serve the
	// queue warm: that is the pool working, not a second claim.)
	byOrder := map[string]string{}
	for _, w := range s.capacityState().Warm {
		if w.State != workflows.WarmClaimed {
			continue
		}
		if other, dup := byOrder[w.ClaimedBy]; dup {
			t.Fatalf("order %s holds %s and %s", w.ClaimedBy, other, w.ID)
		}
		byOrder[w.ClaimedBy] = w.ID
		delete(warmIDs, w.ID)
	}
	if len(warmIDs) != 0 || len(byOrder) < 2 {
		t.Fatalf("warm claims %v; the first two playgrounds unclaimed: %v", byOrder, warmIDs)
	}
	used := map[string]string{}
	for _, id := range ids {
		st := s.status(id)
		if !provisioned(st) {
			continue
		}
		host, base := slotOf(t, st)
		key := fmt.Sprintf("%s/%d", host, base)
		if other, dup := used[key]; dup {
			t.Fatalf("orders %s and %s share slot %s", other, id, key)
		}
		used[key] = id
	}
	if n := len(p.projects(t)); n != 4 {
		t.Fatalf("%d projects up on a 4-slot pool", n)
	}
}
