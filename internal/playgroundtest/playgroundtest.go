// Package playgroundtest is an order's machine for tests: a real sshd on
// loopback whose sessions find the docker double first on their PATH.
package playgroundtest

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/internal/sshdtest"
	"github.com/lnplaylive/lnplaylive/internal/testbin"
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

// StartEnv is StartAt with more environment for the double (its real mode:
// DOCKER_DOUBLE_CLN and DOCKER_DOUBLE_CHAIN).
func StartEnv(t testing.TB, hostKey ed25519.PrivateKey, authorized ssh.PublicKey, listen string, port int, env map[string]string) *Machine {
	t.Helper()
	docker, err := testbin.Tool("./internal/dockerdouble", "docker")
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
