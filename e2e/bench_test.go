package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// TestBenchmarks is `make bench`: it measures the hot paths against their
// floors, measured in the same run on the same machine, and writes
// BENCHMARKS.md. It is not a timed test: it asserts nothing about speed.

type lat []time.Duration

func (l lat) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(lat(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// run measures n calls of f from workers goroutines.
func run(t *testing.T, n, workers int, f func(i int) error) (lat, float64) {
	var mu sync.Mutex
	out := make(lat, 0, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				s := time.Now()
				if err := f(i); err != nil {
					t.Errorf("call %d: %v", i, err)
					return
				}
				d := time.Since(s)
				mu.Lock()
				out = append(out, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, float64(len(out)) / time.Since(start).Seconds()
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

func TestBenchmarks(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_BENCH") == "" {
		t.Skip("benchmarks run with `make bench`")
	}
	// The status cache at its production default (500 ms), not the tests' 100 ms.
	s := newSystem(t, options{invoiceExpiry: 7200, pluginOptions: map[string]any{
		"lnplaylive-max-live-orders": 20000, "lnplaylive-status-cache-ms": 500}})
	ctx := context.Background()
	rpc, err := cln.Dial(ctx, filepath.Join(s.node.Dir, s.node.RPCFile), "bench")
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	c := s.client()
	var rows [][]string
	add := func(cols ...string) { rows = append(rows, cols) }
	createParams := map[string]any{"node_count": 8, "hours": 3}
	createorder := func(int) error {
		_, rerr := s.call("lnplaylive-createorder", createParams)
		if rerr != nil {
			return rerr
		}
		return nil
	}
	bareInvoice := func(i int) error {
		_, err := rpc.CreateInvoice(ctx, cln.InvoiceRequest{AmountMsat: 4_800_000, Label: fmt.Sprintf("floor-%d-%d", i, time.Now().UnixNano()), Description: "floor", Expiry: 7200})
		return err
	}
	// A bare start of the same workflow, on a queue no worker serves: the
	// server's cost of a start, nothing else.
	bareStart := func(i int) error {
		id := order.NewID()
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id.WorkflowID(), TaskQueue: "floor-no-worker"}, workflows.OrderWorkflow,
			workflows.OrderInput{OrderID: id, NodeCount: 8, Hours: 3, InvoiceExpiresAt: time.Now().Add(time.Hour)})
		return err
	}

	// Warm up every path once.
	_ = bareInvoice(-1)
	_ = bareStart(-1)
	_ = createorder(-1)

	inv, _ := run(t, 200, 1, bareInvoice)
	st, stTput := run(t, 200, 1, bareStart)
	co, _ := run(t, 200, 1, createorder)
	floor := inv.pct(.5) + st.pct(.5)
	add("createorder, 1 caller", ms(co.pct(.5)), ms(co.pct(.99)), ms(co.pct(1)), "",
		fmt.Sprintf("p50 %.2f× floor (invoice %s + start %s)", float64(co.pct(.5))/float64(floor), ms(inv.pct(.5)), ms(st.pct(.5))), "≤ 1.2×")
	st20, st20Tput := run(t, 400, 20, bareStart)
	co20, co20Tput := run(t, 400, 20, createorder)
	add("createorder, 20 callers", ms(co20.pct(.5)), ms(co20.pct(.99)), ms(co20.pct(1)), fmt.Sprintf("%.0f/s", co20Tput),
		fmt.Sprintf("throughput %.2f× bare (%.0f/s); p99 %.2f× bare (%s)", co20Tput/st20Tput, st20Tput, float64(co20.pct(.99))/float64(st20.pct(.99)), ms(st20.pct(.99))),
		"≥ 0.9× / ≤ 1.3×")
	_ = stTput

	// 1,000 open orders polled twice a second each.
	var ids []string
	for len(ids) < 1000 {
		raw, rerr := s.call("lnplaylive-createorder", createParams)
		if rerr != nil {
			t.Fatal(rerr)
		}
		var r order.CreateReply
		_ = json.Unmarshal(raw, &r)
		ids = append(ids, string(r.BOLT11InvoiceID))
	}
	list, _ := run(t, 2000, 1, func(i int) error {
		_, _, err := rpc.InvoiceByLabel(ctx, "lnplaylive-"+ids[i%len(ids)])
		return err
	})
	// Pay a tenth of them: paid orders are answered from the workflow.
	for _, id := range ids[:100] {
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
	}
	s.waitStatus(ids[99], 30*time.Second, paidAndDeploying)
	const rate, seconds = 2000, 10
	var polls lat
	var pmu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	begin := time.Now()
	for i := 0; i < rate*seconds; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s0 := time.Now()
			_, rerr := s.call("lnplaylive-invoicestatus", map[string]any{"payment_type": "bolt11", "invoice_id": ids[i%len(ids)]})
			d := time.Since(s0)
			if rerr != nil {
				t.Errorf("invoicestatus: %v", rerr)
			}
			pmu.Lock()
			polls = append(polls, d)
			pmu.Unlock()
		}(i)
	}
	tick.Stop()
	wg.Wait()
	achieved := float64(len(polls)) / time.Since(begin).Seconds()
	add("invoicestatus, 1,000 orders at 2,000/s (10 % paid)", ms(polls.pct(.5)), ms(polls.pct(.99)), ms(polls.pct(1)), fmt.Sprintf("%.0f/s", achieved),
		fmt.Sprintf("p99 %.1f× bare listinvoices (%s)", float64(polls.pct(.99))/float64(list.pct(.99)), ms(list.pct(.99))), "p99 ≤ 5 ms")

	// A state change is visible: pay, then poll until paid.
	var visible lat
	for _, id := range ids[100:120] {
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
		s0 := time.Now()
		s.waitStatus(id, 10*time.Second, func(st status) bool { return st.InvoiceStatus == "paid" })
		visible = append(visible, time.Since(s0))
	}
	add("payment visible in invoicestatus", ms(visible.pct(.5)), ms(visible.pct(.99)), ms(visible.pct(1)), "", "(answered from lightningd)", "≤ 1 s")

	// Payment → first provisioning activity started, from the history.
	var toActivity lat
	for _, id := range ids[120:170] {
		paidAt := time.Now()
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
	poll:
		for time.Now().Before(deadline) {
			it := c.GetWorkflowHistory(ctx, "lnplaylive-"+id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					break
				}
				if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED {
					toActivity = append(toActivity, ev.GetEventTime().AsTime().Sub(paidAt))
					break poll
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	add("payment → first provisioning activity started", ms(toActivity.pct(.5)), ms(toActivity.pct(.99)), ms(toActivity.pct(1)), "", fmt.Sprintf("%d orders", len(toActivity)), "p99 ≤ 200 ms")

	// Many live orders: fill up to LNPLAYLIVE_BENCH_ORDERS (default 10,000)
	// and read both processes' memory.
	target := 10000
	if v, err := strconv.Atoi(os.Getenv("LNPLAYLIVE_BENCH_ORDERS")); err == nil {
		target = v
	}
	total := 200 + 400 + len(ids) + 3
	fillTput := 0.0
	if target > total {
		_, fillTput = run(t, target-total, 20, createorder)
		time.Sleep(5 * time.Second)
	}
	add(fmt.Sprintf("%d live orders: RSS", max(target, total)), "", "", "", fmt.Sprintf("filled at %.0f/s", fillTput),
		fmt.Sprintf("worker %.0f MB, plugin %.0f MB", rssMB(s.worker.p.Pid()), rssMB(s.plugin.Pid())), "≤ 300 MB / ≤ 100 MB (at 10,000)")

	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nMeasured by `make bench` (e2e/bench_test.go) on %s, %d cores, %s, Temporal dev server (CLI v1.5.1, SQLite), %s.\n\n",
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	b.WriteString("Every figure goes through the built plugin binary under the lightningd stand-in, as lightning-cli's calls do; floors are measured in the same run.\n\n")
	b.WriteString("| what | p50 | p99 | max | throughput | against the floor | target |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("LNPLAYLIVE_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
