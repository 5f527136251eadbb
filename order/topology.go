package order

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Topology is the shape of the channels a playground is delivered with
// (SPEC §5). It is chosen at checkout and recorded in the invoice
// description, so an order rebuilt from lightningd alone gets the same one.
type Topology string

const (
	// TopologyMesh, the default: a ring with a shortcut from every node,
	// so that every node reaches every other one in at most six hops.
	TopologyMesh Topology = "mesh"
	// TopologyPrism is the original system's: 1→2, then 2→every other node.
	TopologyPrism Topology = "prism"
	// TopologyNone: funded, connected nodes and no channels, for workshops
	// that open their own.
	TopologyNone Topology = "none"
)

// DefaultTopology is what an order without a topology gets.
const DefaultTopology = TopologyMesh

// Topologies lists what createorder accepts, the default first.
var Topologies = []Topology{TopologyMesh, TopologyPrism, TopologyNone}

// Summary is the topology in one line, for a buyer choosing one.
func (t Topology) Summary() string {
	switch t.OrDefault() {
	case TopologyMesh:
		return "A ring with a shortcut from every node: everyone can pay everyone, in a few hops, in both directions."
	case TopologyPrism:
		return "Node 1 to node 2, then node 2 to every other node: at most two hops, and node 2 routes everything."
	case TopologyNone:
		return "Funded, connected nodes and no channels: the workshop opens its own."
	}
	return ""
}

// OrDefault maps the empty topology (orders from before topologies
// existed, and requests without one) to the default.
func (t Topology) OrDefault() Topology {
	if t == "" {
		return DefaultTopology
	}
	return t
}

func topologyNames() string {
	names := make([]string, len(Topologies))
	for i, t := range Topologies {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// parseTopology reads the optional topology parameter: absent means the
// default; anything but one of Topologies is refused by name.
func parseTopology(raw json.RawMessage) (Topology, error) {
	if raw == nil {
		return DefaultTopology, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", &ParamError{"topology", fmt.Sprintf("must be one of %s (got %s)", topologyNames(), quoteShort(string(raw)))}
	}
	for _, t := range Topologies {
		if Topology(s) == t {
			return t, nil
		}
	}
	return "", &ParamError{"topology", fmt.Sprintf("must be one of %s (got %s)", topologyNames(), quoteShort(s))}
}
