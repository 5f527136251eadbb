package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/internal/stack"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// TestBenchmarks is `make bench`: it measures the hot paths against their
// floors, measured in the same run on the same machine, profiles the
// processes while they work, and writes docs/BENCHMARKS.md. It is not a timed
// test: it asserts nothing about speed, only that every call succeeded.

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

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

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

// openLoop calls f rate times a second for seconds, each call due at its
// time whatever the answers' latency (a driver that overslept catches up),
// and returns the latencies f reports and the wall time.
func openLoop(t *testing.T, rate, seconds int, f func(i int) (time.Duration, error)) (lat, time.Duration) {
	var mu sync.Mutex
	var out lat
	var wg sync.WaitGroup
	var failed atomic.Int64
	begin := time.Now()
	for i := 0; i < rate*seconds; i++ {
		if d := time.Until(begin.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d, err := f(i)
			if err != nil && failed.Add(1) <= 3 {
				t.Errorf("call %d: %v", i, err)
			}
			mu.Lock()
			out = append(out, d)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	return out, time.Since(begin)
}

// procStat reads a process's resident memory (MB) and CPU time so far.
func procStat(pid int) (rss float64, cpu time.Duration) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				rss = float64(kb) / 1024
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command (which may hold spaces): utime and
		// stime are the 14th and 15th, in clock ticks (100 a second).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 13 {
			u, _ := strconv.Atoi(f[11])
			s, _ := strconv.Atoi(f[12])
			cpu = time.Duration(u+s) * 10 * time.Millisecond
		}
	}
	return rss, cpu
}

// benchProcs are the processes whose CPU and memory the bench reports.
type benchProcs struct {
	names []string
	pids  []int
	// tree is the index of a process counted with its descendants
	// (PostgreSQL: one backend process per connection), or -1.
	tree int
}

// stat reads process i, with its descendants when it is the tree.
func (p benchProcs) stat(i int) (rss float64, cpu time.Duration) {
	pids := []int{p.pids[i]}
	if i == p.tree {
		pids = append(pids, descendants(p.pids[i])...)
	}
	for _, pid := range pids {
		r, c := procStat(pid)
		if i == p.tree {
			// Shared memory (PostgreSQL's buffers) counted once: PSS.
			r = pss(pid)
		}
		rss, cpu = rss+r, cpu+c
	}
	return rss, cpu
}

