package worker

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// WarmConfigFromEnv reads the warm pool: LNPLAYLIVE_WARM=<size>:<count>,…
// (e.g. 8:2,16:1; empty: none), LNPLAYLIVE_WARM_MAX (cap on warm machines;
// default the sum of the counts) and LNPLAYLIVE_WARM_IDLE (how long an
// unclaimed playground lives before a fresh one replaces it; default 24h).
func WarmConfigFromEnv() (workflows.WarmConfig, error) {
	var w workflows.WarmConfig
	if v := strings.TrimSpace(os.Getenv("LNPLAYLIVE_WARM")); v != "" {
		t, err := ParseWarmTargets(v)
		if err != nil {
			return w, fmt.Errorf("LNPLAYLIVE_WARM=%q: %w", v, err)
		}
		w.Targets = t
	}
	if v := os.Getenv("LNPLAYLIVE_WARM_MAX"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return w, fmt.Errorf("LNPLAYLIVE_WARM_MAX=%q: want the most warm machines at once, 0 for the sum of LNPLAYLIVE_WARM", v)
		}
		w.MaxMachines = n
	}
	if v := os.Getenv("LNPLAYLIVE_WARM_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return w, fmt.Errorf("LNPLAYLIVE_WARM_IDLE=%q: want a duration such as 24h", v)
		}
		w.IdleLifetime = d
	}
	return w, nil
}

// ParseWarmTargets reads "<size>:<count>,…" with sizes the products sell.
func ParseWarmTargets(v string) (map[int]int, error) {
	targets := map[int]int{}
	sold := order.DefaultProducts()
	for part := range strings.SplitSeq(v, ",") {
		size, count, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err1 := strconv.Atoi(size)
		k, err2 := strconv.Atoi(count)
		switch {
		case !ok || err1 != nil || err2 != nil:
			return nil, fmt.Errorf("%q: want <node count>:<how many>, e.g. 8:2", part)
		case !slices.Contains(sold.NodeCounts(), n):
			return nil, fmt.Errorf("%q: %d nodes is not a size sold", part, n)
		case k < 0:
			return nil, fmt.Errorf("%q: a count cannot be negative", part)
		}
		if _, dup := targets[n]; dup {
			return nil, fmt.Errorf("%q: size %d given twice", part, n)
		}
		targets[n] = k
	}
	return targets, nil
}
