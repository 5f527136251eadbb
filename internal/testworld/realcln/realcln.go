// Package realcln runs a real Core Lightning build, where one is at hand,
// for tests that claim to work with Core Lightning: a node on a regtest
// chain kept by the fake bitcoin-cli of ../shared/cln, reached through the
// real lightning-cli. No build comes with the project or with ../shared
// (../shared/cln/REAL-CLN.md): a test finds one made by hand through
// LNPLAYLIVE_REAL_CLN, and Bitcoin Core through LNPLAYLIVE_REAL_BITCOIND.
// Without them those tests skip with a line naming the variable; a
// variable that points at something that is not a build fails the test.
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

// Version is the Core Lightning release the playground pins, and the one
// the recorded behaviour in ../shared was seen on.
const Version = "v25.12.1"

// The variables that point the tests at builds made by hand.
const (
	CLNEnv      = "LNPLAYLIVE_REAL_CLN"
	BitcoindEnv = "LNPLAYLIVE_REAL_BITCOIND"
)

// TiersEnv names a folder where each test package records, per tier,
// whether its real-build tests ran or skipped: `make test` prints the
// summary from it.
const TiersEnv = "LNPLAYLIVE_TIERS_DIR"

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

// Tier names for the summary.
const (
	TierCLN      = "real Core Lightning"
	TierBitcoind = "real Bitcoin Core"
)

// record notes that this package's tests ran on (or skipped) a tier. A
// "ran" is never overwritten by a later skip.
func record(tier, outcome string) {
	dir := os.Getenv(TiersEnv)
	if dir == "" {
		return
	}
	wd, err := os.Getwd()
	if err != nil {
		return
	}
	pkg, err := filepath.Rel(root(), wd)
	if err != nil {
		return
	}
	name := filepath.Join(dir, strings.ReplaceAll(pkg, string(filepath.Separator), "_")+"."+strings.ReplaceAll(tier, " ", "-"))
	if prev, err := os.ReadFile(name); err == nil && strings.HasPrefix(string(prev), "ran") {
		return
	}
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(name, []byte(fmt.Sprintf("%s\t%s\t%s\n", outcome, pkg, tier)), 0o644)
}

// build is one kind of build a test can need.
type build struct {
	tier, env string
	parts     []string
}

var (
	clnBuild      = build{TierCLN, CLNEnv, []string{"lightningd/lightningd", "cli/lightning-cli", "plugins"}}
	bitcoindBuild = build{TierBitcoind, BitcoindEnv, []string{"bin/bitcoind", "bin/bitcoin-cli"}}
)

// locate finds the builds the variables point at, in order: it skips the
// test when one is unset (recording, for the summary, only the tiers that
// were missing), and fails it when one is set but lacks a part.
func locate(t testing.TB, builds ...build) []string {
	t.Helper()
	var unset []string
	for _, b := range builds {
		if os.Getenv(b.env) == "" {
			record(b.tier, "skipped ("+b.env+" unset)")
			unset = append(unset, fmt.Sprintf("%s: skipped (%s unset)", b.tier, b.env))
		}
	}
	if len(unset) > 0 {
		t.Skip(strings.Join(unset, "; "))
	}
	dirs := make([]string, len(builds))
	for i, b := range builds {
		dirs[i] = os.Getenv(b.env)
		for _, p := range b.parts {
			if _, err := os.Stat(filepath.Join(dirs[i], p)); err != nil {
				t.Fatalf("%s=%s is not a usable build: %v", b.env, dirs[i], err)
			}
		}
		record(b.tier, "ran")
	}
	return dirs
}

// chainStandIn is ../shared/cln/fake-bitcoind/fake-bitcoin-cli.
func chainStandIn(t testing.TB) string {
	t.Helper()
	chain := filepath.Join(shared(), "cln", "fake-bitcoind", "fake-bitcoin-cli")
	if _, err := os.Stat(chain); err != nil {
		t.Fatalf("the regtest chain stand-in is missing at %s (set LNPLAYLIVE_SHARED)", chain)
	}
	return chain
}

// Paths are the Core Lightning build LNPLAYLIVE_REAL_CLN points at (with
// lightningd/lightningd, cli/lightning-cli and plugins/) and the chain
// stand-in (../shared/cln/fake-bitcoind/fake-bitcoin-cli).
func Paths(t testing.TB) (build, chain string) {
	t.Helper()
	return locate(t, clnBuild)[0], chainStandIn(t)
}

// Both are the Core Lightning and the Bitcoin Core builds, for tests that
// need the two: it skips when either variable is unset.
func Both(t testing.TB) (cln, bitcoind string) {
	t.Helper()
	dirs := locate(t, clnBuild, bitcoindBuild)
	return dirs[0], dirs[1]
}

// Start runs a node on a chain of its own until the test ends.
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

// Bitcoin is the Bitcoin Core build LNPLAYLIVE_REAL_BITCOIND points at
// (with bin/bitcoind and bin/bitcoin-cli).
func Bitcoin(t testing.TB) string {
	t.Helper()
	return locate(t, bitcoindBuild)[0]
}
