package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lnplaylive/lnplaylive/internal/proc"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// Services are Temporal's server roles, in the order the stack starts them:
// history and matching before the frontend that routes to them, and the
// system worker last (it is a client of the frontend).
var Services = []string{"history", "matching", "frontend", "worker"}

// Ports are the stack's listening ports on 127.0.0.1.
type Ports struct {
	Postgres     int
	Frontend     int // gRPC: what the plugin, workers and CLI dial
	FrontendHTTP int
	History      int
	Matching     int
	Worker       int
	// Membership ports (ringpop), one per service.
	FrontendMembership, HistoryMembership, MatchingMembership, WorkerMembership int
	UI                                                                          int
}

// MaxMembershipPort is the highest membership port the SQL schema can hold:
// cluster_membership.rpc_port is a PostgreSQL smallint, so a service on a
// higher port dies at start ("greater than maximum value for int2").
const MaxMembershipPort = 32767

// Validate refuses ports the cluster cannot run on.
func (p Ports) Validate() error {
	for name, port := range map[string]int{"frontend": p.FrontendMembership, "history": p.HistoryMembership,
		"matching": p.MatchingMembership, "worker": p.WorkerMembership} {
		if port <= 0 || port > MaxMembershipPort {
			return fmt.Errorf("%s membership port %d: must be 1..%d (the schema stores it as a smallint)", name, port, MaxMembershipPort)
		}
	}
	return nil
}

