// Package playgroundtest is an order's machine for tests: a real sshd on
// loopback whose sessions find the docker double first on their PATH.
package playgroundtest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
)

// Machine is one test machine.
type Machine struct {
	SSHD        *sshdtest.Server
	StateDir    string // the docker double's state
	RemoteDir   string // where the bootstrap puts per-order files
	ReadyMarker string // cloud-init's marker, already present
}

// Start builds the docker double and starts sshd presenting hostKey and
// accepting authorized.
func Start(t testing.TB, hostKey ed25519.PrivateKey, authorized ssh.PublicKey) *Machine {
	return StartOnPort(t, hostKey, authorized, 0)
}

// StartOnPort is Start with sshd on a chosen port (0: any free one).
func StartOnPort(t testing.TB, hostKey ed25519.PrivateKey, authorized ssh.PublicKey, port int) *Machine {
	return StartAt(t, hostKey, authorized, "127.0.0.1", port)
}

// StartAt is Start with sshd on a chosen loopback address and port, so
// several machines (several orders) can share one SSH port.
func StartAt(t testing.TB, hostKey ed25519.PrivateKey, authorized ssh.PublicKey, listen string, port int) *Machine {
	t.Helper()
	return StartEnv(t, hostKey, authorized, listen, port, nil)
}

