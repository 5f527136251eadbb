// Package stack runs lnplaylive's production shape on one machine without a
// container engine: PostgreSQL from Debian under a data directory, and the
// Temporal server's frontend, history, matching and worker services as
// separate processes that find each other through the database, as a
// production cluster does. `make stack` and `make test-stack` both use it.
package stack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/proc"
)

// Stack is PostgreSQL plus a four-service Temporal cluster, and optionally
// the Web UI.
type Stack struct {
	Dir      string // data: Dir/pg, Dir/logs
	Ports    Ports
	PG       *Postgres
	Temporal *Temporal
	// UIBin is the Web UI server, run when set, with UIConfigDir and the
	// codec server at CodecEndpoint.
	UIBin, UIConfigDir, CodecEndpoint string
	// Progress gets one line per step.
	Progress io.Writer

	ui  *proc.Proc
	sup *proc.Supervisor
}

// Binaries are the Temporal builds the stack runs.
type Binaries struct{ Server, SQLTool, UI string }

// FindBinaries looks in binDir for what `make stack-bin` builds.
func FindBinaries(binDir string) (Binaries, error) {
	b := Binaries{
		Server:  filepath.Join(binDir, "temporal-server"),
		SQLTool: filepath.Join(binDir, "temporal-sql-tool"),
		UI:      filepath.Join(binDir, "temporal-ui-server"),
	}
	for _, p := range []string{b.Server, b.SQLTool} {
		if _, err := os.Stat(p); err != nil {
			return b, fmt.Errorf("%s is missing: run `make stack-bin` (builds go.temporal.io/server %s)", p, ServerVersion)
		}
	}
	if _, err := os.Stat(b.UI); err != nil {
		b.UI = ""
	}
	return b, nil
}

// New lays out a stack under dir; repo is this repository's root (for
// deploy/).
func New(dir, repo string, ports Ports, bins Binaries) *Stack {
	pg := &Postgres{Dir: filepath.Join(dir, "pg"), Port: ports.Postgres, User: "temporal"}
	logs := filepath.Join(dir, "logs")
	return &Stack{
		Dir: dir, Ports: ports, PG: pg,
		Temporal: &Temporal{Bin: bins.Server, SQLTool: bins.SQLTool, ConfigDir: filepath.Join(repo, "deploy", "temporal"),
			LogDir: logs, Ports: ports, PG: pg},
		UIBin: bins.UI, UIConfigDir: filepath.Join(repo, "deploy", "temporal-ui"),
		Progress: io.Discard,
	}
}

func (s *Stack) step(format string, args ...any) { fmt.Fprintf(s.Progress, format+"\n", args...) }

// Up starts everything, creating the databases on first start and
// migrating them on later ones.
func (s *Stack) Up(ctx context.Context) error {
	if err := s.Ports.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Temporal.LogDir, 0o755); err != nil {
		return err
	}
	created, err := s.PG.Init()
	if err != nil {
		return err
	}
	if created {
		s.step("PostgreSQL: new cluster in %s", s.PG.dataDir())
	}
	start := time.Now()
	if err := s.PG.Start(ctx); err != nil {
		return err
	}
	s.step("PostgreSQL: 127.0.0.1:%d (%.1fs, log %s)", s.PG.Port, time.Since(start).Seconds(), s.PG.logFile())
	start = time.Now()
	if err := s.Temporal.Migrate(ctx); err != nil {
		return err
	}
	s.step("Temporal schemas: at server %s (%.1fs)", ServerVersion, time.Since(start).Seconds())
	start = time.Now()
	if err := s.Temporal.Start(ctx); err != nil {
		return err
	}
	if err := s.Temporal.WaitReady(ctx); err != nil {
		return err
	}
	s.step("Temporal cluster: frontend %s, history :%d, matching :%d, worker :%d (%.1fs, logs %s)",
		s.Temporal.Address(), s.Ports.History, s.Ports.Matching, s.Ports.Worker, time.Since(start).Seconds(), s.Temporal.LogDir)
	if s.UIBin != "" {
		if err := s.startUI(); err != nil {
			return err
		}
		s.step("Temporal Web UI: http://localhost:%d", s.Ports.UI)
	} else {
		s.step("Temporal Web UI: not started (no UI binary; make stack-bin builds it from github.com/temporalio/ui-server)")
	}
	return nil
}

func (s *Stack) startUI() error {
	logf, err := os.OpenFile(filepath.Join(s.Temporal.LogDir, "temporal-ui.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.UIBin, "--root", s.UIConfigDir, "--config", ".", "--env", "lnplaylive", "start")
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+s.Temporal.Address(), "TEMPORAL_UI_PORT="+strconv.Itoa(s.Ports.UI),
		"TEMPORAL_CODEC_ENDPOINT="+s.CodecEndpoint, "TEMPORAL_UI_ORIGIN=http://localhost:"+strconv.Itoa(s.Ports.UI))
	cmd.Stdout, cmd.Stderr = logf, logf
	if s.ui, err = proc.Start(cmd); err != nil {
		return fmt.Errorf("start the Web UI: %w", err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(s.Ports.UI) + "/"
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.ui.Exited():
			return fmt.Errorf("the Web UI exited at start; see %s", logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Web UI does not answer on %s; see %s", url, logf.Name())
		}
	}
}

// Supervise watches everything Up started: PostgreSQL, the four services
// and the Web UI. One that exits unasked is started again (onRestart is
// told); one given up on is reported on the supervisor's Failed. Down ends
// the supervision before it stops anything.
func (s *Stack) Supervise(onRestart func(proc.Restart)) *proc.Supervisor {
	sup := &proc.Supervisor{OnRestart: onRestart}
	sup.Watch("postgres", s.PG.current(), s.PG.logFile(), s.PG.restart)
	for _, name := range Services {
		sup.Watch("temporal "+name, s.Temporal.current(name), s.Temporal.logFile(name),
			func(ctx context.Context) (*proc.Proc, error) { return s.Temporal.restart(ctx, name) })
	}
	if s.ui != nil {
		sup.Watch("temporal-ui", s.ui, filepath.Join(s.Temporal.LogDir, "temporal-ui.log"), func(context.Context) (*proc.Proc, error) {
			if err := s.startUI(); err != nil {
				return nil, err
			}
			return s.ui, nil
		})
	}
	s.sup = sup
	return sup
}

// Down stops everything, the database last.
func (s *Stack) Down() {
	if s.sup != nil {
		s.sup.Stop()
	}
	if s.ui != nil {
		s.ui.Stop(syscall.SIGTERM, 10*time.Second)
	}
	for i := len(Services) - 1; i >= 0; i-- {
		s.Temporal.StopService(Services[i], syscall.SIGTERM)
	}
	s.PG.Stop()
}
