package playground

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/order"
)

// nodeOptions are the playground nodes' developer options (compose.go).
var nodeOptions = []string{"--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1"}

// waitFor polls cond every 200 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The default topology, opened as the bootstrap opens it, on real
// lightningd v25.12.1 nodes with the playground's developer options: one
// multifundchannel per node, six blocks, lock-in, gossip, and the routing
// proof between the two nodes farthest apart. Its phase times are what
// make bench's modelled provisioning uses.
func TestMeshOnRealCoreLightning(t *testing.T) {
	const n = 8
	nodes := realcln.StartNet(t, n, nodeOptions...)
	plan, err := PlanFor(order.TopologyMesh, n)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, nd := range nodes {
		ids[i] = nd.ID(t)
	}
	phase := time.Now()
	lap := func(name string) {
		t.Logf("%-28s %s", name, time.Since(phase).Round(10*time.Millisecond))
		phase = time.Now()
	}

	// Funding, as bitcoind's sendmany would: 1 BTC to each node's bech32
	// address (asked for by name), one block.
	var defaultAddr map[string]string
	if err := nodes[0].Get(&defaultAddr, "newaddr"); err != nil {
		t.Fatal(err)
	}
	t.Logf("newaddr without addresstype returns %v", keys(defaultAddr))
	for _, nd := range nodes {
		var a struct {
			Bech32 string `json:"bech32"`
		}
		if err := nd.Get(&a, "newaddr", "addresstype=bech32"); err != nil || a.Bech32 == "" {
			t.Fatalf("newaddr addresstype=bech32: %v", err)
		}
		if _, err := nd.Bitcoin("faucet", a.Bech32, "1"); err != nil {
			t.Fatal(err)
		}
	}
	// Blocks pay nobody here (the stand-in's OP_TRUE), as the playground's
	// miner pays bitcoind's wallet, not a node.
	if _, err := nodes[0].Bitcoin("generatetoaddress", "1"); err != nil {
		t.Fatal(err)
	}
	for i, nd := range nodes {
		waitFor(t, 30*time.Second, fmt.Sprintf("node %d sees its funds", i+1), func() bool {
			var f struct {
				Outputs []struct {
					Status string `json:"status"`
				} `json:"outputs"`
			}
			if nd.Get(&f, "listfunds") != nil {
				return false
			}
			for _, o := range f.Outputs {
				if o.Status == "confirmed" {
					return true
				}
			}
			return false
		})
	}
	lap("funding seen")

	// One multifundchannel per opener, all at once.
	dests := map[int][]map[string]any{}
	for _, c := range plan.Channels {
		dests[c.From] = append(dests[c.From], map[string]any{"id": fmt.Sprintf("%s@127.0.0.1:%d", ids[c.To-1], nodes[c.To-1].Port),
			"amount": c.Sat, "push_msat": c.PushMsat})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for from, d := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(d)
			if _, err := nodes[from-1].Call("multifundchannel", "destinations="+string(b)); err != nil {
				errs <- fmt.Errorf("node %d: %w", from, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lap("multifundchannel (parallel)")

	if _, err := nodes[0].Bitcoin("generatetoaddress", "6"); err != nil {
		t.Fatal(err)
	}
	for i, nd := range nodes {
		want := 0
		for _, c := range plan.Channels {
			if c.From == i+1 || c.To == i+1 {
				want++
			}
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("node %d's %d channels normal", i+1, want), func() bool {
			var pc struct {
				Channels []struct {
					State string `json:"state"`
				} `json:"channels"`
			}
			if nd.Get(&pc, "listpeerchannels") != nil {
				return false
			}
			normal := 0
			for _, c := range pc.Channels {
				if c.State == "CHANNELD_NORMAL" {
					normal++
				}
			}
			return normal >= want
		})
	}
	lap("6 blocks, all CHANNELD_NORMAL")

	for i, nd := range nodes {
		waitFor(t, 120*time.Second, fmt.Sprintf("node %d knows every channel", i+1), func() bool {
			var lc struct {
				Channels []struct {
					Active bool `json:"active"`
				} `json:"channels"`
			}
			if nd.Get(&lc, "listchannels") != nil {
				return false
			}
			active := 0
			for _, c := range lc.Channels {
				if c.Active {
					active++
				}
			}
			return active >= 2*len(plan.Channels)
		})
	}
	lap("gossip: every node, every channel")

	var inv struct {
		Bolt11 string `json:"bolt11"`
	}
	if err := nodes[plan.ProofTo-1].Get(&inv, "invoice", fmt.Sprintf("amount_msat=%d", ProofSat*1000), "label=lnplaylive-route-check", "description=check"); err != nil {
		t.Fatal(err)
	}
	var paid struct {
		Status string `json:"status"`
	}
	if err := nodes[plan.ProofFrom-1].Get(&paid, "pay", "bolt11="+inv.Bolt11); err != nil || paid.Status != "complete" {
		t.Fatalf("the proof %d→%d: %v %+v", plan.ProofFrom, plan.ProofTo, err, paid)
	}
	lap(fmt.Sprintf("proof %d→%d (%d hops)", plan.ProofFrom, plan.ProofTo, plan.Diameter))
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
