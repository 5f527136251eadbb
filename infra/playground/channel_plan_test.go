package playground

import (
	"testing"

	"github.com/lnplaylive/lnplaylive/order"
)

// liquidity is a playground's channels as balances: what each end can send.
type liquidity struct {
	n    int
	send map[[2]int]int64 // (from, to) → msat from can send to to
}

func newLiquidity(p Plan) *liquidity {
	l := &liquidity{n: p.Nodes, send: map[[2]int]int64{}}
	for _, c := range p.Channels {
		l.send[[2]int{c.From, c.To}] += c.Sat*1000 - c.PushMsat
		l.send[[2]int{c.To, c.From}] += c.PushMsat
	}
	return l
}

// pay routes msat from a to b over the fewest hops that can carry it, as a
// payment would, and moves the balances; it returns the hops, or -1.
func (l *liquidity) pay(a, b int, msat int64) int {
	prev := map[int]int{a: 0}
	queue := []int{a}
	for len(queue) > 0 && prev[b] == 0 && a != b {
		u := queue[0]
		queue = queue[1:]
		for v := 1; v <= l.n; v++ {
			if _, seen := prev[v]; !seen && l.send[[2]int{u, v}] >= msat {
				prev[v] = u
				queue = append(queue, v)
			}
		}
	}
	if _, ok := prev[b]; !ok {
		return -1
	}
	hops := 0
	for v := b; v != a; v = prev[v] {
		l.send[[2]int{prev[v], v}] -= msat
		l.send[[2]int{v, prev[v]}] += msat
		hops++
	}
	return hops
}

func TestDefaultTopologyLetsEveryNodePayEveryOtherWithinSixHops(t *testing.T) {
	for _, n := range []int{8, 16, 32, 64} {
		p, err := PlanFor("", n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Topology != order.TopologyMesh {
			t.Fatalf("default topology %s", p.Topology)
		}
		// Every ordered pair pays in turn, on one network whose balances
		// move with each payment: both directions, all of them.
		l := newLiquidity(p)
		worst := 0
		for a := 1; a <= n; a++ {
			for b := 1; b <= n; b++ {
				if a == b {
					continue
				}
				hops := l.pay(a, b, ProofSat*1000)
				if hops < 0 || hops > 6 {
					t.Fatalf("%d nodes: %d→%d takes %d hops", n, a, b, hops)
				}
				worst = max(worst, hops)
			}
		}
		for i := 1; i <= n; i++ {
			if left := FundingSat - p.Opened(i) - feeAllowanceSat; left < OnChainReserveSat {
				t.Fatalf("%d nodes: node %d keeps %d sat on-chain", n, i, left)
			}
		}
		if p.Diameter > 6 || p.Diameter < 1 || p.ProofFrom == p.ProofTo {
			t.Fatalf("%d nodes: diameter %d, proof %d→%d", n, p.Diameter, p.ProofFrom, p.ProofTo)
		}
		if fresh := newLiquidity(p).pay(p.ProofFrom, p.ProofTo, ProofSat*1000); fresh != p.Diameter {
			t.Fatalf("%d nodes: the proof pair is %d hops apart, the diameter is %d", n, fresh, p.Diameter)
		}
		seen := map[[2]int]bool{}
		for _, c := range p.Channels {
			k := [2]int{min(c.From, c.To), max(c.From, c.To)}
			if seen[k] || c.From == c.To {
				t.Fatalf("%d nodes: channel %d-%d planned twice", n, c.From, c.To)
			}
			seen[k] = true
		}
		t.Logf("%d nodes: %d channels, diameter %d (worst route under load %d hops)", n, len(p.Channels), p.Diameter, worst)
	}
}

func TestPrismIsTheOriginalsShapeWithinEachNodesFunds(t *testing.T) {
	for _, n := range []int{8, 16, 32, 64} {
		p, err := PlanFor(order.TopologyPrism, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Channels) != n-1 || p.Channels[0].From != 1 || p.Channels[0].To != 2 {
			t.Fatalf("%d nodes: %+v", n, p.Channels[:2])
		}
		for _, c := range p.Channels[1:] {
			if c.From != 2 {
				t.Fatalf("%d nodes: channel %+v is not from node 2", n, c)
			}
		}
		if left := FundingSat - p.Opened(2) - feeAllowanceSat; left < OnChainReserveSat {
			t.Fatalf("%d nodes: node 2 keeps %d sat", n, left)
		}
		if p.Diameter != 2 {
			t.Fatalf("%d nodes: diameter %d", n, p.Diameter)
		}
		// Any one payment routes (the default's every-pair promise is not
		// the prism's: node 2's channels are smaller at 32 and 64 nodes).
		for a := 1; a <= n; a++ {
			for b := 1; b <= n; b++ {
				if a != b && newLiquidity(p).pay(a, b, ProofSat*1000) < 0 {
					t.Fatalf("%d nodes: %d cannot pay %d", n, a, b)
				}
			}
		}
	}
}

func TestNoneHasNoChannelsAndUnknownTopologiesAreRefused(t *testing.T) {
	p, err := PlanFor(order.TopologyNone, 8)
	if err != nil || len(p.Channels) != 0 || p.ProofFrom != 0 {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := PlanFor("ring", 8); err == nil {
		t.Fatal("unknown topology planned")
	}
}
