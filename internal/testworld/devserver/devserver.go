// Package devserver runs a real Temporal dev server (`temporal server
// start-dev`, SQLite) for tests: state survives a stop and start on the same
// file, so outages can be tested against the real server.
package devserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/internal/proc"
)

// Server is one dev server; Stop and Start keep its database and port.
type Server struct {
	t       testing.TB
	bin     string
	db      string
	Port    int
	UIPort  int
	proc    *proc.Proc
	logFile string
	bare    bool
	started bool // once: a restart keeps its ports
}

// Bare starts the server without lnplaylive's search attributes, as a fresh
// production namespace is.
func Bare(s *Server) { s.bare = true }

// Binary finds the temporal CLI: $TEMPORAL_BIN, or bin/temporal of this repo.
func Binary() (string, error) {
	if b := os.Getenv("TEMPORAL_BIN"); b != "" {
		return b, nil
	}
	_, file, _, _ := runtime.Caller(0)
	b := filepath.Join(filepath.Dir(file), "..", "..", "..", "bin", "temporal")
	if _, err := os.Stat(b); err != nil {
		return "", fmt.Errorf("temporal CLI not found at %s: run `make temporal` (or set TEMPORAL_BIN)", b)
	}
	return b, nil
}

// FreePort asks the kernel for an unused TCP port.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a dev server on a fresh database in a temporary directory.
func Start(t testing.TB, opts ...func(*Server)) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, db: filepath.Join(dir, "temporal.db"), Port: FreePort(t), UIPort: FreePort(t), logFile: filepath.Join(dir, "server.log")}
	for _, o := range opts {
		o(s)
	}
	s.Start()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Address is host:port of the frontend.
func (s *Server) Address() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Start (re)starts the server on its database and waits until it serves.
// A first start whose port another test process took between FreePort and
// the server's bind (test packages run in parallel) is tried again on
// fresh ports; a restart keeps its ports, which clients hold.
func (s *Server) Start() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		log, err := s.start()
		if err == nil {
			s.started = true
			return
		}
		if !s.started && attempt < 4 && strings.Contains(log, "address already in use") {
			s.Port, s.UIPort = FreePort(s.t), FreePort(s.t)
			continue
		}
		s.t.Fatalf("temporal dev server did not start: %v\n%s", err, log)
	}
}

// start runs the server once and waits until it serves, or exits; on
// failure it returns what the server logged.
func (s *Server) start() (log string, err error) {
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	info, _ := logf.Stat()
	logged := info.Size()
	args := []string{"server", "start-dev", "--db-filename", s.db,
		"--ip", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--ui-port", strconv.Itoa(s.UIPort),
		"--headless", "--log-level", "warn"}
	if !s.bare {
		args = append(args, "--search-attribute", "OrderStatus=Keyword", "--search-attribute", "NodeCount=Int",
			"--search-attribute", "Hours=Int", "--search-attribute", "PaidAt=Datetime", "--search-attribute", "ExpiresAt=Datetime",
			"--search-attribute", "OrderSource=Keyword")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := proc.Start(cmd)
	logf.Close() // the child has its own descriptor
	if err != nil {
		return "", err
	}
	s.proc = p
	since := func() string {
		b, _ := os.ReadFile(s.logFile)
		return string(b[min(int(logged), len(b)):])
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := client.DialContext(ctx, client.Options{HostPort: s.Address(), Logger: quiet{}})
		cancel()
		if err == nil {
			c.Close()
			return "", nil
		}
		select {
		case <-p.Exited():
			return since(), fmt.Errorf("it exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			p.Stop(syscall.SIGKILL, 0)
			return since(), err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for the process to exit (the SQLite file is
// locked until it has).
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill sends SIGKILL and waits.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	if s.proc != nil {
		s.proc.Stop(sig, 30*time.Second)
	}
}

// Client dials the server.
func (s *Server) Client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Address(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type quiet struct{}

func (quiet) Debug(string, ...interface{}) {}
func (quiet) Info(string, ...interface{})  {}
func (quiet) Warn(string, ...interface{})  {}
func (quiet) Error(string, ...interface{}) {}

// Pid is the server process's id.
func (s *Server) Pid() int { return s.proc.Pid() }
