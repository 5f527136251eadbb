package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
)

// rpcTap sits between the storefront and lightningd's socket and records
// when each order's invoicestatus reaches lightningd.
type rpcTap struct {
	path string
	mu   sync.Mutex
	seen map[string][]time.Time
}

func startRPCTap(t *testing.T, target string) *rpcTap {
	t.Helper()
	tap := &rpcTap{path: filepath.Join(t.TempDir(), "tap-rpc"), seen: map[string][]time.Time{}}
	ln, err := net.Listen("unix", tap.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(c, up); c.Close() }()
			go func() {
				defer up.Close()
				dec := json.NewDecoder(bufio.NewReader(c))
				for {
					var req json.RawMessage
					if dec.Decode(&req) != nil {
						return
					}
					var m struct {
						Method string `json:"method"`
						Params struct {
							InvoiceID string `json:"invoice_id"`
						} `json:"params"`
					}
					if json.Unmarshal(req, &m) == nil && m.Method == "lnplaylive-invoicestatus" {
						tap.mu.Lock()
						tap.seen[m.Params.InvoiceID] = append(tap.seen[m.Params.InvoiceID], time.Now())
						tap.mu.Unlock()
					}
					if _, err := up.Write(append(req, '\n')); err != nil {
						return
					}
				}
			}()
		}
	}()
	return tap
}

// maxPerSecond is the most invoicestatus calls any order got within any
// one second, and the calls in all.
func (tap *rpcTap) maxPerSecond() (most, total int) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	for _, ts := range tap.seen {
		total += len(ts)
		for i := range ts {
			n := 0
			for j := i; j < len(ts) && ts[j].Sub(ts[i]) < time.Second; j++ {
				n++
			}
			most = max(most, n)
		}
	}
	return most, total
}

// TestBenchStorefront: 1,000 open event streams on 100 orders, on the
// lightningd with the plugin (real where LNPLAYLIVE_REAL_CLN names a build); what lightningd sees, the first byte
// of an order page against a static file of the same binary, and the
// storefront's memory.
func TestBenchStorefront(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_BENCH") == "" {
		t.Skip("benchmarks run with `make bench`")
	}
	sys := newSystem(t, options{invoiceExpiry: 3600, pluginOptions: map[string]any{"lnplaylive-max-live-orders": 1000}})
	s := shopSeller(t, sys)
	tap := startRPCTap(t, s.rpcFile)
	sh := startShop(t, s, "LNPLAYLIVE_LIGHTNING_RPC="+tap.path, "LNPLAYLIVE_WEB_ORDERS_BURST=1000")
	ids := make([]order.ID, 100)
	for i := range ids {
		var r order.CreateReply
		if err := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3}, &r); err != nil {
			t.Fatal(err)
		}
		ids[i] = r.BOLT11InvoiceID
	}
	// Ten of them paid: their pages move while watched.
	for i := range 10 {
		s.payInvoice(t, s.payment(t, ids[i], 0).BOLT11Invoice)
	}
	const streams = 1000
	var open, events atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
	for i := range streams {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", sh.url+"/order/"+string(ids[i%len(ids)])+"/events", nil)
			cancel := make(chan struct{})
			req.Cancel = cancel
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			open.Add(1)
			go func() { <-stop; close(cancel) }()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: order") {
					events.Add(1)
				}
			}
		})
	}
	waitReal(t, "1,000 open streams", func() bool { return open.Load() == streams })
	tap.mu.Lock()
	tap.seen = map[string][]time.Time{} // count from here: all streams open
	tap.mu.Unlock()
	start := time.Now()
	// First byte of an order page, and of a static file, in turns, with
	// the streams open.
	firstByte := func(path string) time.Duration {
		t0 := time.Now()
		resp, err := http.Get(sh.url + path)
		if err != nil {
			t.Fatal(err)
		}
		var one [1]byte
		resp.Body.Read(one[:])
		d := time.Since(t0)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return d
	}
	var pages, statics []time.Duration
	for i := 0; time.Since(start) < 20*time.Second; i++ {
		pages = append(pages, firstByte("/order/"+string(ids[i%len(ids)])))
		statics = append(statics, firstByte("/static/style.css"))
	}
	wall := time.Since(start)
	rss, _ := procStat(sh.proc.Process.Pid)
	most, total := tap.maxPerSecond()
	close(stop)
	wg.Wait()
	p := func(ds []time.Duration, q float64) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[int(q*float64(len(ds)-1))]
	}
	pageP99, staticP99 := p(pages, 0.99), p(statics, 0.99)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "## The storefront: 1,000 event streams on 100 orders\n\n")
	fmt.Fprintf(&b, "`lnplaylive-web` on the real lightningd v25.12.1 with the plugin, 100 orders (10 paid), 1,000 open Server-Sent Events streams (10 per order), %s measured; lightningd's side seen by a tap on its socket.\n\n", wall.Round(time.Second))
	fmt.Fprintf(&b, "| what | measured | target | |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| invoicestatus reaching lightningd, most per order in any second | %d (%d in all, %.2f per order per second) | ≤ 1 | %s |\n",
		most, total, float64(total)/float64(len(ids))/wall.Seconds(), verdict(most <= 1))
	fmt.Fprintf(&b, "| first byte of an order page, p50 / p99 | %s / %s | p99 ≤ 2× the static file's | %s (%.2f×) |\n",
		ms(p(pages, 0.5)), ms(pageP99), verdict(pageP99 <= 2*staticP99), float64(pageP99)/float64(staticP99))
	fmt.Fprintf(&b, "| first byte of a static file (the floor), p50 / p99 | %s / %s | | |\n", ms(p(statics, 0.5)), ms(staticP99))
	fmt.Fprintf(&b, "| storefront RSS with the streams open | %.1f MB | ≤ 100 MB | %s |\n", rss, verdict(rss <= 100))
	fmt.Fprintf(&b, "| order events delivered | %d | | |\n", events.Load())
	t.Log("\n" + b.String())
	if dir := os.Getenv("LNPLAYLIVE_BENCH_PROFILES"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "storefront.md"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
