// Package realcln runs the real Core Lightning build of ../shared/cln
// (v25.12.1, the playground's pinned version) for tests that claim to work
// with Core Lightning: a node on a regtest chain kept by the fake
// bitcoin-cli beside it, reached through the real lightning-cli.
package realcln

import (
	"bytes"
	"encoding/json"
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
)

// Version is the build the tests run, and the one the playground pins.
const Version = "v25.12.1"

// Node is one running lightningd.
type Node struct {
	Dir  string
	Port int // its Lightning p2p port on 127.0.0.1
	cli  string
	// Chain is the chain file it shares with the other nodes of its net.
	Chain string
	fake  string
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func shared() string {
	if s := os.Getenv("LNPLAYLIVE_SHARED"); s != "" {
		return s
	}
	return filepath.Join(root(), "..", "shared")
}

// Paths are the unpacked build and the chain stand-in (fake-bitcoin-cli).
// A clone without ../shared skips: the real build comes from there.
func Paths(t testing.TB) (build, chain string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(shared(), "cln")); err != nil {
		// CI and the developers' machines have it.
		t.Skipf("no real Core Lightning build: %s is absent (set LNPLAYLIVE_SHARED)", filepath.Join(shared(), "cln"))
	}
	build = filepath.Join(root(), ".data", "cln-"+Version)
	if _, err := os.Stat(filepath.Join(build, "lightningd", "lightningd")); err != nil {
		t.Fatalf("the real Core Lightning build is not unpacked at %s: run `make deps`", build)
	}
	chain = filepath.Join(shared(), "cln", "fake-bitcoind", "fake-bitcoin-cli")
	if _, err := os.Stat(chain); err != nil {
		t.Fatalf("the regtest chain stand-in is missing at %s (set LNPLAYLIVE_SHARED)", chain)
	}
	return build, chain
}

// Start runs a node on a chain of its own until the test ends. The build
// is unpacked into .data by `make deps`.
func Start(t testing.TB, extra ...string) *Node {
	t.Helper()
	return StartOn(t, "", extra...)
}

// StartNet runs n nodes on one chain, with lightningd options extra.
func StartNet(t testing.TB, n int, extra ...string) []*Node {
	t.Helper()
	nodes := []*Node{StartOn(t, "", extra...)}
	for len(nodes) < n {
		nodes = append(nodes, StartOn(t, nodes[0].Chain, extra...))
	}
	return nodes
}

// StartOn runs a node on the chain in file chain ("": a new one).
func StartOn(t testing.TB, chain string, extra ...string) *Node {
	t.Helper()
	build, fake := Paths(t)
	lightningd := filepath.Join(build, "lightningd", "lightningd")
	dir, err := os.MkdirTemp("", "realcln")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if chain == "" {
		chain = filepath.Join(dir, "chain.json")
	}
	args := append([]string{"--lightning-dir=" + dir, "--network=regtest", "--bitcoin-cli=" + fake,
		fmt.Sprintf("--bind-addr=127.0.0.1:%d", port), "--log-file=" + filepath.Join(dir, "log")}, extra...)
	cmd := exec.Command(lightningd, args...)
	cmd.Env = append(os.Environ(), "FAKE_BTC_STATE="+chain)
	// An assertion lightningd fails is printed on its stderr, not in its
	// log: kept for the diagnosis.
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	// A child, not --daemon: a daemon keeps the test's pipes open, and a
	// test that dies must not leave a lightningd behind.
	if err := cmd.Start(); err != nil {
		t.Fatalf("lightningd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n := &Node{Dir: dir, Port: port, cli: filepath.Join(build, "cli", "lightning-cli"), Chain: chain, fake: fake}
	t.Cleanup(func() {
		if t.Failed() { // what lightningd saw is most of the diagnosis
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			errs, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Logf("lightningd on port %d, its stderr:\n%s\nits log's tail:\n%s", port, tail(errs), tail(log))
		}
		_, _ = n.Call("stop")
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := n.Call("getinfo"); err == nil {
			return n
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("lightningd did not answer: %v\n%s", err, tail(log))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Call runs lightning-cli -k method key=value…; an error carries the
// node's JSON-RPC error object.
func (n *Node) Call(method string, args ...string) (json.RawMessage, error) {
	argv := append([]string{"--lightning-dir=" + n.Dir, "--network=regtest", "-k", method}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(n.cli, argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v: %s%s", method, err, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// StopDirs stops the lightningd of each lightning-dir (nodes other code
// started, e.g. the docker double's) and waits until each has exited, so
// its directory can be removed.
func StopDirs(build string, dirs ...string) {
	cli := filepath.Join(build, "cli", "lightning-cli")
	for _, d := range dirs {
		pidText, _ := os.ReadFile(filepath.Join(d, "lightningd-regtest.pid"))
		_ = exec.Command(cli, "--lightning-dir="+d, "--network=regtest", "stop").Run()
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
		if err != nil {
			continue
		}
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if syscall.Kill(pid, 0) != nil {
				break
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Bitcoin runs the chain stand-in (fake-bitcoin-cli) on the node's chain:
// "generatetoaddress N", "faucet ADDR BTC", "getblockcount".
func (n *Node) Bitcoin(args ...string) (string, error) {
	cmd := exec.Command(n.fake, args...)
	cmd.Env = append(os.Environ(), "FAKE_BTC_STATE="+n.Chain)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("fake-bitcoin-cli %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Get calls a method and decodes its result into v.
func (n *Node) Get(v any, method string, args ...string) error {
	out, err := n.Call(method, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, v)
}

// ID is the node's id.
func (n *Node) ID(t testing.TB) string {
	t.Helper()
	var info struct {
		ID string `json:"id"`
	}
	if err := n.Get(&info, "getinfo"); err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// tail is the end of a lightningd log; when lightningd crashed, it starts
// at the crash's first **BROKEN** line instead, which names the failed
// assertion (the backtrace after it is long and anonymous).
func tail(b []byte) string {
	if i := bytes.Index(b, []byte("**BROKEN**")); i >= 0 {
		start := bytes.LastIndexByte(b[:i], '\n') + 1
		if len(b)-start > 4000 {
			return string(b[start:start+4000]) + "\n…"
		}
		return string(b[start:])
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// BitcoinVersion is the real Bitcoin Core build of ../shared/bitcoin.
const BitcoinVersion = "v27.99-413844f1"

// Bitcoin is the unpacked real Bitcoin Core build (bin/bitcoind,
// bin/bitcoin-cli); a clone without ../shared skips.
func Bitcoin(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(shared(), "bitcoin")); err != nil {
		t.Skipf("no real Bitcoin Core build: %s is absent (set LNPLAYLIVE_SHARED)", filepath.Join(shared(), "bitcoin"))
	}
	dir := filepath.Join(root(), ".data", "bitcoin-"+BitcoinVersion)
	if _, err := os.Stat(filepath.Join(dir, "bin", "bitcoind")); err != nil {
		t.Fatalf("the real Bitcoin Core build is not unpacked at %s: run `make deps`", dir)
	}
	return dir
}
