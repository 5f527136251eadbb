package playground

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times.
const clockTicks = 100

// benchRow is one provisioning on the real chain.
type benchRow struct {
	nodes    int
	settings string
	total    time.Duration
	phases   []string
	cpuPeak  float64 // cores
	rssPeak  int64
	refused  int // bitcoind's work-queue refusals
	restarts int // node containers restarted (a failed start-up check)
	err      error
}

// `make bench`: 8, 16, 32 and 64 real lightningd nodes provisioned on
// real bitcoind, with the compose file's own settings, and at 32 and 64
// with the settings before issue 21 (Bitcoin Core's RPC defaults, every
// node polling each second). Per phase time, peak CPU (cores, sampled
// every 500 ms) and RSS of every process in the containers, bitcoind's
// refused calls and the nodes' restarts. CPU is the machine's, in busy
// cores over one-second samples; RSS the sum over the containers' processes. Written to
// $LNPLAYLIVE_BENCH_PROFILES/realchain.md, which make bench's report
// includes.
func TestBenchRealChain(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_BENCH") == "" {
		t.Skip("a benchmark: run `make bench`")
	}
	var rows []benchRow
	for i, c := range []struct {
		n      int
		sizing Sizing
		name   string
	}{
		{8, Sizing{}, "sized"}, {16, Sizing{}, "sized"}, {32, Sizing{}, "sized"}, {64, Sizing{}, "sized"},
		{32, DefaultsBeforeSizing, "before"}, {64, DefaultsBeforeSizing, "before"},
	} {
		rows = append(rows, benchProvision(t, c.n, c.sizing, c.name, 7000+100*i))
		t.Logf("%+v", rows[len(rows)-1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## The playground on the real chain (issue 21)\n\nReal Bitcoin Core and real lightningd v25.12.1, run as the compose file says by the container engine double, bootstrapped over a real sshd; measured %s. `sized`: the compose file's settings (-rpcthreads, -rpcworkqueue and --dev-bitcoind-poll by node count); `before`: Bitcoin Core's defaults (4 threads, a queue of 16) and a poll every second, as before. Peak CPU: the machine's busy cores (of its 2) over one-second samples. Peak RSS: the sum over every process in the containers (pages shared between processes count once per process).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("| nodes | settings | provisioned in | peak CPU (cores) | peak RSS | bitcoind refused calls | node restarts | phases |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		total := r.total.Round(time.Second).String()
		if r.err != nil {
			total = "failed: " + strings.ReplaceAll(truncate(r.err.Error()), "|", "/")
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.2f | %d MB | %d | %d | %s |\n", r.nodes, r.settings, total, r.cpuPeak, r.rssPeak>>20, r.refused, r.restarts, strings.Join(r.phases, ", "))
	}
	t.Log("\n" + b.String())
	if dir := os.Getenv("LNPLAYLIVE_BENCH_PROFILES"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "realchain.md"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rows {
		if r.settings == "sized" && (r.err != nil || r.refused > 0) {
			t.Errorf("%d nodes with the compose file's settings: %v, %d refused calls (target 0)", r.nodes, r.err, r.refused)
		}
	}
}

// busyTicks is the machine's busy CPU time so far (/proc/stat: user, nice,
// system, irq, softirq, steal), in clock ticks: the bench has the machine
// to itself, so its peak is the playground's and the bootstrap's.
func busyTicks(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for _, k := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		busy += v
	}
	return busy
}

func benchProvision(t *testing.T, n int, sizing Sizing, name string, portBase int) benchRow {
	r := newRealChain(t, portBase, portBase+20000)
	r.b.cfg.Sizing = sizing
	row := benchRow{nodes: n, settings: name}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lastCPU, last := busyTicks(t), time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			cpu, now := busyTicks(t), time.Now()
			if cores := float64(cpu-lastCPU) / clockTicks / now.Sub(last).Seconds(); cores > row.cpuPeak {
				row.cpuPeak = cores
			}
			row.rssPeak = max(row.rssPeak, r.e.RSS())
			lastCPU, last = cpu, now
		}
	}()
	id := fmt.Sprintf("bench%d%s", n, name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	phaseStart, phase := start, ""
	_, err := r.b.Bootstrap(ctx, Request{OrderID: id, NodeCount: n, Topology: order.TopologyMesh}, r.host, func(step string, _ int) {
		if step != phase {
			if phase != "" {
				row.phases = append(row.phases, fmt.Sprintf("%s %s", phase, time.Since(phaseStart).Round(100*time.Millisecond)))
			}
			phase, phaseStart = step, time.Now()
		}
	})
	row.total, row.err = time.Since(start), err
	if phase != "" {
		row.phases = append(row.phases, fmt.Sprintf("%s %s", phase, time.Since(phaseStart).Round(100*time.Millisecond)))
	}
	close(stop)
	wg.Wait()
	p := r.project(id)
	row.refused = strings.Count(r.e.Log(p.Name, "bitcoind"), "work queue depth exceeded")
	for i := 1; i <= n; i++ {
		row.restarts += r.e.Inspect(t, p.Name, fmt.Sprintf("cln-%d", i)).Restarts
	}
	// Free the cores for the next size.
	r.e.Docker(t, "compose", "-p", p.Name, "down", "-v")
	return row
}
