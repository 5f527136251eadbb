package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/internal/proc"
	"github.com/lnplaylive/lnplaylive/internal/stack"
	"github.com/lnplaylive/lnplaylive/internal/testworld/clntest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// The system on its production shape (`make test-stack`): PostgreSQL and
// Temporal's frontend, history, matching and worker services as separate
// processes on deploy/temporal/lnplaylive.yaml, with faults a cluster has.
// Every scenario ends in the fault suite's accounting: paid orders lost,
// duplicate VMs, leaked VMs.

// startStack starts a stack of the test's own on free ports, when the
// tests run on it (`make test-stack`).
func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	if os.Getenv("LNPLAYLIVE_STACK") == "" {
		t.Skip("runs on the PostgreSQL stack: `make test-stack`")
	}
	return newStack(t)
}

// newStack starts a stack on free ports in a directory of its own.
func newStack(t *testing.T) *stack.Stack {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	bins, err := stack.FindBinaries(filepath.Join(repo, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	bins.UI = "" // the Web UI is make stack's, not the tests'
	// PostgreSQL runs as user postgres, which must reach its directory:
	// t.TempDir is private to root.
	dir, err := os.MkdirTemp("", "lnplaylive-stack-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fp := func() int { return devserver.FreePort(t) }
	mp := func() int {
		p, err := stack.FreeMembershipPort()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ports := stack.Ports{Postgres: fp(), Frontend: fp(), FrontendHTTP: fp(), History: fp(), Matching: fp(), Worker: fp(),
		FrontendMembership: mp(), HistoryMembership: mp(), MatchingMembership: mp(), WorkerMembership: mp()}
	s := stack.New(dir, repo, ports, bins)
	var progress strings.Builder
	s.Progress = &progress
	t.Cleanup(func() {
		s.Down()
		if t.Failed() {
			// A line per t.Logf: make test-stack keeps only lines that
			// carry the test's file:line.
			for _, name := range stack.Services {
				for line := range strings.Lines(proc.Tail(filepath.Join(dir, "logs", "temporal-"+name+".log"), 15)) {
					t.Logf("temporal %s log: %s", name, strings.TrimRight(line, "\n"))
				}
			}
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Up(ctx); err != nil {
		for line := range strings.Lines(progress.String() + err.Error()) {
			t.Log(strings.TrimRight(line, "\n"))
		}
		t.Fatal("stack up failed")
	}
	for line := range strings.Lines(progress.String()) {
		t.Log(strings.TrimRight(line, "\n"))
	}
	supervise(t, s)
	return s
}

// supervise has the stack start again whatever exits unasked, as `make
// stack` does; a process given up on fails the test.
func supervise(t *testing.T, s *stack.Stack) {
	sup := s.Supervise(func(r proc.Restart) {
		t.Logf("stack: restarting %s (%s after %s), in %s", r.Name, r.Exit, r.RanFor.Round(time.Second), r.Delay.Round(time.Millisecond))
	})
	go func() {
		if err, ok := <-sup.Failed(); ok {
			t.Errorf("stack: %v", err)
		}
	}()
}

// killed SIGKILLs a process of the stack, runs during (payments arrive),
// and waits until the cluster serves again with no hand on it: the time
// from the kill to serving.
func killed(t *testing.T, s *stack.Stack, pid int, during func()) time.Duration {
	t.Helper()
	if pid == 0 {
		t.Fatal("no such process")
	}
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	during()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Temporal.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Since(at)
}

func TestStack(t *testing.T) {
	s := startStack(t)
	t.Cleanup(func() { printReport(t) })

	t.Run("services are separate processes on one PostgreSQL", func(t *testing.T) {
		pids := map[int]string{s.PG.Pid(): "postgres"}
		for _, name := range stack.Services {
			pid := s.Temporal.Pid(name)
			if pid == 0 || pids[pid] != "" {
				t.Fatalf("service %s: pid %d (seen as %q)", name, pid, pids[pid])
			}
			pids[pid] = name
		}
	})

	t.Run("spine, and search attributes on PostgreSQL visibility", func(t *testing.T) {
		f := newFaultEnvWith(t, nil, options{stack: s})
		a, b, c := f.order(), f.order(), f.order()
		f.pay(a)
		f.pay(b)
		// Visibility is written asynchronously: poll as an operator would.
		tc := f.client()
		in := fmt.Sprintf("TaskQueue = '%s' AND ", f.taskQueue)
		paid := waitList(t, tc, in+"NodeCount = 8 AND Hours = 3 AND PaidAt IS NOT NULL AND ExpiresAt > '2026-01-01T00:00:00Z'", 2)
		unpaid := waitList(t, tc, in+"OrderStatus = 'unpaid' AND PaidAt IS NULL", 1)
		if !paid["lnplaylive-"+a] || !paid["lnplaylive-"+b] || len(paid) != 2 || !unpaid["lnplaylive-"+c] || len(unpaid) != 1 {
			t.Fatalf("paid %v, unpaid %v", paid, unpaid)
		}
		f.pay(c)
		f.converge("stack: no fault", 2*time.Minute)
		if ended := waitList(t, tc, in+"OrderStatus = 'expired' AND ExecutionStatus = 'Completed'", 3); len(ended) != 3 {
			t.Fatalf("expired orders %v", ended)
		}
	})

	// Each of Temporal's services in turn (the system worker too), killed
	// with nothing to start it again but the stack's supervisor.
	for _, service := range stack.Services {
		t.Run(service+" SIGKILL mid-provisioning, payments meanwhile", func(t *testing.T) {
			f := newFaultEnvWith(t, nil, options{stack: s})
			a, b, c := f.order(), f.order(), f.order()
			f.machines[a].Fault(t, "sleep-before getinfo 6")
			f.pay(a)
			f.waitStatus(a, 60*time.Second, func(st status) bool {
				return strings.Contains(string(st.DeploymentDetails), "waiting_for_nodes")
			})
			back := killed(t, s, s.Temporal.Pid(service), func() {
				f.pay(b)
				time.Sleep(2 * time.Second)
				f.pay(c)
			})
			f.convergeRecovered("stack: temporal "+service+" SIGKILL mid-provisioning, payments meanwhile", 3*time.Minute, back)
		})
	}

	t.Run("one of two workers SIGKILLed", func(t *testing.T) {
		f := newFaultEnvWith(t, nil, options{stack: s, workers: 2})
		a, b := f.order(), f.order()
		f.machines[a].Fault(t, "sleep-before getinfo 6")
		f.machines[b].Fault(t, "sleep-before getinfo 6")
		f.pay(a)
		f.pay(b)
		f.waitStatus(a, 60*time.Second, func(st status) bool {
			return strings.Contains(string(st.DeploymentDetails), "waiting_for_nodes")
		})
		// Not restarted: the other worker takes over what it held.
		f.worker.signal(syscall.SIGKILL)
		f.converge("stack: one of two workers SIGKILLed (not restarted)", 3*time.Minute)
	})

	t.Run("two plugins under two lightningd share a namespace and task queue", func(t *testing.T) {
		f := newFaultEnvWith(t, nil, options{stack: s})
		nodeB := clntest.NewNode(t)
		pluginB, err := nodeB.StartPlugin(f.pluginCfg)
		if err != nil || pluginB.Disabled != "" {
			t.Fatalf("second plugin: %v %s", err, pluginB.Disabled)
		}
		f.extraNodes = append(f.extraNodes, nodeB)
		var onA, onB []string
		for i := 0; i < 2; i++ {
			onA = append(onA, f.order())
			onB = append(onB, f.orderOn(pluginB))
		}
		for _, id := range onA {
			f.pay(id)
		}
		for _, id := range onB {
			if err := nodeB.Pay("lnplaylive-" + id); err != nil {
				t.Fatal(err)
			}
		}
		f.converge("stack: two plugins, two lightningd, one task queue", 3*time.Minute)
		// Each order's workflow was started once and told of its payment
		// once: neither plugin relayed the other's invoices.
		tc := f.client()
		for _, id := range append(onA, onB...) {
			starts, paid := historyCounts(t, tc, "lnplaylive-"+id)
			if starts != 1 || paid != 1 {
				t.Errorf("order %s: %d runs, %d payment signals", id, starts, paid)
			}
		}
		for _, n := range []*clntest.Node{f.node, nodeB} {
			if len(n.Invoices()) != 2 {
				t.Errorf("a node holds %d invoices, want its own 2", len(n.Invoices()))
			}
		}
	})

	t.Run("whole stack restarted: schemas migrated in place, orders kept", func(t *testing.T) {
		f := newFaultEnvWith(t, nil, options{stack: s})
		a, b := f.order(), f.order()
		f.machines[a].Fault(t, "sleep-before getinfo 4")
		f.pay(a)
		f.waitStatus(a, 60*time.Second, func(st status) bool {
			return strings.Contains(string(st.DeploymentDetails), "waiting_for_nodes")
		})
		s.Down()
		f.pay(b)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// A later start finds the cluster and schemas and only migrates.
		var progress strings.Builder
		s.Progress = &progress
		if err := s.Up(ctx); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(progress.String(), "new cluster") {
			t.Fatalf("the restart made a new database:\n%s", progress.String())
		}
		supervise(t, s)
		f.converge("stack: everything restarted mid-provisioning, payment while down", 3*time.Minute)
	})

	t.Run("PostgreSQL SIGKILLed, a payment while it is down", func(t *testing.T) {
		f := newFaultEnvWith(t, nil, options{stack: s})
		a, b := f.order(), f.order()
		f.pay(a)
		f.waitAnyStatus(a, "provisioned", 60*time.Second)
		back := killed(t, s, s.PG.Pid(), func() { f.pay(b) })
		f.convergeRecovered("stack: PostgreSQL SIGKILLed, payment while down", 3*time.Minute, back)
	})
}

// waitList polls a visibility query until it finds at least want workflows.
func waitList(t *testing.T, c client.Client, query string, want int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		got := map[string]bool{}
		if err == nil {
			for _, e := range resp.GetExecutions() {
				got[e.GetExecution().GetWorkflowId()] = true
			}
		}
		if err == nil && len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility query %q: %v, found %v", query, err, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// historyCounts counts an order's runs and the payment signals in them.
func historyCounts(t *testing.T, c client.Client, id string) (runs, paid int) {
	t.Helper()
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + id + "'"})
	if err != nil {
		t.Fatal(err)
	}
	runs = len(resp.GetExecutions())
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.SignalPaid {
			paid++
		}
	}
	return runs, paid
}

// composePassword is the database password of the stand-in env file.
const composePassword = "compose-test-password"

// loadCompose reads docker-compose.yml as Compose does, with stand-in env
// files and secrets beside it.
func loadCompose(t *testing.T, repo string) *types.Project {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o700)
	for f, body := range map[string]string{".env.postgres": "POSTGRES_PASSWORD=" + composePassword + "\nPOSTGRES_PWD=" + composePassword + "\n",
		".env.worker": "HCLOUD_TOKEN=x\n", "secrets/ssh_key": "x", "secrets/codec.keys": "x"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{WorkingDir: dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml"), Content: raw}}},
		func(o *loader.Options) { o.SetProjectName("lnplaylive", true) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// docker-compose.yml restarts what `make stack` supervises: every service
// that runs for good (PostgreSQL, Temporal's four, the Web UI, the
// workers, the codec server) is brought back by Docker after a crash;
// only the one-shot jobs others wait on to complete are not.
func TestComposeRestartsWhatTheStackSupervises(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	p := loadCompose(t, filepath.Join(filepath.Dir(file), ".."))
	oneShot := map[string]bool{}
	for _, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				oneShot[dep] = true
			}
		}
	}
	supervised := []string{"postgresql", "temporal-ui", "worker", "codec-server"}
	for _, role := range stack.Services {
		supervised = append(supervised, "temporal-"+role)
	}
	for _, name := range supervised {
		if oneShot[name] {
			t.Errorf("%s is waited on to complete, but the stack supervises it", name)
		}
	}
	for name, svc := range p.Services {
		switch {
		case oneShot[name] && svc.Restart != "" && svc.Restart != "no":
			t.Errorf("one-shot %s has restart: %s", name, svc.Restart)
		case !oneShot[name] && svc.Restart != "unless-stopped" && svc.Restart != "always":
			t.Errorf("%s runs for good but has restart %q: a crash would leave it down", name, svc.Restart)
		case !oneShot[name] && !slices.Contains(supervised, name):
			t.Errorf("%s runs in compose but not under make stack's supervision", name)
		}
	}
	if len(oneShot) != 2 {
		t.Errorf("one-shot jobs %v; want the schema and namespace jobs", oneShot)
	}
}

// The compose stack cannot run here (no container engine), but its Temporal
// configuration can: each Temporal container's own environment, from
// docker-compose.yml, rendered by the real server from the shared file.
func TestStackComposeConfigRenders(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_STACK") == "" {
		t.Skip("needs the Temporal server build: `make test-stack`")
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	bins, err := stack.FindBinaries(filepath.Join(repo, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	p := loadCompose(t, repo)
	for _, role := range stack.Services {
		svc := p.Services["temporal-"+role]
		env := []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range svc.Environment {
			if v != nil {
				env = append(env, k+"="+*v)
			}
		}
		cmd := exec.Command(bins.Server, "--config", filepath.Join(repo, "deploy", "temporal"), "--env", "lnplaylive", "render-config")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("temporal-%s: render-config: %v\n%s", role, err, out)
		}
		cfg := string(out)
		for _, want := range []string{"connectAddr: postgresql:5432", "broadcastAddress: " + *svc.Environment["TEMPORAL_BROADCAST_ADDRESS"],
			"bindOnIP: 0.0.0.0", "rpcAddress: temporal-frontend:7233", "pluginName: postgres12_pgx",
			"filepath: /etc/temporal/config/lnplaylive/dynamicconfig.yaml"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("temporal-%s: rendered config lacks %q", role, want)
			}
		}
		if strings.Contains(cfg, composePassword) {
			t.Errorf("temporal-%s: the rendered config shows the password", role)
		}
	}
	out, err := exec.Command(bins.Server, "validate-dynamic-config", filepath.Join(repo, "deploy", "temporal", "dynamicconfig.yaml")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("dynamic config: %v\n%s", err, out)
	}
}

// `make stack` as an operator runs it: the command brings everything up on
// its own ports, prints what lightningd needs, serves the CLI, stops
// cleanly on Ctrl-C and comes back on the same data.
func TestStackCommand(t *testing.T) {
	if os.Getenv("LNPLAYLIVE_STACK") == "" {
		t.Skip("runs on the PostgreSQL stack: `make test-stack`")
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	for _, b := range []string{"lnplaylive-stack", "lnplaylive-worker", "lnplaylive"} {
		if _, err := os.Stat(filepath.Join(repo, "bin", b)); err != nil {
			t.Fatalf("bin/%s missing: make build", b)
		}
	}
	data, err := os.MkdirTemp("", "lnplaylive-stack-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	t.Cleanup(func() { os.RemoveAll(data) })
	// Below the kernel's ephemeral ports, so nothing the tests bind
	// collides; membership ports stay under 32767.
	const offset = 20000
	codecAddr := fmt.Sprintf("127.0.0.1:%d", devserver.FreePort(t))
	up := func() (*exec.Cmd, *syncBuffer) {
		out := &syncBuffer{}
		cmd := exec.Command(filepath.Join(repo, "bin", "lnplaylive-stack"), "--data-dir", data,
			"--port-offset", fmt.Sprint(offset), "--codec-addr", codecAddr)
		cmd.Dir = repo
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "Load the plugin"); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) || cmd.ProcessState != nil {
				cmd.Process.Kill()
				t.Fatalf("lnplaylive-stack did not come up:\n%s", out.String())
			}
		}
		return cmd, out
	}
	down := func(cmd *exec.Cmd, out *syncBuffer) {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("lnplaylive-stack did not stop on Ctrl-C:\n%s", out.String())
		}
		// Nothing it started outlives it.
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			if b, err := os.ReadFile("/proc/" + p.Name() + "/cmdline"); err == nil && strings.Contains(string(b), data) {
				t.Errorf("left running: %s", strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}

	cmd, out := up()
	address := fmt.Sprintf("127.0.0.1:%d", 7233+offset)
	for _, want := range []string{"PostgreSQL: new cluster", "--lnplaylive-temporal-address=" + address,
		"--lnplaylive-codec-keys-file=" + filepath.Join(data, "codec.keys"), "lnplaylive workers: 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	// The operator CLI works against it, with the key it made.
	cli := exec.Command(filepath.Join(repo, "bin", "lnplaylive"), "orders", "list")
	cli.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+address, "LNPLAYLIVE_CODEC_KEYS_FILE="+filepath.Join(data, "codec.keys"))
	if b, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("lnplaylive orders list: %v\n%s", err, b)
	}
	// A worker SIGKILLed comes back by itself, said on the terminal and
	// counted in the stack's metrics.
	workerEnv := fmt.Sprintf("LNPLAYLIVE_METRICS_ADDR=127.0.0.1:%d", 9464+offset)
	pid := pidWithEnv(t, "lnplaylive-worker", workerEnv)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if again := pidWithEnvOrZero("lnplaylive-worker", workerEnv); again != 0 && again != pid && strings.Contains(out.String(), "restarting worker-1: it exited (signal: killed)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker-1 was not started again:\n%s", out.String())
		}
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", 9470+offset))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `lnplaylive_stack_restarts_total{process="worker-1"} 1`) {
		t.Fatalf("restart not counted:\n%s", metrics)
	}
	down(cmd, out)

	// A part that cannot start at all (its port is taken) stops the stack
	// with its own words on the terminal, not a restart loop.
	taken, err := net.Listen("tcp", codecAddr)
	if err != nil {
		t.Fatal(err)
	}
	bad := &syncBuffer{}
	badCmd := exec.Command(filepath.Join(repo, "bin", "lnplaylive-stack"), "--data-dir", data, "--port-offset", fmt.Sprint(offset), "--codec-addr", codecAddr)
	badCmd.Dir = repo
	badCmd.Stdout, badCmd.Stderr = bad, bad
	if err := badCmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- badCmd.Wait() }()
	select {
	case err := <-waited:
		if err == nil || !strings.Contains(bad.String(), "codec-server could not start") || !strings.Contains(bad.String(), "address already in use") ||
			strings.Contains(bad.String(), "restarting codec-server") {
			t.Fatalf("a taken port: %v\n%s", err, bad.String())
		}
	case <-time.After(3 * time.Minute):
		badCmd.Process.Kill()
		t.Fatalf("lnplaylive-stack kept running with its codec server's port taken:\n%s", bad.String())
	}
	taken.Close()

	cmd, out = up()
	if strings.Contains(out.String(), "new cluster") {
		t.Errorf("second start made a new cluster:\n%s", out.String())
	}
	down(cmd, out)
}

// pidWithEnv is the process running bin whose environment holds kv.
func pidWithEnv(t *testing.T, bin, kv string) int {
	t.Helper()
	pid := pidWithEnvOrZero(bin, kv)
	if pid == 0 {
		t.Fatalf("no %s with %s", bin, kv)
	}
	return pid
}

func pidWithEnvOrZero(bin, kv string) int {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		environ, _ := os.ReadFile("/proc/" + p.Name() + "/environ")
		if strings.HasSuffix(strings.SplitN(string(cmdline), "\x00", 2)[0], "/"+bin) && slices.Contains(strings.Split(string(environ), "\x00"), kv) {
			return pid
		}
	}
	return 0
}