// FreeMembershipPort finds an unused port that the membership table can
// hold (the kernel's ephemeral ports are above it).
func FreeMembershipPort() (int, error) {
	for range 200 {
		port := 20000 + mrand.IntN(MaxMembershipPort-20000)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port in 20000..32767")
}

// DefaultPorts are Temporal's usual ports, and PostgreSQL one above its own
// so a system PostgreSQL on 5432 is left alone.
func DefaultPorts() Ports {
	return Ports{Postgres: 5433, Frontend: 7233, FrontendHTTP: 7243, History: 7234, Matching: 7235, Worker: 7239,
		FrontendMembership: 6933, HistoryMembership: 6934, MatchingMembership: 6935, WorkerMembership: 6939, UI: 8233}
}

// Shift moves every port by n.
func (p Ports) Shift(n int) Ports {
	for _, q := range []*int{&p.Postgres, &p.Frontend, &p.FrontendHTTP, &p.History, &p.Matching, &p.Worker,
		&p.FrontendMembership, &p.HistoryMembership, &p.MatchingMembership, &p.WorkerMembership, &p.UI} {
		*q += n
	}
	return p
}

// Temporal is the server's four services as separate processes, on one
// configuration (deploy/temporal/lnplaylive.yaml) shared with docker-compose.yml.
type Temporal struct {
	// Bin is temporal-server, SQLTool temporal-sql-tool (both built from
	// go.temporal.io/server at ServerVersion).
	Bin, SQLTool string
	// ConfigDir holds lnplaylive.yaml and dynamicconfig.yaml.
	ConfigDir string
	LogDir    string
	Ports     Ports
	PG        *Postgres

	mu    sync.Mutex // procs: a supervisor replaces a service's process
	procs map[string]*proc.Proc
}

// current is a service's process (nil before it was started).
func (t *Temporal) current(name string) *proc.Proc {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.procs[name]
}

// ServerVersion is the server the Temporal CLI v1.5.1 embeds.
const ServerVersion = "v1.29.1"

// Namespace is created by the stack (the server does not make one itself).
const Namespace = "default"

// env is what the config template reads, for one service process.
func (t *Temporal) env(password string) []string {
	p := t.Ports
	return append(os.Environ(),
		"POSTGRES_SEEDS=127.0.0.1", "DB_PORT="+strconv.Itoa(p.Postgres),
		"POSTGRES_USER="+t.PG.User, "POSTGRES_PWD="+password,
		"BIND_ON_IP=127.0.0.1", "TEMPORAL_BROADCAST_ADDRESS=127.0.0.1",
		"FRONTEND_GRPC_PORT="+strconv.Itoa(p.Frontend), "FRONTEND_HTTP_PORT="+strconv.Itoa(p.FrontendHTTP),
		"FRONTEND_MEMBERSHIP_PORT="+strconv.Itoa(p.FrontendMembership),
		"HISTORY_GRPC_PORT="+strconv.Itoa(p.History), "HISTORY_MEMBERSHIP_PORT="+strconv.Itoa(p.HistoryMembership),
		"MATCHING_GRPC_PORT="+strconv.Itoa(p.Matching), "MATCHING_MEMBERSHIP_PORT="+strconv.Itoa(p.MatchingMembership),
		"WORKER_GRPC_PORT="+strconv.Itoa(p.Worker), "WORKER_MEMBERSHIP_PORT="+strconv.Itoa(p.WorkerMembership),
		"DYNAMIC_CONFIG_FILE_PATH="+filepath.Join(t.ConfigDir, "dynamicconfig.yaml"),
	)
}

// Migrate creates both databases and their schemas on first start, and
// brings them to the server's schema version on later starts. Every step is
// idempotent.
func (t *Temporal) Migrate(ctx context.Context) error {
	pw, err := t.PG.Password()
	if err != nil {
		return err
	}
	for _, db := range []struct{ name, schema string }{
		{"temporal", "postgresql/v12/temporal"},
		{"temporal_visibility", "postgresql/v12/visibility"},
	} {
		run := func(args ...string) (string, error) {
			cmd := exec.CommandContext(ctx, t.SQLTool, append([]string{"--plugin", "postgres12_pgx", "--db", db.name}, args...)...)
			cmd.Env = append(os.Environ(), "SQL_HOST=127.0.0.1", "SQL_PORT="+strconv.Itoa(t.Ports.Postgres),
				"SQL_USER="+t.PG.User, "SQL_PASSWORD="+pw)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run("create-database"); err != nil && !strings.Contains(out, "already exists") {
			return fmt.Errorf("create database %s: %w\n%s", db.name, err, out)
		}
		// Version tables only (no schema file): harmless when present.
		if out, err := run("setup-schema", "-v", "0.0"); err != nil {
			return fmt.Errorf("set up schema versioning in %s: %w\n%s", db.name, err, out)
		}
		if out, err := run("update-schema", "--schema-name", db.schema); err != nil {
			return fmt.Errorf("migrate %s to the server's schema: %w\n%s", db.name, err, out)
		}
	}
	return nil
}

// Start starts the four services. The first one alone: on a new database
// each service process records the cluster's metadata when it finds none
// (temporal/fx.go, initCurrentClusterMetadataRecord), so two starting
// together race on one insert and the loser exits. The first service
// listens only once the record is written; the rest start after that.
func (t *Temporal) Start(ctx context.Context) error {
	first := Services[0]
	if err := t.StartService(first); err != nil {
		return err
	}
	if err := t.waitListening(ctx, first, t.servicePort(first)); err != nil {
		return err
	}
	for _, name := range Services[1:] {
		if err := t.StartService(name); err != nil {
			return err
		}
	}
	return nil
}

func (t *Temporal) servicePort(name string) int {
	return map[string]int{"history": t.Ports.History, "matching": t.Ports.Matching,
		"frontend": t.Ports.Frontend, "worker": t.Ports.Worker}[name]
}

// waitListening waits until a service accepts connections on its gRPC port.
func (t *Temporal) waitListening(ctx context.Context, name string, port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-t.current(name).Exited():
			return t.exitedError(name)
		case <-ctx.Done():
			return fmt.Errorf("temporal %s not listening on %s: %w; see %s", name, addr, ctx.Err(), t.logFile(name))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *Temporal) logFile(name string) string {
	return filepath.Join(t.LogDir, "temporal-"+name+".log")
}

// exitedError names the service that exited and quotes the end of its log,
// where the server writes why.
func (t *Temporal) exitedError(name string) error {
	return fmt.Errorf("temporal %s exited; the end of %s:\n%s", name, t.logFile(name), proc.Tail(t.logFile(name), 8))
}

// StartService starts one service process.
func (t *Temporal) StartService(name string) error {
	pw, err := t.PG.Password()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(t.logFile(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(t.Bin, "--root", t.ConfigDir, "--config", ".", "--env", "lnplaylive",
		"--allow-no-auth", "start", "--service", name)
	cmd.Env = t.env(pw)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := proc.Start(cmd)
	if err != nil {
		return fmt.Errorf("start temporal %s: %w", name, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.procs == nil {
		t.procs = map[string]*proc.Proc{}
	}
	t.procs[name] = p
	return nil
}

// restart starts a service again and waits until it listens: what a
// supervisor calls when the service exited unasked.
func (t *Temporal) restart(ctx context.Context, name string) (*proc.Proc, error) {
	if err := t.StartService(name); err != nil {
		return nil, err
	}
	if err := t.waitListening(ctx, name, t.servicePort(name)); err != nil {
		return nil, err
	}
	return t.current(name), nil
}

// StopService signals one service and waits for its exit.
func (t *Temporal) StopService(name string, sig syscall.Signal) {
	if p := t.current(name); p != nil {
		p.Stop(sig, 30*time.Second)
	}
}

// Pid is a service's process id.
func (t *Temporal) Pid(name string) int {
	if p := t.current(name); p != nil {
		return p.Pid()
	}
	return 0
}

// Address is the frontend's host:port.
func (t *Temporal) Address() string { return "127.0.0.1:" + strconv.Itoa(t.Ports.Frontend) }

// WaitReady waits until the cluster serves: the namespace exists (it is
// registered on first start) and a workflow can be started on it, which
// needs frontend, history and matching to have found each other.
func (t *Temporal) WaitReady(ctx context.Context) error {
	var last error
	for {
		if last = t.ready(ctx); last == nil {
			return nil
		}
		for _, name := range Services {
			select {
			case <-t.current(name).Exited():
				return t.exitedError(name)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal cluster not ready: %w (last: %v); logs in %s", ctx.Err(), last, t.LogDir)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitServing waits until the cluster serves again, however long its
// services take to come back (a supervisor restarts them).
func (t *Temporal) WaitServing(ctx context.Context) error {
	for {
		last := t.ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal cluster not serving: %w (last: %v); logs in %s", ctx.Err(), last, t.LogDir)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (t *Temporal) ready(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(cctx, client.Options{HostPort: t.Address(), Namespace: Namespace, Logger: quiet{}})
	if err != nil {
		return err
	}
	defer c.Close()
	ws := c.WorkflowService()
	if _, err := ws.DescribeNamespace(cctx, &workflowservice.DescribeNamespaceRequest{Namespace: Namespace}); err != nil {
		var nf *serviceerror.NamespaceNotFound
		if !errors.As(err, &nf) {
			return err
		}
		_, err := ws.RegisterNamespace(cctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: Namespace, Description: "lnplaylive orders",
			WorkflowExecutionRetentionPeriod: durationpb.New(7 * 24 * time.Hour),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace %s: %w", Namespace, err)
		}
		return errors.New("namespace registered; waiting for the services to see it")
	}
	if err := workflows.EnsureSearchAttributes(cctx, c, Namespace, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	// A probe start, carrying the search attributes as an order's does,
	// reaches history through the frontend and checks the attributes are
	// known. Terminated at once; nothing runs it.
	run, err := c.ExecuteWorkflow(cctx, client.StartWorkflowOptions{ID: "lnplaylive-stack-probe", TaskQueue: "lnplaylive-stack-probe",
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.AttrOrderStatus.ValueSet("probe"), workflows.AttrNodeCount.ValueSet(8),
			workflows.AttrHours.ValueSet(3), workflows.AttrOrderSource.ValueSet("probe"), workflows.AttrPaidAt.ValueSet(time.Now()),
			workflows.AttrExpiresAt.ValueSet(time.Now()))}, "probe")
	if err != nil {
		return fmt.Errorf("probe start: %w", err)
	}
	return c.TerminateWorkflow(cctx, run.GetID(), run.GetRunID(), "stack readiness probe")
}

type quiet struct{}

func (quiet) Debug(string, ...interface{}) {}
func (quiet) Info(string, ...interface{})  {}
func (quiet) Warn(string, ...interface{})  {}
func (quiet) Error(string, ...interface{}) {}
