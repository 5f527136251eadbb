package hetzner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/lnplaylive/lnplaylive/infra"
)

// What a playground of n nodes needs from its machine.
//
// Memory: on the real Docker Engine an idle 8-node playground measured
// 28 MiB PSS a node and 57 MiB for bitcoind, plus Docker's own shims and
// docker-proxy processes (about 190 MiB at 8 nodes; issue 31). A node in a
// workshop holds more (gossip of every channel, peers, Clams sessions), so
// each node is budgeted SPEC §5's floor of 150 MB; bitcoind, the miner,
// dockerd and containerd get 1 GiB together; and a quarter on top is
// headroom for the page cache and the bootstrap's bursts.
// CPU: SPEC §5's table (8 → 2 vCPU, 16 → 2, 32 → 4, 64 → 8): a vCPU per
// 8 nodes, at least 2.
func Need(nodes int) (cores int, memoryGB float64) {
	const perNodeGB, baseGB, headroom = 0.150, 1.0, 1.25
	return max(2, nodes/8), (float64(nodes)*perNodeGB + baseGB) * headroom
}

// Candidate is one way to order a machine: a server type in a location,
// at its monthly net price there (EUR).
type Candidate struct {
	Type     string
	Location string
	Monthly  float64
}

func (c Candidate) String() string {
	return fmt.Sprintf("%s in %s (%.2f EUR/month)", c.Type, c.Location, c.Monthly)
}

// sold tells whether a type can be ordered in a location today, and its
// monthly net price there: it is listed there, available (not sold out),
// and priced. A deprecated type is still sold until its unavailable_after
// date, after which Hetzner stops listing it.
func sold(t *hcloud.ServerType, location string) (ok bool, price float64) {
	listed := false
	for _, l := range t.Locations {
		if l.Location != nil && l.Location.Name == location {
			if !l.Available {
				return false, 0
			}
			listed = true
		}
	}
	if !listed {
		return false, 0
	}
	for _, p := range t.Pricings {
		if p.Location != nil && p.Location.Name == location {
			net, err := strconv.ParseFloat(p.Monthly.Net, 64)
			if err != nil {
				return false, 0
			}
			return true, net
		}
	}
	return false, 0 // no price in that location: not sold there
}

// deprecated tells whether Hetzner has announced the type's retirement,
// anywhere: the worker never chooses such a type by itself.
func deprecated(t *hcloud.ServerType) bool {
	if t.IsDeprecated() {
		return true
	}
	for _, l := range t.Locations {
		if l.IsDeprecated() {
			return true
		}
	}
	return false
}

// Pick lists the ways to order a machine for n nodes, best first: the
// server types of an architecture in archs that hold the size and whose
// retirement is not announced, each in the locations (in the operator's
// order of preference) where it is sold today, cheapest type first. A location that turns out full is skipped
// for the next one, then the next type.
func Pick(types []*hcloud.ServerType, nodes int, locations []string, archs []hcloud.Architecture) []Candidate {
	cores, mem := Need(nodes)
	type option struct {
		name     string
		cheapest float64
		at       []Candidate
	}
	var options []option
	for _, t := range types {
		if !slices.Contains(archs, t.Architecture) || t.Cores < cores || float64(t.Memory) < mem || deprecated(t) {
			continue
		}
		o := option{name: t.Name}
		for _, loc := range locations {
			if ok, price := sold(t, loc); ok {
				o.at = append(o.at, Candidate{Type: t.Name, Location: loc, Monthly: price})
				if len(o.at) == 1 || price < o.cheapest {
					o.cheapest = price
				}
			}
		}
		if len(o.at) > 0 {
			options = append(options, o)
		}
	}
	slices.SortStableFunc(options, func(a, b option) int {
		return cmp.Or(cmp.Compare(a.cheapest, b.cheapest), cmp.Compare(a.name, b.name))
	})
	var out []Candidate
	for _, o := range options {
		out = append(out, o.at...)
	}
	return out
}

// Plan is, for each size sold, the ways to order its machine.
type Plan struct {
	BySize map[int][]Candidate
	// Warnings are worth an operator's attention but do not stop sales: a
	// pinned type Hetzner has announced it will stop selling.
	Warnings []string
}

// PlanError is a size no machine can be ordered for, with the fix.
type PlanError struct {
	Nodes int
	Why   string
	Fix   string
}

func (e *PlanError) Error() string {
	return fmt.Sprintf("%d nodes: %s; fix: %s", e.Nodes, e.Why, e.Fix)
}