// StartEnv is StartAt with more environment for the double (its engine
// mode: DOCKER_DOUBLE_ENGINE, which StartEngine sets).
func StartEnv(t testing.TB, hostKey ed25519.PrivateKey, authorized ssh.PublicKey, listen string, port int, env map[string]string) *Machine {
	t.Helper()
	docker, err := testbin.Tool("./internal/testworld/dockerdouble", "docker")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	m := &Machine{StateDir: filepath.Join(base, "docker-state"), RemoteDir: filepath.Join(base, "orders"), ReadyMarker: filepath.Join(base, "cloud-init-done")}
	for _, d := range []string{m.StateDir, m.RemoteDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(m.ReadyMarker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m.SSHD = sshdtest.Start(t, sshdtest.Config{
		HostKey: hostKey, Authorized: authorized, PathPrefix: filepath.Dir(docker),
		Env: envWith(env, "DOCKER_DOUBLE_STATE", m.StateDir), Port: port, Listen: listen,
	})
	return m
}

func envWith(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for ek, ev := range env {
		out[ek] = ev
	}
	return out
}

// State is the double's model of the machine's playgrounds.
type State struct {
	Projects map[string]bool `json:"projects"`
	// Funded counts the wallet's payments to each address.
	Funded map[string]int `json:"funded"`
	Nets   map[string]Net `json:"nets"`
}

// Net is one project's chain and channels, as far as tests look at them.
type Net struct {
	Height   int               `json:"height"`
	Channels []Channel         `json:"channels"`
	Mined    map[string][2]int `json:"mined"`
	// Nodes are the project's nodes by service (cln-1, …).
	Nodes map[string]Node `json:"nodes"`
}

// Node is one node of a project, as far as tests look at it.
type Node struct {
	// Runes the node minted (createrune), however many times asked.
	Runes []json.RawMessage `json:"runes"`
}

// Channel is one channel of a project.
type Channel struct {
	Opener      string `json:"opener"`
	Peer        string `json:"peer"`
	Sat         int64  `json:"sat"`
	OpenerMsat  int64  `json:"opener_msat"`
	FundingTxid string `json:"funding_txid"`
}

// State reads the double's state.
func (m *Machine) State(t testing.TB) State {
	t.Helper()
	var s State
	b, err := os.ReadFile(filepath.Join(m.StateDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Calls lists every docker invocation, each as its argv.
func (m *Machine) Calls(t testing.TB) [][]string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(m.StateDir, "calls.log"))
	var calls [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var c []string
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	return calls
}

// Fault arms a fault line of the double ("kill-after sendmany",
// "never-confirm cln-3").
func (m *Machine) Fault(t testing.TB, line string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(m.StateDir, "faults"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(line + "\n")
}

// Engine is a machine whose docker is the container engine double: the
// compose file runs as Docker would, on real bitcoind and lightningd.
type Engine struct {
	*Machine
	Socket    string
	daemon    *exec.Cmd
	engineDir string
}

// StartEngine starts the engine daemon and sshd in front of it. The
// containers' published ports listen on listen (the machine's address).
func StartEngine(t testing.TB, hostKey ed25519.PrivateKey, authorized ssh.PublicKey, listen string, port int) *Engine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the container engine double needs root (network, mount and PID namespaces)")
	}
	build, bitcoin := realcln.Both(t)
	docker, err := testbin.Tool("./internal/testworld/dockerdouble", "docker")
	if err != nil {
		t.Fatal(err)
	}
	engineDir := filepath.Join(t.TempDir(), "engine")
	if err := os.MkdirAll(engineDir, 0o700); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(engineDir, "docker.sock")
	cmd := exec.Command(docker, "__daemon", socket, engineDir, listen, build, bitcoin)
	logf, err := os.Create(filepath.Join(engineDir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test process that dies (a timeout, a panic) takes the engine and
	// its containers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Socket: socket, daemon: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine daemon did not listen within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.Machine = StartEnv(t, hostKey, authorized, listen, port, map[string]string{"DOCKER_DOUBLE_ENGINE": socket})
	e.engineDir = engineDir
	return e
}

// Docker runs the double's docker against this engine, as the host's
// operator would; it returns stdout and fails the test on an error.
func (e *Engine) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.TryDocker(args...)
	if err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, out)
	}
	return out
}

// TryDocker is Docker that returns the error.
func (e *Engine) TryDocker(args ...string) (string, error) {
	docker, err := testbin.Tool("./internal/testworld/dockerdouble", "docker")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(docker, args...)
	cmd.Env = append(os.Environ(), "DOCKER_DOUBLE_ENGINE="+e.Socket)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

// Reboot reboots the whole host: hard is a power cut (SIGKILL at once),
// otherwise an orderly shutdown; containers come back by their restart
// policy, with new addresses.
func (e *Engine) Reboot(t testing.TB, hard bool) {
	t.Helper()
	if hard {
		e.Docker(t, "__reboot", "--hard")
	} else {
		e.Docker(t, "__reboot")
	}
}

// Inspect is a container's state: running, pid, address, restarts.
type Inspect struct {
	Running  bool   `json:"running"`
	Pid      int    `json:"pid"`
	Address  string `json:"address"`
	Restarts int    `json:"restarts"`
	ExitCode int    `json:"exit_code"`
}

// Inspect reads a container's state.
func (e *Engine) Inspect(t testing.TB, project, service string) Inspect {
	t.Helper()
	var in Inspect
	if err := json.Unmarshal([]byte(e.Docker(t, "__inspect", project, service)), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// Log is a container's output so far (docker logs).
func (e *Engine) Log(project, service string) string {
	b, _ := os.ReadFile(filepath.Join(e.engineDir, "logs", project, service+".log"))
	return string(b)
}

// Project is one compose project running on an engine, reached as the
// bootstrap reaches it: `docker compose exec` into its containers.
type Project struct {
	e          *Engine
	Name, File string
}

// Project names a project on this engine and its compose file.
func (e *Engine) Project(name, file string) Project { return Project{e: e, Name: name, File: file} }

// Exec runs argv in a service's container.
func (p Project) Exec(service string, argv ...string) (string, error) {
	return p.e.TryDocker(append([]string{"compose", "-p", p.Name, "-f", p.File, "exec", "-T", service}, argv...)...)
}

// Lightning runs lightning-cli on node i and decodes its answer into v
// (nil: ignored).
func (p Project) Lightning(i int, v any, argv ...string) error {
	out, err := p.Exec(fmt.Sprintf("cln-%d", i), append([]string{"lightning-cli", "--network=regtest"}, argv...)...)
	if err != nil {
		return fmt.Errorf("cln-%d %v: %v: %s", i, argv, err, out)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal([]byte(out), v)
}

// Height is bitcoind's block count, or -1 when it does not answer.
func (p Project) Height() int {
	out, err := p.Exec("bitcoind", "bitcoin-cli", "-regtest", "-rpcuser=lnplaylive", "-rpcpassword=lnplaylive", "getblockcount")
	if err != nil {
		return -1
	}
	h, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return -1
	}
	return h
}

// ActiveChannels counts node i's channels that are CHANNELD_NORMAL with
// the peer connected: usable now (-1: the node does not answer).
func (p Project) ActiveChannels(i int) int {
	var pc struct {
		Channels []struct {
			State         string `json:"state"`
			PeerConnected bool   `json:"peer_connected"`
		} `json:"channels"`
	}
	if err := p.Lightning(i, &pc, "listpeerchannels"); err != nil {
		return -1
	}
	n := 0
	for _, c := range pc.Channels {
		if c.State == "CHANNELD_NORMAL" && c.PeerConnected {
			n++
		}
	}
	return n
}

// WaitActive waits until every node i has want[i] channels usable, and
// fails the test with the lagging node's peers and log after within.
func (p Project) WaitActive(t testing.TB, want map[int]int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		lagging := 0
		for i := 1; i <= len(want) && lagging == 0; i++ {
			if p.ActiveChannels(i) < want[i] {
				lagging = i
			}
		}
		if lagging == 0 {
			return
		}
		if time.Now().After(deadline) {
			out, _ := p.Exec(fmt.Sprintf("cln-%d", lagging), "lightning-cli", "--network=regtest", "listpeers")
			t.Fatalf("node %d: not every planned channel active within %s\nlistpeers: %s\nlog: %s", lagging, within, tail(out), tail(p.e.Log(p.Name, fmt.Sprintf("cln-%d", lagging))))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Pay has node from pay a new 10-sat invoice of node to, retrying while
// routes come back, and fails the test after within.
func (p Project) Pay(t testing.TB, from, to int, label string, within time.Duration) {
	t.Helper()
	var inv struct {
		Bolt11 string `json:"bolt11"`
	}
	if err := p.Lightning(to, &inv, "invoice", "10000", label, "paid by a test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for {
		err := p.Lightning(from, nil, "pay", inv.Bolt11)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d could not pay node %d within %s: %v", from, to, within, err)
		}
		time.Sleep(time.Second)
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// RSS is the resident memory of every process in the engine's containers
// now, summed (shared pages count once per process), read from /proc.
func (e *Engine) RSS() (rssBytes int64) {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	stats := map[int][]string{}
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		if len(f) < 22 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		stats[pid] = f
	}
	root := e.daemon.Process.Pid
	under := func(pid int) bool {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				return true
			}
		}
		return false
	}
	page := int64(os.Getpagesize())
	for pid, f := range stats {
		if !under(pid) {
			continue
		}
		// Fields after the command: state(0) ppid(1) … rss(21), in pages.
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		rssBytes += rss * page
	}
	return rssBytes
}