// pss is a process's proportional set size (MB).
func pss(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// descendants lists the processes below pid (children's CPU is counted
// only once they are reaped, so they are read one by one).
func descendants(pid int) []int {
	parent := map[int]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 1 {
			parent[child], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	for child := range parent {
		for p := parent[child]; p != 0; p = parent[p] {
			if p == pid {
				out = append(out, child)
				break
			}
			if _, ok := parent[p]; !ok {
				break
			}
		}
	}
	return out
}

func (p benchProcs) cpu() []time.Duration {
	out := make([]time.Duration, len(p.pids))
	for i := range p.pids {
		_, out[i] = p.stat(i)
	}
	return out
}

// cpuSince says how the CPU time since before was shared, per process.
func (p benchProcs) cpuSince(before []time.Duration, wall time.Duration) string {
	var parts []string
	for i, c := range p.cpu() {
		parts = append(parts, fmt.Sprintf("%s %.0f %%", p.names[i], 100*(c-before[i]).Seconds()/wall.Seconds()))
	}
	return "CPU " + strings.Join(parts, ", ")
}

func (p benchProcs) rss() string {
	var parts []string
	for i := range p.pids {
		rss, _ := p.stat(i)
		parts = append(parts, fmt.Sprintf("%s %.0f MB", p.names[i], rss))
	}
	return strings.Join(parts, ", ")
}

// debugGet fetches a pprof endpoint of a process.
func debugGet(addr, path string) ([]byte, error) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// goroutines counts a process's goroutines from its pprof endpoint.
func goroutines(addr string) int {
	b, err := debugGet(addr, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	var n int
	fmt.Sscanf(string(b), "goroutine profile: total %d", &n)
	return n
}

// profile records a CPU profile of a process for d, in the background, and
// returns a function waiting for it and giving its top functions.
func profile(t *testing.T, addr, file string, d time.Duration) func() string {
	done := make(chan string, 1)
	go func() {
		b, err := debugGet(addr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())))
		if err != nil {
			done <- "profile failed: " + err.Error()
			return
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			done <- err.Error()
			return
		}
		done <- pprofTop(file)
	}()
	return func() string { return <-done }
}

func TestBenchmarks(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_BENCH") == "" {
		t.Skip("benchmarks run with `make bench`")
	}
	profDir := os.Getenv("LNPLAYLIVE_BENCH_PROFILES")
	if profDir == "" {
		profDir = t.TempDir()
	}
	if err := os.MkdirAll(profDir, 0o755); err != nil {
		t.Fatal(err)
	}
	target := 10000
	if v, err := strconv.Atoi(os.Getenv("LNPLAYLIVE_BENCH_ORDERS")); err == nil {
		target = v
	}
	var sections []benchSection
	for _, backend := range []string{"sqlite", "postgres"} {
		if only := os.Getenv("LNPLAYLIVE_BENCH_BACKEND"); only != "" && only != backend {
			continue
		}
		t.Run(backend, func(t *testing.T) {
			// The modelled provisioning runs once, beside the first backend.
			model := len(sections) == 0 && os.Getenv("LNPLAYLIVE_BENCH_NO_MODEL") == ""
			sections = append(sections, benchBackend(t, backend, target, filepath.Join(profDir, backend), model))
		})
	}
	if only := os.Getenv("LNPLAYLIVE_BENCH_BACKEND"); only == "" || only == "warm" {
		t.Run("warm", func(t *testing.T) { sections = append(sections, benchWarmPool(t)) })
	}
	writeBenchmarks(t, sections, profDir)
}

// benchSection is one backend's results.
type benchSection struct {
	title string
	rows  [][]string
	notes []string
}