// planFor resolves every size against the catalogue: a pinned type (the
// operator's) where there is one, otherwise the cheapest that fits.
func planFor(types []*hcloud.ServerType, sizes []int, pinned map[int]string, locations []string, archs []hcloud.Architecture) (Plan, error) {
	plan := Plan{BySize: map[int][]Candidate{}}
	byName := map[string]*hcloud.ServerType{}
	for _, t := range types {
		byName[t.Name] = t
	}
	for _, n := range sizes {
		name, isPinned := pinned[n]
		if !isPinned {
			c := Pick(types, n, locations, archs)
			if len(c) == 0 {
				cores, mem := Need(n)
				return Plan{}, &PlanError{Nodes: n,
					Why: fmt.Sprintf("no server type with %d vCPU and %.1f GB, of architecture %v, is orderable in %s", cores, mem, archs, strings.Join(locations, ", ")),
					Fix: "add locations to LNPLAYLIVE_HETZNER_LOCATIONS, or pin a type with LNPLAYLIVE_HETZNER_SERVER_TYPES"}
			}
			plan.BySize[n] = c
			continue
		}
		t := byName[name]
		if t == nil {
			return Plan{}, &PlanError{Nodes: n, Why: fmt.Sprintf("server type %q is not in Hetzner's catalogue (removed, or never existed)", name),
				Fix: fmt.Sprintf("pin a type Hetzner sells today in LNPLAYLIVE_HETZNER_SERVER_TYPES, or drop %d: from it to let the worker choose (it would choose %s)", n, firstOr(Pick(types, n, locations, archs), "nothing here"))}
		}
		var at []Candidate
		for _, loc := range locations {
			if ok, price := sold(t, loc); ok {
				at = append(at, Candidate{Type: name, Location: loc, Monthly: price})
			}
		}
		if len(at) == 0 {
			return Plan{}, &PlanError{Nodes: n, Why: fmt.Sprintf("server type %q cannot be ordered in %s today%s", name, strings.Join(locations, ", "), deprecationNote(t)),
				Fix: fmt.Sprintf("pin another type, add a location where %s is sold, or drop %d: from LNPLAYLIVE_HETZNER_SERVER_TYPES to let the worker choose (it would choose %s)", name, n, firstOr(Pick(types, n, locations, archs), "nothing here"))}
		}
		if note := deprecationNote(t); note != "" {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("pinned server type %s for %d nodes%s: pin its successor before then", name, n, note))
		}
		if cores, mem := Need(n); t.Cores < cores || float64(t.Memory) < mem {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("pinned server type %s for %d nodes has %d vCPU and %.0f GB; the sizing rule asks %d and %.1f GB", name, n, t.Cores, t.Memory, cores, mem))
		}
		plan.BySize[n] = at
	}
	return plan, nil
}

func firstOr(c []Candidate, none string) string {
	if len(c) == 0 {
		return none
	}
	return c[0].String()
}

// deprecationNote says when Hetzner stops selling a type, if it has said.
func deprecationNote(t *hcloud.ServerType) string {
	d := t.Deprecation
	for _, l := range t.Locations {
		if d == nil && l.Deprecation != nil {
			d = l.Deprecation
		}
	}
	if d == nil {
		return ""
	}
	return fmt.Sprintf(" (deprecated by Hetzner on %s, not orderable after %s)", d.Announced.Format(time.DateOnly), d.UnavailableAfter.Format(time.DateOnly))
}

// catalogue caches the plan made from Hetzner's list of server types: it
// changes when Hetzner launches or retires types, not from one order to
// the next, so it is read again at most once an hour.
type catalogue struct {
	mu      sync.Mutex
	types   []*hcloud.ServerType
	plan    Plan
	readAt  time.Time
	lastErr error
}

const catalogueTTL = time.Hour

// Plan resolves every size sold against Hetzner's catalogue of today.
func (p *Provider) Plan(ctx context.Context) (Plan, error) {
	p.cat.mu.Lock()
	defer p.cat.mu.Unlock()
	if !p.cat.readAt.IsZero() && time.Since(p.cat.readAt) < catalogueTTL {
		return p.cat.plan, p.cat.lastErr
	}
	types, err := p.c.ServerType.All(ctx)
	if err != nil {
		return Plan{}, classify("list server types", err)
	}
	plan, err := planFor(types, p.cfg.Sizes, p.cfg.ServerTypes, p.cfg.Locations, p.cfg.Architectures)
	if err != nil {
		// Retrying cannot help: the configuration or the catalogue must change.
		err = &infra.PermanentError{Reason: "Hetzner's catalogue: " + err.Error(), Err: err}
	}
	p.cat.types, p.cat.plan, p.cat.lastErr, p.cat.readAt = types, plan, err, time.Now()
	return plan, err
}

