package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
)

// benchWarmPool is the warm pool's part of `make bench` (issue 15): a
// steady stream of paid 8-node orders, one every LNPLAYLIVE_BENCH_WARM_EVERY
// (60 s), on a host pool of real sshd hosts with the container-runtime
// double, with K = 2. It measures payment → provisioned for warm orders,
// against a cold order measured in the same run (the prism topology, which
// the pool does not keep), and reads the pool's own account: how long a
// refill takes, and the warm machine time each served order cost.
func benchWarmPool(t *testing.T) benchSection {
	orders, every := 6, time.Minute
	if v, err := strconv.Atoi(os.Getenv("LNPLAYLIVE_BENCH_WARM_ORDERS")); err == nil && v > 0 {
		orders = v
	}
	if v, err := time.ParseDuration(os.Getenv("LNPLAYLIVE_BENCH_WARM_EVERY")); err == nil && v > 0 {
		every = v
	}
	p := newPool(t, 1, 5)
	// Orders of 3 development hours of 20 s: each runs a minute, so the
	// stream keeps about one playground busy beside the two warm ones.
	s := newSystem(t, options{workerEnv: append(p.env, "LNPLAYLIVE_WARM=8:2"),
		pluginOptions: map[string]any{"lnplaylive-dev-hour-seconds": 20}})
	s.waitWarm(t, 2, 5*time.Minute)

	provision := func(topology string) (time.Duration, string) {
		r := s.createOrder(map[string]any{"node_count": 8, "hours": 3, "topology": topology})
		id := string(r.BOLT11InvoiceID)
		start := time.Now()
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
		source := ""
		for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
			st := s.status(id)
			var d order.Deployment
			if st.InvoiceStatus == "paid" && st.DeploymentDetails[0] == '{' && json.Unmarshal(st.DeploymentDetails, &d) == nil {
				if d.Progress != nil && d.Progress.Source != "" {
					source = d.Progress.Source
				}
				if d.Status == order.Provisioned {
					return time.Since(start), source
				}
				if d.Status == order.Failed {
					t.Fatalf("order %s failed: %s", id, d.Error)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s not provisioned", id)
			}
		}
	}

	cold, _ := provision("prism")
	var warm, notWarm lat
	next := time.Now()
	for range orders {
		time.Sleep(time.Until(next))
		next = next.Add(every)
		d, source := provision("mesh")
		if source == "warm" {
			warm = append(warm, d)
		} else {
			notWarm = append(notWarm, d)
		}
	}
	st := s.capacityState()
	ws := st.WarmStats
	refill, perOrder := 0.0, 0.0
	if ws.Built > 0 {
		refill = ws.RefillSeconds / float64(ws.Built)
	}
	if ws.Claimed > 0 {
		perOrder = ws.WarmSeconds / float64(ws.Claimed)
	}
	rows := [][]string{
		{fmt.Sprintf("payment → provisioned, warm (%d of %d orders, one every %s, K = 2)", len(warm), orders, every),
			secs(warm.pct(.5)), secs(warm.pct(.99)), secs(warm.pct(1)), "",
			fmt.Sprintf("cold, same run (prism, built for the order): %s; %d orders built cold", secs(cold), len(notWarm)),
			"p50 ≤ 5 s, p99 ≤ 10 s"},
		{"warm pool refill (build start → ready, 8 nodes)", fmt.Sprintf("%.1f s mean", refill), "", "", fmt.Sprintf("%d built", ws.Built),
			"the cold path's bootstrap, off the customer's clock", "report"},
		{"warm machine time per served order", fmt.Sprintf("%.1f min (%.3f machine-hours)", perOrder/60, perOrder/3600), "", "",
			fmt.Sprintf("%d claimed, %d retired", ws.Claimed, ws.Retired),
			fmt.Sprintf("≈ refill + K × interval = %.1f + 2 × %.0f s", refill, every.Seconds()), "report"},
	}
	return benchSection{title: "warm pool (SQLite dev server, host pool of real sshd hosts, container double)", rows: rows}
}
