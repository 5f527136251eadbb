// Package e2e runs lnplaylive end to end: the built plugin binary under the
// lightningd stand-in, the built worker binary, and a real Temporal dev
// server on SQLite.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/internal/proc"
	"github.com/lnplaylive/lnplaylive/internal/stack"
	"github.com/lnplaylive/lnplaylive/internal/temporalconn"
	"github.com/lnplaylive/lnplaylive/internal/testworld/clntest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/order"
)

// system is one lnplaylive installation under test.
type system struct {
	t *testing.T
	// temporal is the dev server the system runs on, unless it runs on a
	// stack (options.stack); addr is the frontend either way.
	temporal  *devserver.Server
	addr      string
	workers   []*process // more workers beside worker (options.workers)
	node      *clntest.Node
	plugin    *clntest.Plugin
	pluginCfg clntest.PluginConfig
	worker    *process
	workerBin string
	workerEnv []string
	taskQueue string
	codecKeys string
}

// client dials Temporal as the plugin and worker do, with the codec.
func (s *system) client() client.Client {
	s.t.Helper()
	opts, err := temporalconn.Config{Address: s.addr, CodecKeysFile: s.codecKeys}.Options(slog.New(slog.DiscardHandler))
	if err != nil {
		s.t.Fatal(err)
	}
	c, err := client.Dial(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(c.Close)
	return c
}

type options struct {
	invoiceExpiry int // seconds
	// workerEnv is added to the worker's environment (a provider, say).
	// Without one the worker gets a parked provider: a Hetzner stand-in
	// whose servers never finish booting, so paid orders stay in
	// starting_deployment for as long as a test looks.
	workerEnv []string
	// noProvider starts the worker with no provider at all.
	noProvider bool
	// pluginOptions override the plugin's lightningd options.
	pluginOptions map[string]any
	// stack runs the system on a PostgreSQL-backed Temporal cluster
	// instead of a dev server of its own.
	stack *stack.Stack
	// workers is how many worker processes run (default 1).
	workers int
	// warm is LNPLAYLIVE_WARM for the fault suite's workers.
	warm string
}

func newSystem(t *testing.T, o options) *system {
	t.Helper()
	pluginBin, err := testbin.Path("lnplaylive-plugin")
	if err != nil {
		t.Fatal(err)
	}
	workerBin, err := testbin.Path("lnplaylive-worker")
	if err != nil {
		t.Fatal(err)
	}
	s := &system{t: t, node: clntest.NewNode(t), taskQueue: taskQueueFor(t)}
	if o.stack != nil {
		s.addr = o.stack.Temporal.Address()
	} else {
		s.temporal = devserver.Start(t)
		s.addr = s.temporal.Address()
	}
	// Every payload is encrypted, as in production: runes must never reach
	// Temporal's database in clear.
	s.codecKeys = filepath.Join(t.TempDir(), "codec.keys")
	if err := os.WriteFile(s.codecKeys, []byte(codec.NewKeyLine("test-1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.invoiceExpiry == 0 {
		o.invoiceExpiry = 300
	}
	s.pluginCfg = clntest.PluginConfig{
		Path:      pluginBin,
		Developer: true, // lightningd --developer passes --developer to plugins
		Options: map[string]any{
			"lnplaylive-temporal-address": s.addr,
			"lnplaylive-task-queue":       s.taskQueue,
			"lnplaylive-invoice-expiry":   o.invoiceExpiry,
			"lnplaylive-status-cache-ms":  100,
			"lnplaylive-codec-keys-file":  s.codecKeys,
		},
	}
	for k, v := range o.pluginOptions {
		s.pluginCfg.Options[k] = v
	}
	if len(o.workerEnv) == 0 && !o.noProvider {
		o.workerEnv = parkedProviderEnv(t)
	}
	s.workerEnv = append([]string{"TEMPORAL_ADDRESS=" + s.addr, "LNPLAYLIVE_TASK_QUEUE=" + s.taskQueue,
		"HCLOUD_TOKEN=", "LNPLAYLIVE_CODEC_KEYS_FILE=" + s.codecKeys, "LNPLAYLIVE_METRICS_ADDR=127.0.0.1:0"}, o.workerEnv...)
	s.worker = startProcess(t, workerBin, s.workerEnv)
	for i := 1; i < o.workers; i++ {
		s.workers = append(s.workers, startProcess(t, workerBin, s.workerEnv))
	}
	s.workerBin = workerBin
	s.waitCapacityRegistered()
	s.startPlugin()
	return s
}

// taskQueueFor names a test's task queue: the tests sharing one stack are
// kept apart by it (the capacity workflow and sweeper are per queue).
func taskQueueFor(t *testing.T) string {
	name := strings.ToLower(t.Name())
	if len(name) > 120 {
		sum := sha256.Sum256([]byte(name))
		name = name[:100] + "-" + hex.EncodeToString(sum[:6])
	}
	return "lnplaylive-" + name
}

// parkedProviderEnv configures a Hetzner stand-in whose create actions
// never finish (polled once a second, so parked orders cost little).
func parkedProviderEnv(t *testing.T) []string {
	api := hetznertest.New(t)
	api.ActionPolls = 1 << 30
	api.ActionTime = 24 * time.Hour
	return append(hetznerEnv(t, api), "LNPLAYLIVE_HETZNER_POLL_MS=1000")
}

// waitCapacityRegistered waits until the worker has told the capacity
// workflow its provider, so the plugin's first createorder sees it.
func (s *system) waitCapacityRegistered() {
	s.t.Helper()
	c := capacity.Client{Temporal: s.client(), TaskQueue: s.taskQueue, DataConverter: s.dataConverter()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		kind, err := c.Provider(ctx)
		cancel()
		if err == nil && kind != "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("worker did not register its provider (last error %v); worker output:\n%s", err, s.worker.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dataConverter is the codec-encrypting converter the processes use.
func (s *system) dataConverter() converter.DataConverter {
	s.t.Helper()
	opts, err := temporalconn.Config{Address: s.addr, CodecKeysFile: s.codecKeys}.Options(slog.New(slog.DiscardHandler))
	if err != nil {
		s.t.Fatal(err)
	}
	return opts.DataConverter
}

func (s *system) startPlugin() {
	s.t.Helper()
	p, err := s.node.StartPlugin(s.pluginCfg)
	if err != nil {
		s.t.Fatalf("start plugin: %v\nstderr: %s", err, p.Stderr())
	}
	if p.Disabled != "" {
		s.t.Fatalf("plugin disabled itself: %s", p.Disabled)
	}
	s.plugin = p
	s.t.Cleanup(func() {
		if f := p.Fatal(); f != "" {
			s.t.Errorf("plugin broke the protocol: %s", f)
		}
		if s.t.Failed() {
			logs := p.Logs()
			if len(logs) > 40 {
				logs = logs[len(logs)-40:]
			}
			s.t.Logf("plugin logs (last 40): %v\nstderr: %s", logs, p.Stderr())
		}
	})
}

func (s *system) call(method string, params any) (json.RawMessage, *clntest.RPCError) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.plugin.Call(ctx, method, params)
}

func (s *system) createOrder(params any) order.CreateReply {
	s.t.Helper()
	raw, rerr := s.call("lnplaylive-createorder", params)
	if rerr != nil {
		s.t.Fatalf("createorder %v: %v", params, rerr)
	}
	var r order.CreateReply
	if err := json.Unmarshal(raw, &r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

// status is an invoicestatus reply with deployment_details left raw.
type status struct {
	InvoiceID         string          `json:"invoice_id"`
	PaymentType       string          `json:"payment_type"`
	InvoiceStatus     string          `json:"invoice_status"`
	DeploymentDetails json.RawMessage `json:"deployment_details"`
}

func (st status) deployment(t *testing.T) order.Deployment {
	t.Helper()
	var d order.Deployment
	if err := json.Unmarshal(st.DeploymentDetails, &d); err != nil {
		t.Fatalf("deployment_details %s: %v", st.DeploymentDetails, err)
	}
	return d
}

func (s *system) status(id string) status {
	s.t.Helper()
	st, rerr := s.tryStatus(id)
	if rerr != nil {
		s.t.Fatalf("invoicestatus %s: %v", id, rerr)
	}
	return st
}

func (s *system) tryStatus(id string) (status, *clntest.RPCError) {
	raw, rerr := s.call("lnplaylive-invoicestatus", map[string]any{"payment_type": "bolt11", "invoice_id": id})
	if rerr != nil {
		return status{}, rerr
	}
	var st status
	if err := json.Unmarshal(raw, &st); err != nil {
		s.t.Fatal(err)
	}
	return st, nil
}

// waitStatus polls invoicestatus, as the front end does, until ok accepts it.
func (s *system) waitStatus(id string, timeout time.Duration, ok func(status) bool) status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, rerr := s.tryStatus(id)
		// While Temporal or the worker is coming back the plugin may say
		// so; any other error is a failure.
		if rerr != nil && !strings.Contains(rerr.Message, "temporarily unavailable") {
			s.t.Fatalf("invoicestatus %s: %v", id, rerr)
		}
		if rerr == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %s: status still %s %s after %s", id, st.InvoiceStatus, st.DeploymentDetails, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func paidAndDeploying(st status) bool {
	return st.InvoiceStatus == "paid" && bytes.Contains(st.DeploymentDetails, []byte(`"starting_deployment"`))
}

// process is a child process with its output kept for failure reports.
type process struct {
	t   *testing.T
	bin string
	env []string
	p   *proc.Proc
	out *syncBuffer
}

func startProcess(t *testing.T, bin string, env []string) *process {
	p := &process{t: t, bin: bin, env: env, out: &syncBuffer{}}
	p.start()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, p.out.String())
		}
	})
	return p
}

func (p *process) start() {
	cmd := exec.Command(p.bin)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	var err error
	if p.p, err = proc.Start(cmd); err != nil {
		p.t.Fatal(err)
	}
}

func (p *process) signal(sig syscall.Signal) { p.p.Stop(sig, 20*time.Second) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