// candidates are the ways to order a machine for n nodes: the plan's, or
// for a size the plugin sells beyond the ones planned (its price table is
// its own), the cheapest fits of the same catalogue.
func (p *Provider) candidates(ctx context.Context, n int) ([]Candidate, error) {
	plan, err := p.Plan(ctx)
	if err != nil {
		return nil, err
	}
	if c, ok := plan.BySize[n]; ok {
		return c, nil
	}
	p.cat.mu.Lock()
	c := Pick(p.cat.types, n, p.cfg.Locations, p.cfg.Architectures)
	p.cat.mu.Unlock()
	if len(c) == 0 {
		cores, mem := Need(n)
		return nil, &infra.PermanentError{Reason: fmt.Sprintf("no server type with %d vCPU and %.1f GB is orderable in %s for %d nodes", cores, mem, strings.Join(p.cfg.Locations, ", "), n)}
	}
	return c, nil
}

// Check is the worker's start-up check of Hetzner: the token works, the
// image exists for the images' architectures, the SSH key is registered,
// and every size sold resolves to a type orderable in a configured
// location. Nothing is created.
func (p *Provider) Check(ctx context.Context) []infra.Check {
	var out []infra.Check
	if _, _, err := p.c.ServerType.List(ctx, hcloud.ServerTypeListOpts{ListOpts: hcloud.ListOpts{PerPage: 1}}); err != nil {
		c := infra.Check{Name: "Hetzner API token", Err: classify("list server types", err), Fix: "check HCLOUD_TOKEN (or HCLOUD_TOKEN_FILE) and HCLOUD_ENDPOINT: a read/write token of the project the playgrounds run in"}
		return append(out, c) // nothing else can be checked without it
	}
	out = append(out, infra.Check{Name: "Hetzner API token", Detail: "accepted"})
	for _, arch := range p.cfg.Architectures {
		img, _, err := p.c.Image.GetByNameAndArchitecture(ctx, p.cfg.Image, arch)
		name := fmt.Sprintf("image %s (%s)", p.cfg.Image, arch)
		switch {
		case err != nil:
			out = append(out, infra.Check{Name: name, Err: classify("look up image", err), Fix: "retry; Hetzner did not answer"})
		case img == nil:
			out = append(out, infra.Check{Name: name, Err: &infra.PermanentError{Reason: "Hetzner has no such image"}, Fix: "set LNPLAYLIVE_HETZNER_IMAGE to a system image Hetzner lists (e.g. debian-12)"})
		default:
			out = append(out, infra.Check{Name: name, Detail: "available"})
		}
	}
	key, _, err := p.c.SSHKey.GetByName(ctx, p.cfg.SSHKeyName)
	switch {
	case err != nil:
		out = append(out, infra.Check{Name: "SSH key " + p.cfg.SSHKeyName, Err: classify("look up SSH key", err), Fix: "retry; Hetzner did not answer"})
	case key == nil:
		out = append(out, infra.Check{Name: "SSH key " + p.cfg.SSHKeyName, Err: &infra.PermanentError{Reason: "not registered in the project"},
			Fix: "register the public half of LNPLAYLIVE_SSH_KEY_FILE at Hetzner under this name, or set LNPLAYLIVE_HETZNER_SSH_KEY to its name"})
	default:
		out = append(out, infra.Check{Name: "SSH key " + p.cfg.SSHKeyName, Detail: "registered (" + key.Fingerprint + ")"})
	}
	plan, err := p.Plan(ctx)
	var pe *PlanError
	switch {
	case errors.As(err, &pe):
		out = append(out, infra.Check{Name: fmt.Sprintf("server type for %d nodes", pe.Nodes), Err: &infra.PermanentError{Reason: pe.Why}, Fix: pe.Fix})
	case err != nil:
		out = append(out, infra.Check{Name: "server types", Err: err, Fix: "retry; Hetzner did not answer"})
	default:
		for _, n := range slices.Sorted(maps.Keys(plan.BySize)) {
			c := plan.BySize[n]
			out = append(out, infra.Check{Name: fmt.Sprintf("server type for %d nodes", n), Detail: fmt.Sprintf("%s (%d fallbacks)", c[0], len(c)-1)})
		}
		for _, w := range plan.Warnings {
			out = append(out, infra.Check{Name: "server types", Detail: w, Warning: true})
		}
	}
	return out
}
