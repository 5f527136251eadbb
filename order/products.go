package order

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Products is the price list and the rules an order must satisfy. It is
// configuration (SPEC §1): operators change prices without a code change.
type Products struct {
	// RateMsat is the price of one node-hour, by node count. Its keys are the
	// only node counts on sale.
	RateMsat map[int]uint64
	MinHours int
	MaxHours int
	// InvoiceExpiry is how long a customer has to pay.
	InvoiceExpiry time.Duration
}

// DefaultPrices is the SPEC §1 table in the form ParsePrices reads.
const DefaultPrices = "8:200000,16:220000,32:240000,64:260000"

// DefaultProducts returns the SPEC §1 defaults.
func DefaultProducts() Products {
	rates, err := ParsePrices(DefaultPrices)
	if err != nil {
		panic(err) // a constant that does not parse is a programming error
	}
	return Products{RateMsat: rates, MinHours: 3, MaxHours: 504, InvoiceExpiry: 300 * time.Second}
}

// ParsePrices reads "nodes:msat_per_node_hour,…", e.g. DefaultPrices.
func ParsePrices(s string) (map[int]uint64, error) {
	rates := map[int]uint64{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		nodes, rate, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("price %q: want nodes:msat_per_node_hour", item)
		}
		n, err := strconv.Atoi(strings.TrimSpace(nodes))
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("price %q: node count must be an integer from 1 to 1000", item)
		}
		r, err := strconv.ParseUint(strings.TrimSpace(rate), 10, 64)
		if err != nil || r == 0 {
			return nil, fmt.Errorf("price %q: rate must be a positive integer msat", item)
		}
		if _, dup := rates[n]; dup {
			return nil, fmt.Errorf("price %q: node count %d listed twice", item, n)
		}
		rates[n] = r
	}
	return rates, nil
}

// Validate checks that the configuration can sell anything at all, and that
// no order it accepts can overflow an msat amount.
func (p Products) Validate() error {
	if len(p.RateMsat) == 0 {
		return fmt.Errorf("products: no node counts on sale")
	}
	if p.MinHours < 1 || p.MaxHours < p.MinHours {
		return fmt.Errorf("products: hours must satisfy 1 <= min (%d) <= max (%d)", p.MinHours, p.MaxHours)
	}
	if p.InvoiceExpiry < time.Second {
		return fmt.Errorf("products: invoice expiry %s is shorter than a second", p.InvoiceExpiry)
	}
	for n, r := range p.RateMsat {
		if r > (1<<62)/uint64(n)/uint64(p.MaxHours) {
			return fmt.Errorf("products: %d nodes at %d msat for %d hours overflows", n, r, p.MaxHours)
		}
	}
	return nil
}

// NodeCounts lists the node counts on sale, ascending.
func (p Products) NodeCounts() []int {
	counts := make([]int, 0, len(p.RateMsat))
	for n := range p.RateMsat {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	return counts
}

// PriceMsat is the invoice amount of an order (SPEC §1): rate × nodes × hours.
// The request must have been validated against p.
func (p Products) PriceMsat(r Request) uint64 {
	return p.RateMsat[r.NodeCount] * uint64(r.NodeCount) * uint64(r.Hours)
}

// Description is the invoice description of SPEC §2. It doubles as the
// durable record of what was bought: ParseDescription reads it back when an
// order has to be rebuilt from its invoice alone. The default topology is
// left out, so default orders keep the seed's description.
func Description(r Request) string {
	if t := r.Topology.OrDefault(); t != DefaultTopology {
		return fmt.Sprintf("lnplay.live - %d nodes for %d hours, %s channels.", r.NodeCount, r.Hours, t)
	}
	return fmt.Sprintf("lnplay.live - %d nodes for %d hours.", r.NodeCount, r.Hours)
}

// ParseDescription is the inverse of Description.
func ParseDescription(s string) (Request, error) {
	notOurs := fmt.Errorf("invoice description %q is not an lnplaylive order", s)
	rest, ok := strings.CutPrefix(s, "lnplay.live - ")
	if !ok {
		return Request{}, notOurs
	}
	r := Request{Topology: DefaultTopology}
	if body, choice, ok := strings.Cut(rest, " hours, "); ok {
		name, ok := strings.CutSuffix(choice, " channels.")
		t, err := parseTopology(json.RawMessage(strconv.Quote(name)))
		if !ok || err != nil || t == DefaultTopology {
			return Request{}, notOurs
		}
		r.Topology, rest = t, body+" hours."
	}
	rest, ok = strings.CutSuffix(rest, " hours.")
	if !ok {
		return Request{}, notOurs
	}
	nodes, hours, ok := strings.Cut(rest, " nodes for ")
	if !ok {
		return Request{}, notOurs
	}
	var err1, err2 error
	r.NodeCount, err1 = strconv.Atoi(nodes)
	r.Hours, err2 = strconv.Atoi(hours)
	if err1 != nil || err2 != nil || r.NodeCount < 1 || r.Hours < 1 {
		return Request{}, notOurs
	}
	return r, nil
}