// benchBackend runs every measurement on one Temporal backend: the dev
// server on SQLite, or the production shape (make stack) on PostgreSQL.
func benchBackend(t *testing.T, backend string, target int, profDir string, model bool) benchSection {
	if err := os.MkdirAll(profDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pluginDebug := fmt.Sprintf("127.0.0.1:%d", devserver.FreePort(t))
	workerDebug := fmt.Sprintf("127.0.0.1:%d", devserver.FreePort(t))
	o := options{invoiceExpiry: 7200,
		// Every paid order gets its machine at once (the default bound of
		// ten live machines would queue the 100 paid orders polled).
		workerEnv: append(parkedProviderEnv(t), "LNPLAYLIVE_DEBUG_ADDR="+workerDebug, "LNPLAYLIVE_MAX_MACHINES=1000"),
		// The status cache at its production default (1 s).
		pluginOptions: map[string]any{"lnplaylive-max-live-orders": 20000, "lnplaylive-status-cache-ms": 1000,
			"lnplaylive-debug-addr": pluginDebug}}
	title := "Temporal dev server (CLI v1.5.1, server 1.29.1) on SQLite"
	if backend == "postgres" {
		o.stack = newStack(t)
		title = "make stack: Temporal 1.29.1 as frontend, history, matching and worker processes on PostgreSQL " + postgresVersion()
	}
	s := newSystem(t, o)
	procs := benchProcs{names: []string{"plugin", "worker"}, pids: []int{s.plugin.Pid(), s.worker.p.Pid()}}
	if o.stack != nil {
		for _, name := range stack.Services {
			procs.names = append(procs.names, name)
			procs.pids = append(procs.pids, o.stack.Temporal.Pid(name))
		}
		procs.names = append(procs.names, "postgres")
		procs.pids = append(procs.pids, o.stack.PG.Pid())
		procs.tree = len(procs.pids) - 1 // postgres serves each connection from a child
	} else {
		procs.names = append(procs.names, "temporal")
		procs.pids = append(procs.pids, s.temporal.Pid())
		procs.tree = -1
	}
	procs.names = append(procs.names, "stand-ins+driver")
	procs.pids = append(procs.pids, os.Getpid())
	ctx := context.Background()
	rpc, err := cln.Dial(ctx, filepath.Join(s.node.Dir, s.node.RPCFile), "bench")
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	c := s.client()
	var rows [][]string
	var notes []string
	add := func(cols ...string) {
		rows = append(rows, cols)
		t.Logf("%s", strings.Join(cols, " | "))
	}
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
	// The cost of any plugin method: lightningd → plugin → lightningd
	// (lnplaylive-noop exists only in the bench build).
	noop := func(int) error {
		_, rerr := s.call("lnplaylive-noop", map[string]any{})
		if rerr != nil {
			return rerr
		}
		return nil
	}
	// The plainest start a client can make: a client of its own without a
	// codec, no memo, no search attributes, default options, a trivial
	// workflow on a queue a worker serves.
	plain, plainQueue := plainStarter(t, s.addr)
	plainStart := func(int) error {
		_, err := plain.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "floor-" + order.NewID().String(), TaskQueue: plainQueue}, floorWorkflow)
		return err
	}

	// The order's own start, as createorder makes it (its memo, search
	// attributes and id policy, encrypted, on the worker's queue), without
	// the plugin: between it and the plainest start is the cost of the
	// workflow's shape; between it and createorder, the plugin's.
	orderStart := func(int) error {
		in := workflows.OrderInput{OrderID: order.NewID(), NodeCount: 8, Hours: 3, Topology: order.DefaultTopology,
			AmountMsat: 24_000_000, InvoiceExpiresAt: time.Now().Add(2 * time.Hour), StatusQueue: ""}
		attrs, memo := workflows.StartAttributes(in)
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.OrderID.WorkflowID(), TaskQueue: s.taskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, WorkflowExecutionErrorWhenAlreadyStarted: true,
			TypedSearchAttributes: attrs, Memo: memo}, workflows.OrderWorkflow, in)
		return err
	}

	// Warm up every path once.
	_ = orderStart(-1)
	_ = bareInvoice(-1)
	_ = noop(-1)
	_ = plainStart(-1)
	_ = createorder(-1)

	// createorder, one caller and twenty, against its floor: the plugin
	// hop, the invoice and the plainest start. The floors and the measured
	// path alternate in rounds, so a machine that slows down mid-run slows
	// both alike, and each segment begins on a quiet server: what one
	// segment's workflows leave to do (their first tasks) must not land in
	// the next one's figures. (An earlier floor measured its starts right
	// after createorder's, and carried that work: 34 ms against 9.5 ms for
	// the same start on an idle server.)
	// LNPLAYLIVE_BENCH_ONLY=createorder or =invoicestatus measures one of
	// the two (and what comes after invoicestatus), for work on either.
	only := os.Getenv("LNPLAYLIVE_BENCH_ONLY")
	if only != "invoicestatus" {
		benchCreateOrder(t, add, procs, noop, bareInvoice, plainStart, orderStart, createorder)
	}
	if only == "createorder" {
		return benchSection{title: title, rows: rows, notes: notes}
	}

	// 1,000 open orders polled twice a second each; a tenth of them paid,
	// answered from the state their workflows publish.
	ids := make([]string, 1000)
	run(t, len(ids), 20, func(i int) error {
		raw, rerr := s.call("lnplaylive-createorder", createParams)
		if rerr != nil {
			return rerr
		}
		var r order.CreateReply
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		ids[i] = string(r.BOLT11InvoiceID)
		return nil
	})
	for _, id := range ids[:100] {
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
	}
	// Steady state, as a front end polling for a while sees it: every paid
	// order's first provisioning activity is running (the burst of work a
	// hundred payments make is over) and each order has been polled once.
	for _, id := range ids[:100] {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(string(s.status(id).DeploymentDetails), `"acquiring_host"`) {
			if time.Now().After(deadline) {
				t.Fatalf("order %s never reached acquiring_host: %s %s", id, s.status(id).InvoiceStatus, s.status(id).DeploymentDetails)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(5 * time.Second)
	for _, id := range ids {
		s.status(id)
	}
	const rate, seconds = 2000, 12
	// Orders the plugin's index does not hold: invoices made as createorder
	// makes them, by another plugin instance on this node (so no workflow
	// either). They are answered the slow way, asking lightningd.
	unknown := make([]string, len(ids))
	for i := range unknown {
		id := order.NewID()
		if _, err := rpc.CreateInvoice(ctx, cln.InvoiceRequest{AmountMsat: 24_000_000, Label: id.Label(),
			Description: order.Description(order.Request{NodeCount: 8, Hours: 3, Topology: order.DefaultTopology}), Expiry: 7200}); err != nil {
			t.Fatal(err)
		}
		unknown[i] = string(id)
	}
	statusParams := func(id string) map[string]any { return map[string]any{"payment_type": "bolt11", "invoice_id": id} }
	// The floors, at the same open-loop rate, under the same background
	// (the paid orders' provisioning polls): bare listinvoices label=…
	// through the same lightningd, and the plugin's no-op method with
	// invoicestatus's params. They alternate with invoicestatus in rounds.
	listOnce := func(i int) (time.Duration, error) {
		s0 := time.Now()
		_, _, err := rpc.InvoiceByLabel(ctx, "lnplaylive-"+ids[i%len(ids)])
		return time.Since(s0), err
	}
	nopOnce := func(i int) (time.Duration, error) {
		s0 := time.Now()
		_, rerr := s.call("lnplaylive-noop", statusParams(ids[i%len(ids)]))
		if rerr != nil {
			return time.Since(s0), rerr
		}
		return time.Since(s0), nil
	}
	var paidPolls lat
	var pmu sync.Mutex
	var failed atomic.Int64
	profiling := false
	poll := func(i int) (time.Duration, error) {
		s0 := time.Now()
		_, rerr := s.call("lnplaylive-invoicestatus", statusParams(ids[i%len(ids)]))
		d := time.Since(s0)
		if i%len(ids) < 100 && !profiling {
			pmu.Lock()
			paidPolls = append(paidPolls, d)
			pmu.Unlock()
		}
		if rerr != nil {
			failed.Add(1)
			return d, rerr
		}
		return d, nil
	}
	// Measured without profiling (a CPU profile's signals land in the
	// tail), then profiled in a run of its own for where the CPU goes.
	var list, nops, polls lat
	var wall time.Duration
	for range 3 {
		l, _ := openLoop(t, rate, seconds/3, listOnce)
		list = append(list, l...)
		l, _ = openLoop(t, rate, seconds/3, nopOnce)
		nops = append(nops, l...)
		l, w := openLoop(t, rate, seconds/3, poll)
		polls, wall = append(polls, l...), wall+w
	}
	achieved := float64(len(polls)) / wall.Seconds()
	cpu0 := procs.cpu()
	pluginProf := profile(t, pluginDebug, filepath.Join(profDir, "plugin-invoicestatus.cpu.pprof"), 8*time.Second)
	workerProf := profile(t, workerDebug, filepath.Join(profDir, "worker-invoicestatus.cpu.pprof"), 8*time.Second)
	standIn, _ := os.Create(filepath.Join(profDir, "stand-ins-invoicestatus.cpu.pprof"))
	_ = pprof.StartCPUProfile(standIn)
	profiling = true // set before the profiled run's callers start
	_, profWall := openLoop(t, rate, 8, poll)
	pprof.StopCPUProfile()
	standIn.Close()
	add("invoicestatus, 1,000 orders at 2,000/s (10 % paid)", ms(polls.pct(.5)), ms(polls.pct(.99)), ms(polls.pct(1)), fmt.Sprintf("%.0f/s", achieved),
		fmt.Sprintf("from memory: p50 %.2f×, p99 %.2f× the no-op method (p50 %s, p99 %s); p50 %.2f×, p99 %.2f× bare listinvoices (p50 %s, p99 %s); paid orders alone: p50 %s, p99 %s; %d failed; %s",
			ratio(polls, nops, .5), ratio(polls, nops, .99), ms(nops.pct(.5)), ms(nops.pct(.99)),
			ratio(polls, list, .5), ratio(polls, list, .99), ms(list.pct(.5)), ms(list.pct(.99)),
			ms(paidPolls.pct(.5)), ms(paidPolls.pct(.99)), failed.Load(), procs.cpuSince(cpu0, profWall)),
		"p50, p99 ≤ 1.2× no-op and ≤ 1× listinvoices")
	slow, _ := openLoop(t, rate, seconds, func(i int) (time.Duration, error) {
		s0 := time.Now()
		_, rerr := s.call("lnplaylive-invoicestatus", statusParams(unknown[i%len(unknown)]))
		if rerr != nil {
			return time.Since(s0), rerr
		}
		return time.Since(s0), nil
	})
	add("invoicestatus of 1,000 orders the index does not hold, at 2,000/s", ms(slow.pct(.5)), ms(slow.pct(.99)), ms(slow.pct(1)), "",
		fmt.Sprintf("asking lightningd: p50 %.2f×, p99 %.2f× the no-op method; p50 %.2f×, p99 %.2f× bare listinvoices",
			ratio(slow, nops, .5), ratio(slow, nops, .99), ratio(slow, list, .5), ratio(slow, list, .99)), "shown, no target")
	notes = append(notes, "plugin CPU profile during invoicestatus at 2,000/s (top functions):\n\n```\n"+trimTop(pluginProf())+"```",
		"stand-ins and driver (this test process: the lightningd stand-in validating every message, the callers) during the same run:\n\n```\n"+trimTop(pprofTop(standIn.Name()))+"```",
		"worker CPU profile during invoicestatus at 2,000/s (top functions):\n\n```\n"+trimTop(workerProf())+"```")

	if os.Getenv("LNPLAYLIVE_BENCH_NO_REALCLN") == "" {
		add(benchRealCLN(t, s, rate, seconds)...)
	}

	// A change of a paid order's state is visible: pay, then poll (as the
	// front end does, twice a second) until the workflow's own progress
	// shows. This crosses lightningd, the follower, the signal, the
	// workflow task and the published state.
	var visible lat
	for _, id := range ids[100:120] {
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
		s0 := time.Now()
		for {
			st := s.status(id)
			if strings.Contains(string(st.DeploymentDetails), `"acquiring_host"`) {
				break
			}
			if time.Since(s0) > 10*time.Second {
				t.Fatalf("order %s: progress never visible: %s", id, st.DeploymentDetails)
			}
			time.Sleep(500 * time.Millisecond)
		}
		visible = append(visible, time.Since(s0))
	}
	add("paid order's state change visible (polled 2×/s)", ms(visible.pct(.5)), ms(visible.pct(.99)), ms(visible.pct(1)), "",
		"payment → workflow progress shown by invoicestatus", "≤ 1 s")

	// Payment → first provisioning activity started: the pending
	// activity's start time as Temporal recorded it (a running activity's
	// started event reaches the history only when it ends).
	var toActivity lat
	for _, id := range ids[120:170] {
		paidAt := time.Now()
		if err := s.node.Pay("lnplaylive-" + id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			desc, err := c.DescribeWorkflowExecution(ctx, "lnplaylive-"+id, "")
			if err == nil && len(desc.GetPendingActivities()) > 0 && desc.GetPendingActivities()[0].GetLastStartedTime() != nil {
				toActivity = append(toActivity, desc.GetPendingActivities()[0].GetLastStartedTime().AsTime().Sub(paidAt))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	add("payment → first provisioning activity started", ms(toActivity.pct(.5)), ms(toActivity.pct(.99)), ms(toActivity.pct(1)), "",
		fmt.Sprintf("%d orders; lightningd → follower → signal → workflow task → activity", len(toActivity)), "p99 ≤ 200 ms")

	// Meanwhile, on a second installation, one order through a real-latency
	// model of Hetzner and the SSH bootstrap, then its expiry.
	modelled := make(chan [][]string, 1)
	if model {
		go func() {
			rows := modelledProvisioning(t, models[0], "≤ 120 s", true)
			modelled <- append(rows, modelledProvisioning(t, models[1], "≤ 240 s", false)...)
		}()
	} else {
		modelled <- nil
	}

	// Many live orders: fill up to target and read every process's memory
	// and the plugin's goroutines (there must be none per order).
	total := 1 + 200 + 100 + 400 + len(ids) // warm-up, 1 caller, served starts, 20 callers, polled
	g0 := goroutines(pluginDebug)
	fillTput := 0.0
	cpu0 = procs.cpu()
	fillStart := time.Now()
	if target > total {
		fillProf := profile(t, workerDebug, filepath.Join(profDir, "worker-fill.cpu.pprof"), 10*time.Second)
		_, fillTput = run(t, target-total, 20, createorder)
		notes = append(notes, "worker CPU profile while filling to the live orders (first 10 s; top functions):\n\n```\n"+trimTop(fillProf())+"```")
	}
	fillCPU := "no fill (target reached)"
	if target > total {
		fillCPU = procs.cpuSince(cpu0, time.Since(fillStart))
	}
	time.Sleep(5 * time.Second)
	running := 0
	if resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running'"}); err == nil {
		running = int(resp.GetCount())
	}
	heap, _ := debugGet(workerDebug, "/debug/pprof/heap")
	_ = os.WriteFile(filepath.Join(profDir, "worker-live-orders.heap.pprof"), heap, 0o644)
	add(fmt.Sprintf("%d live orders (%d running workflows)", max(target, total), running), "", "", "", fmt.Sprintf("filled at %.0f/s", fillTput),
		fmt.Sprintf("RSS (postgres: PSS of all its processes) %s; plugin goroutines %d → %d, fill %s", procs.rss(), g0, goroutines(pluginDebug), fillCPU),
		"≥ 100/s; worker ≤ 300 MB, plugin ≤ 100 MB, no goroutine per order")

	rows = append(rows, <-modelled...)
	return benchSection{title: title, rows: rows, notes: notes}
}

// writeBenchmarks writes docs/BENCHMARKS.md: the backends side by side.
func writeBenchmarks(t *testing.T, sections []benchSection, profDir string) {

	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (e2e/bench_test.go) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "**Machine:** %s, %d cores, %s; %s.\n\n", cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version())
	b.WriteString(benchMethod)
	if len(sections) >= 2 { // the two backends; the warm pool has its own section
		b.WriteString(sideBySide(sections[:2]))
	}
	for _, sec := range sections {
		b.WriteString("\n## Results: " + sec.title + "\n\n| what | p50 | p99 | max | throughput | against the floor, and where the CPU went | target |\n|---|---|---|---|---|---|---|\n")
		for _, r := range sec.rows {
			b.WriteString("| " + strings.Join(r, " | ") + " |\n")
		}
	}
	if analysis, err := os.ReadFile("testdata/bench-analysis.md"); err == nil {
		b.WriteString("\n")
		b.Write(analysis)
	}
	shown := profDir
	if root, err := filepath.Abs(".."); err == nil {
		if rel, err := filepath.Rel(root, profDir); err == nil && !strings.HasPrefix(rel, "..") {
			shown = rel
		}
	}
	b.WriteString("\n## Profiles of this run\n\nSaved in `" + shown + "` (`go tool pprof -top <file>`).\n")
	for _, sec := range sections {
		b.WriteString("\n### " + sec.title + "\n")
		for _, n := range sec.notes {
			b.WriteString("\n" + n + "\n")
		}
	}
	// The real-chain provisioning bench (infra/playground) and the
	// storefront's ran first and left their sections.
	for _, name := range []string{"realchain.md", "storefront.md"} {
		if sec, err := os.ReadFile(filepath.Join(profDir, name)); err == nil {
			b.WriteString("\n" + string(sec))
		}
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("LNPLAYLIVE_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// benchCreateOrder measures createorder, one caller and twenty, against
// its floor: the plugin hop, the invoice and the plainest start.
func benchCreateOrder(t *testing.T, add func(...string), procs benchProcs, noop, bareInvoice, plainStart, orderStart, createorder func(int) error) {
	quiet := func() { time.Sleep(time.Second) }
	var inv, nop, served, ost, co lat
	for range 4 {
		for _, seg := range []struct {
			l *lat
			f func(int) error
		}{{&nop, noop}, {&inv, bareInvoice}, {&served, plainStart}, {&ost, orderStart}, {&co, createorder}} {
			quiet()
			l, _ := run(t, 50, 1, seg.f)
			*seg.l = append(*seg.l, l...)
		}
	}
	floor, floor99 := nop.pct(.5)+inv.pct(.5)+served.pct(.5), nop.pct(.99)+inv.pct(.99)+served.pct(.99)
	add("createorder, 1 caller", ms(co.pct(.5)), ms(co.pct(.99)), ms(co.pct(1)), "",
		fmt.Sprintf("p50 %.2f×, p99 %.2f× floor (plugin method %s + invoice %s + plainest served start %s; p99 %s + %s + %s); the order's own start without the plugin: p50 %s, p99 %s",
			float64(co.pct(.5))/float64(floor), float64(co.pct(.99))/float64(floor99),
			ms(nop.pct(.5)), ms(inv.pct(.5)), ms(served.pct(.5)), ms(nop.pct(.99)), ms(inv.pct(.99)), ms(served.pct(.99)),
			ms(ost.pct(.5)), ms(ost.pct(.99))), "p50 ≤ 1.2× (PostgreSQL)")
	var st20, ost20, co20 lat
	var st20Tput, ost20Tput, co20Tput float64
	cpu20 := procs.cpu()
	var co20Wall time.Duration
	for range 2 {
		quiet()
		l, tp := run(t, 200, 20, plainStart)
		st20, st20Tput = append(st20, l...), st20Tput+tp/2
		quiet()
		l, tp = run(t, 200, 20, orderStart)
		ost20, ost20Tput = append(ost20, l...), ost20Tput+tp/2
		quiet()
		w0 := time.Now()
		l, tp = run(t, 200, 20, createorder)
		co20Wall += time.Since(w0)
		co20, co20Tput = append(co20, l...), co20Tput+tp/2
	}
	add("createorder, 20 callers", ms(co20.pct(.5)), ms(co20.pct(.99)), ms(co20.pct(1)), fmt.Sprintf("%.0f/s", co20Tput),
		fmt.Sprintf("throughput %.2f× the plainest served starts (%.0f/s); p99 %.2f× theirs (%s); the order's own start without the plugin: %.0f/s (%.2f×); CPU over the whole round (all three) %s",
			co20Tput/st20Tput, st20Tput, float64(co20.pct(.99))/float64(st20.pct(.99)), ms(st20.pct(.99)), ost20Tput, ost20Tput/st20Tput,
			procs.cpuSince(cpu20, co20Wall*3)),
		"≥ 0.9× (SQLite) / p99 ≤ 1.3×")
}

// ratio is a's percentile p over b's.
func ratio(a, b lat, p float64) float64 { return float64(a.pct(p)) / float64(b.pct(p)) }

// floorWorkflow is the trivial workflow of createorder's floor.
func floorWorkflow(workflow.Context) error { return nil }

// plainStarter is a plain client of Temporal at addr (no codec, no
// interceptors) and a queue its own worker serves with floorWorkflow.
func plainStarter(t *testing.T, addr string) (client.Client, string) {
	c, err := client.Dial(client.Options{HostPort: addr, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	queue := "plain-floor-" + order.NewID().String()[:8]
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(floorWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c, queue
}

// postgresVersion is the server's version, as its binary reports it.
func postgresVersion() string {
	out, err := exec.Command("psql", "--version").Output()
	if err != nil {
		return ""
	}
	// "psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

// sideBySide sets the backends' key figures beside each other.
func sideBySide(sections []benchSection) string {
	var b strings.Builder
	b.WriteString("\n## Side by side\n\n| what | SQLite p50 | SQLite p99 | SQLite throughput | PostgreSQL p50 | PostgreSQL p99 | PostgreSQL throughput |\n|---|---|---|---|---|---|---|\n")
	pg := map[string][]string{}
	for _, r := range sections[1].rows {
		pg[benchKey(r[0])] = r
	}
	for _, r := range sections[0].rows {
		if q, ok := pg[benchKey(r[0])]; ok {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r[0], r[1], r[2], r[4], q[1], q[2], q[4])
		}
	}
	return b.String()
}

// benchKey matches rows across backends (the live-orders row names counts).
func benchKey(what string) string {
	if i := strings.Index(what, " live orders"); i >= 0 {
		return "live orders"
	}
	return what
}

const benchMethod = `## Method

Every figure goes through the built binaries: the plugin under the lightningd
stand-in (the same JSON-RPC over stdin/stdout and the same RPC socket calls as
lightning-cli and lightningd), the worker, and Temporal. Each measurement runs
twice, on two backends in one run: the dev server on SQLite, and ` + "`make stack`" + `'s
cluster (PostgreSQL, Temporal's frontend, history, matching and worker as
separate processes). Floors are measured in the same run, interleaved with
what they bound:

- **createorder** against its floor: the plugin's no-op method
  (` + "`lnplaylive-noop`" + `, in the bench build only: lightningd → plugin →
  lightningd), plus a bare ` + "`invoice`" + ` on the same lightningd, plus the
  plainest start a client can make (a client of its own without a codec, no
  memo, no search attributes, a trivial workflow on a queue its worker
  serves). Each segment starts on a quiet server (1 s apart), so the first
  tasks one segment's workflows leave behind do not land in the next one's
  figures. The order's own start (its memo, search attributes and id policy,
  encrypted, on the worker's queue) made without the plugin is shown beside
  it: between it and the floor is the workflow's shape, between it and
  createorder the plugin;
- 20 callers against 20 concurrent plainest starts;
- **invoicestatus** against two floors through the same lightningd, at the
  same open-loop rate, under the same background, alternating with it in
  rounds: the plugin's no-op method (same params, a constant reply shaped
  as an unpaid order's status) and bare ` + "`listinvoices label=…`" + `.
  Orders the plugin's index does not hold (made by another instance on the
  node) are measured too: those are answered by asking lightningd.

invoicestatus is driven open-loop at 2,000 calls/s (a call every 0.5 ms,
whatever the answers' latency) over 1,000 open orders, 100 of them paid and
answered from the state their workflows push to the plugin. The worker's
provider is the Hetzner stand-in with servers that never finish booting, so
paid orders stay in ` + "`starting_deployment`" + ` while polled (each polls the
stand-in's action and heartbeats once a second: background load on
Temporal). The same is also measured with the plugin inside a
**real lightningd v25.12.1** (../shared/cln), 1,000 orders created through
it and 100 paid from a second real node over a real channel (on both
backends). CPU shares are
CPU time over wall time per process (100 % is one core); PostgreSQL is
counted with all its processes, its memory as their PSS. Profiles are taken
from the processes' pprof endpoints (` + "`--lnplaylive-debug-addr`" + `,
` + "`LNPLAYLIVE_DEBUG_ADDR`" + `).

The modelled provisioning rows run one 8-node and then one 64-node order on
a second installation whose stand-ins wait as the real services do (figures
in the rows; the channel phases measured on real lightningd, see
e2e/bench_model_test.go), beside the SQLite run; sshd, SFTP and the
bootstrap script are real, only the container runtime and the cloud API are
stand-ins.
`

// pprofTop summarises a profile: its top functions by flat time.
func pprofTop(file string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=12", file).CombinedOutput()
	if err != nil {
		return "pprof: " + err.Error() + "\n"
	}
	return string(out)
}

func trimTop(s string) string {
	lines := strings.Split(s, "\n")
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Build ID") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	var kb int
	fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
	return fmt.Sprintf("%.1f GB RAM", float64(kb)/1024/1024)
}
