package dockerengine_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/dockerengine"
	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
)

// engine is an in-process daemon whose containers run the double's __init.
type engine struct {
	d   *dockerengine.Daemon
	dir string
	btc string // the real Bitcoin Core build
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the engine needs root (network, mount and PID namespaces)")
	}
	build, btc := realcln.Both(t)
	self, err := testbin.Tool("./internal/testworld/dockerdouble", "docker")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d, err := dockerengine.New(dockerengine.Config{Dir: dir, Self: self, HostAddr: "127.0.0.1", Builds: dockerengine.Builds{CLN: build, Bitcoin: btc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return &engine{d: d, dir: dir, btc: btc}
}

// run is one docker command line; it returns stdout, stderr and the code.
func (e *engine) run(args ...string) dockerengine.Response { return e.d.Handle(args) }

func (e *engine) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(args...)
	if r.Code != 0 {
		t.Fatalf("docker %v: %d %s", args, r.Code, r.Stderr)
	}
	return r.Stdout
}

// compose writes a compose file and returns its path.
func (e *engine) compose(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

type inspect struct {
	Running  bool   `json:"running"`
	Pid      int    `json:"pid"`
	Address  string `json:"address"`
	Restarts int    `json:"restarts"`
}

func (e *engine) inspect(t *testing.T, project, svc string) inspect {
	t.Helper()
	var in inspect
	if err := json.Unmarshal([]byte(e.ok(t, "__inspect", project, svc)), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// exec runs argv in a container, as the CLI does with the daemon's plan.
func (e *engine) exec(t *testing.T, file, svc string, argv ...string) (string, error) {
	t.Helper()
	r := e.run(append([]string{"compose", "-p", "t", "-f", file, "exec", "-T", svc}, argv...)...)
	if r.Code != 0 {
		return r.Stderr, fmt.Errorf("exit %d", r.Code)
	}
	a := dockerengine.ExecArgv(r.Exec.Pid, r.Exec.Env, r.Exec.Argv)
	out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
	return string(out), err
}

const image = "polarlightning/bitcoind:27.0"

func TestEngineRefusesWhatDockerRefuses(t *testing.T) {
	e := newEngine(t)
	for name, c := range map[string]struct{ body, want string }{
		"an unknown image":     {"services:\n  a:\n    image: polarlightning/bitcoind:99.0\n", "pull access denied"},
		"an unknown key":       {"services:\n  a:\n    image: " + image + "\n    restrat: always\n", "restrat"},
		"a missing executable": {"services:\n  a:\n    image: " + image + "\n    entrypoint: [no-such-binary]\n", `exec: "no-such-binary": executable file not found in $PATH`},
		"a dependency loop":    {"services:\n  a:\n    image: " + image + "\n    depends_on: [b]\n  b:\n    image: " + image + "\n    depends_on: [a]\n", "cycle"},
	} {
		r := e.run("compose", "-p", "t", "-f", e.compose(t, c.body), "up", "-d")
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%s: code %d, %q; want a refusal naming %q", name, r.Code, r.Stderr, c.want)
		}
	}
	f := e.compose(t, "services:\n  a:\n    image: "+image+"\n    entrypoint: [sh, -c, 'exit 3']\n")
	if r := e.run("compose", "-p", "t", "-f", f, "up"); r.Code == 0 {
		t.Error("an attached `up` was run: the engine runs only -d")
	}
	// A command that exits at once has started: Docker's up succeeds.
	e.ok(t, "compose", "-p", "t", "-f", f, "up", "-d")
	time.Sleep(500 * time.Millisecond)
	if _, err := e.exec(t, f, "a", "true"); err == nil {
		t.Error("exec into an exited container was run")
	}
}

// PID 1 without a handler ignores SIGTERM, as the kernel makes it: stop
// waits the grace period; with init: true it stops at once.
func TestEngineStopsAsDockerStops(t *testing.T) {
	e := newEngine(t)
	f := e.compose(t, `services:
  bare:
    image: `+image+`
    entrypoint: [sh, -c, 'while true; do sleep 1; done']
    stop_grace_period: 2s
  initd:
    image: `+image+`
    init: true
    entrypoint: [sh, -c, 'while true; do sleep 1; done']
    stop_grace_period: 2s
`)
	e.ok(t, "compose", "-p", "t", "-f", f, "up", "-d")
	for svc, want := range map[string][2]time.Duration{"bare": {2 * time.Second, 4 * time.Second}, "initd": {0, time.Second}} {
		start := time.Now()
		e.ok(t, "compose", "-p", "t", "stop", svc)
		if took := time.Since(start); took < want[0] || took > want[1] {
			t.Errorf("stop %s took %s, want %s to %s", svc, took, want[0], want[1])
		}
	}
}

// Service names resolve to container addresses; published ports reach
// the container; a crash restarts what the policy restarts; a reboot
// brings back what the policy brings back, at a new address.
func TestEngineNamesRestartsAndReboots(t *testing.T) {
	e := newEngine(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f := e.compose(t, fmt.Sprintf(`services:
  bitcoind:
    image: %s
    command: [bitcoind, -regtest, -rpcbind=0.0.0.0, -rpcallowip=0.0.0.0/0, -rpcuser=u, -rpcpassword=p]
    ports: ["%d:18443"]
    restart: unless-stopped
  once:
    image: %s
    entrypoint: [sh, -c, 'while true; do sleep 1; done']
    restart: "no"
`, image, port, image))
	e.ok(t, "compose", "-p", "t", "-f", f, "up", "-d")
	btc := e.inspect(t, "t", "bitcoind")
	out, err := e.exec(t, f, "once", "getent", "hosts", "bitcoind")
	if err != nil || !strings.HasPrefix(out, btc.Address+" ") {
		t.Fatalf("bitcoind resolves to %q (%v) in a container; its address is %s", out, err, btc.Address)
	}
	cli := func() (string, error) {
		out, err := exec.Command(filepath.Join(e.btc, "bin", "bitcoin-cli"), "-regtest", "-rpcconnect=127.0.0.1", fmt.Sprintf("-rpcport=%d", port),
			"-rpcuser=u", "-rpcpassword=p", "-rpcwait", "-rpcwaittimeout=30", "getblockcount").CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := cli(); err != nil || out != "0" {
		t.Fatalf("bitcoind through its published port: %v %s", err, out)
	}

	e.ok(t, "__crash", "t", "bitcoind")
	e.ok(t, "__crash", "t", "once")
	deadline := time.Now().Add(10 * time.Second)
	for in := e.inspect(t, "t", "bitcoind"); !in.Running || in.Pid == btc.Pid; in = e.inspect(t, "t", "bitcoind") {
		if time.Now().After(deadline) {
			t.Fatalf("bitcoind (unless-stopped) did not come back after a crash: %+v", in)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if in := e.inspect(t, "t", "bitcoind"); in.Restarts != 1 {
		t.Errorf("%d restarts after one crash", in.Restarts)
	}
	time.Sleep(300 * time.Millisecond)
	if in := e.inspect(t, "t", "once"); in.Running {
		t.Error(`a restart: "no" container came back after a crash`)
	}

	before := e.inspect(t, "t", "bitcoind")
	e.ok(t, "__reboot", "--hard")
	after := e.inspect(t, "t", "bitcoind")
	if !after.Running || after.Address == before.Address {
		t.Fatalf("after a reboot: %+v, before %+v", after, before)
	}
	if out, err := cli(); err != nil || out != "0" {
		t.Fatalf("bitcoind through its published port after the reboot: %v %s", err, out)
	}
	if in := e.inspect(t, "t", "once"); in.Running {
		t.Error(`a restart: "no" container came back after a reboot`)
	}
	e.ok(t, "compose", "-p", "t", "down", "-v")
	if out := e.ok(t, "compose", "ls", "--all", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("projects after down: %s", out)
	}
}
