package playground

import (
	"fmt"

	"github.com/lnplaylive/lnplaylive/order"
)

// Channel amounts of SPEC §5. Each node is funded with FundingSat on-chain;
// a channel is opened with ChannelSat and half of it pushed to the far
// side, so that both ends can pay from the start.
const (
	FundingSat = 100_000_000 // 1 BTC
	ChannelSat = 10_000_000  // the original system's channel size
	// OnChainReserveSat is what every node keeps on-chain after opening
	// its channels, to open more during the workshop.
	OnChainReserveSat = 50_000_000
	// ProofSat is the routing proof's payment, and what every node must be
	// able to pay every other one.
	ProofSat = 10_000
	// feeAllowanceSat covers the funding transactions' fees.
	feeAllowanceSat = 100_000
	minChannelSat   = 100_000
)

// Channel is one channel to open: From funds it, Push goes to To.
type Channel struct {
	From, To int // node indexes, 1-based
	Sat      int64
	PushMsat int64
}

// Plan is the channels of one playground, and the pair of nodes the
// bootstrap proves routing between: two nodes that are farthest apart.
type Plan struct {
	Topology order.Topology
	Nodes    int
	Channels []Channel
	// ProofFrom pays ProofTo ProofSat before the order is provisioned;
	// zero when there are no channels.
	ProofFrom, ProofTo int
	// Diameter is the most hops any payment needs.
	Diameter int
}

// PlanFor lays out the channels of a topology for n nodes.
//
//   - mesh: a ring (i→i+1) plus one shortcut from every node (i→i+s), the
//     circulant graph C_n(1, s) with the s that gives the smallest diameter
//     (2 for 8 nodes, 3 for 16, 4 for 32, 6 for 64). Every node opens two
//     channels of 0.1 BTC and keeps about 0.8 BTC on-chain.
//   - prism: the original's 1→2, then 2→3, 2→4, …, 2→n. Node 2 opens n-2
//     channels, so they are sized to leave it half its funds on-chain.
//   - none: no channels.
func PlanFor(topology order.Topology, n int) (Plan, error) {
	if n < 2 {
		return Plan{}, fmt.Errorf("playground: %d nodes cannot have channels", n)
	}
	p := Plan{Topology: topology.OrDefault(), Nodes: n}
	switch p.Topology {
	case order.TopologyMesh:
		s := bestShortcut(n)
		for i := 1; i <= n; i++ {
			p.add(i, ring(i+1, n), ChannelSat)
			if s > 1 {
				p.add(i, ring(i+s, n), ChannelSat)
			}
		}
	case order.TopologyPrism:
		p.add(1, 2, ChannelSat)
		size := min(ChannelSat, (FundingSat-OnChainReserveSat-feeAllowanceSat)/int64(max(1, n-2)))
		size -= size % 10_000
		if size < minChannelSat {
			return Plan{}, fmt.Errorf("playground: a prism of %d nodes leaves %d sat channels", n, size)
		}
		for j := 3; j <= n; j++ {
			p.add(2, j, size)
		}
	case order.TopologyNone:
		return p, nil
	default:
		return Plan{}, fmt.Errorf("playground: unknown topology %q", topology)
	}
	dist := p.hops()
	for i := 1; i <= n; i++ {
		for j := 1; j <= n; j++ {
			if dist[i][j] > p.Diameter {
				p.Diameter, p.ProofFrom, p.ProofTo = dist[i][j], i, j
			}
		}
	}
	return p, nil
}

func (p *Plan) add(from, to int, sat int64) {
	p.Channels = append(p.Channels, Channel{From: from, To: to, Sat: sat, PushMsat: sat / 2 * 1000})
}

// ring maps i onto 1..n.
func ring(i, n int) int { return (i-1)%n + 1 }

// bestShortcut is the s in 2..n/2-1 whose circulant C_n(1, s) has the
// smallest diameter (the smallest such s on ties); 1 when n is too small
// for a shortcut that is not a ring edge.
func bestShortcut(n int) int {
	best, bestDiameter := 1, n
	for s := 2; s < (n+1)/2; s++ {
		p := Plan{Nodes: n}
		for i := 1; i <= n; i++ {
			p.add(i, ring(i+1, n), 1)
			p.add(i, ring(i+s, n), 1)
		}
		d := 0
		for _, row := range p.hops() {
			for _, h := range row {
				d = max(d, h)
			}
		}
		if d < bestDiameter {
			best, bestDiameter = s, d
		}
	}
	return best
}

// hops is the fewest channels between every two nodes (1-based; a huge
// number where there is no path). Channels carry payments both ways.
func (p Plan) hops() [][]int {
	adj := make([][]int, p.Nodes+1)
	for _, c := range p.Channels {
		adj[c.From] = append(adj[c.From], c.To)
		adj[c.To] = append(adj[c.To], c.From)
	}
	dist := make([][]int, p.Nodes+1)
	for s := 1; s <= p.Nodes; s++ {
		d := make([]int, p.Nodes+1)
		for i := range d {
			d[i] = 1 << 30
		}
		d[s] = 0
		queue := []int{s}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, v := range adj[u] {
				if d[v] > d[u]+1 {
					d[v] = d[u] + 1
					queue = append(queue, v)
				}
			}
		}
		d[0] = 0
		dist[s] = d
	}
	dist[0] = make([]int, p.Nodes+1)
	return dist
}

// Opened is the sat a node puts into the channels it opens.
func (p Plan) Opened(node int) int64 {
	var sum int64
	for _, c := range p.Channels {
		if c.From == node {
			sum += c.Sat
		}
	}
	return sum
}

// Ends is how many channels the plan gives each node, either end: what a
// node's listpeerchannels holds once the playground is up.
func (p Plan) Ends() map[int]int {
	ends := make(map[int]int, p.Nodes)
	for i := 1; i <= p.Nodes; i++ {
		ends[i] = 0
	}
	for _, c := range p.Channels {
		ends[c.From]++
		ends[c.To]++
	}
	return ends
}
