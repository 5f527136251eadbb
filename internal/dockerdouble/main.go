// Command dockerdouble stands in for `docker` on the test sshd's PATH: no
// container engine runs where the tests run. It records every invocation,
// keeps a small model of the playground (block height, wallet, what each
// address received, nodes' runes) in $DOCKER_DOUBLE_STATE, and answers the
// Core Lightning calls with JSON that it first validates against CLN's own
// schemas (../shared/cln/schemas), so the bootstrap is tested against the
// real shapes. It is the only stand-in on the SSH path; sshd, SFTP and the
// shell that runs the bootstrap script are real.
//
// Faults, one per line in $DOCKER_DOUBLE_STATE/faults, each consumed by the
// first matching call: "kill-after <method>" lets the call succeed, then
// kills the SSH session that ran it (the connection drops mid-bootstrap);
// "sleep-before <method> <seconds>" holds the call (a slow node).
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/clnschema"
)

type state struct {
	Projects map[string]bool            `json:"projects"`
	Height   int                        `json:"height"`
	Wallet   bool                       `json:"wallet"`
	Received map[string]float64         `json:"received"`
	Funded   map[string]int             `json:"funded"` // sendmany outputs per address
	Runes    map[string]int             `json:"runes"`  // runes made per node
	Addrs    map[string]int             `json:"addrs"`
	Extra    map[string]json.RawMessage `json:"extra,omitempty"`
}

func main() {
	dir := os.Getenv("DOCKER_DOUBLE_STATE")
	if dir == "" {
		fail("DOCKER_DOUBLE_STATE is not set")
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		fail(err.Error())
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		fail(err.Error())
	}
	record(dir, os.Args[1:])
	if d := consumeSleep(dir, os.Args[1:]); d > 0 {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		time.Sleep(d)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			fail(err.Error())
		}
	}
	st := load(dir)
	out, method, code := run(st, os.Args[1:])
	save(dir, st)
	kill := consumeFault(dir, method)
	_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	fmt.Print(out)
	if kill {
		killSession()
	}
	os.Exit(code)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "dockerdouble:", msg)
	os.Exit(2)
}

func record(dir string, args []string) {
	f, err := os.OpenFile(filepath.Join(dir, "calls.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fail(err.Error())
	}
	defer f.Close()
	b, _ := json.Marshal(args)
	f.Write(append(b, '\n'))
}

func load(dir string) *state {
	st := &state{Projects: map[string]bool{}, Received: map[string]float64{}, Funded: map[string]int{}, Runes: map[string]int{}, Addrs: map[string]int{}}
	if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
		if err := json.Unmarshal(b, st); err != nil {
			fail("state: " + err.Error())
		}
	}
	return st
}

func save(dir string, st *state) {
	b, _ := json.MarshalIndent(st, "", " ")
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		fail(err.Error())
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		fail(err.Error())
	}
}

// run answers one invocation: output, the method name (for faults), exit code.
func run(st *state, args []string) (string, string, int) {
	if len(args) > 0 && (args[0] == "info" || args[0] == "version") {
		return "Server Version: double\n", args[0], 0
	}
	if len(args) == 0 || args[0] != "compose" {
		return "", "", usage(args)
	}
	if len(args) >= 2 && args[1] == "ls" {
		return composeLs(st, args[2:])
	}
	var project, file string
	rest := args[1:]
	for len(rest) >= 2 && (rest[0] == "-p" || rest[0] == "-f") {
		if rest[0] == "-p" {
			project = rest[1]
		} else {
			file = rest[1]
		}
		rest = rest[2:]
	}
	if project != "" && file == "" && len(rest) > 0 && rest[0] == "down" {
		// Like docker compose, down finds a project by its name alone.
		return composeDown(st, project, rest[1:])
	}
	if project == "" || file == "" {
		return "", "", usage(args)
	}
	if _, err := os.Stat(file); err != nil {
		fmt.Fprintln(os.Stderr, "compose file:", err)
		return "", "", 1
	}
	if len(rest) == 0 {
		return "", "", usage(args)
	}
	switch rest[0] {
	case "up":
		st.Projects[project] = true
		return "", "up", 0
	case "exec":
		if !st.Projects[project] {
			fmt.Fprintln(os.Stderr, "service is not running")
			return "", "", 1
		}
		rest = rest[1:]
		if len(rest) > 0 && rest[0] == "-T" {
			rest = rest[1:]
		}
		if len(rest) < 2 {
			return "", "", usage(args)
		}
		service, cmd := rest[0], rest[1:]
		switch {
		case service == "bitcoind" && cmd[0] == "bitcoin-cli":
			return bitcoinCLI(st, positional(cmd[1:]))
		case strings.HasPrefix(service, "cln-") && cmd[0] == "lightning-cli":
			return lightningCLI(st, project, service, positional(cmd[1:]))
		}
	}
	return "", "", usage(args)
}

// composeLs answers `docker compose ls --all --format json` as Compose v2
// does: a JSON array of {Name, Status, ConfigFiles}.
func composeLs(st *state, args []string) (string, string, int) {
	if strings.Join(args, " ") != "--all --format json" {
		return "", "", usage(append([]string{"compose", "ls"}, args...))
	}
	type project struct {
		Name        string `json:"Name"`
		Status      string `json:"Status"`
		ConfigFiles string `json:"ConfigFiles"`
	}
	out := []project{}
	names := make([]string, 0, len(st.Projects))
	for name, up := range st.Projects {
		if up {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, project{Name: name, Status: "running(3)", ConfigFiles: "/compose.yml"})
	}
	b, _ := json.Marshal(out)
	return string(b) + "\n", "ls", 0
}

// composeDown removes a project; with -v its volumes (the nodes' state) go too.
func composeDown(st *state, project string, args []string) (string, string, int) {
	volumes := false
	for _, a := range args {
		switch a {
		case "-v", "--volumes":
			volumes = true
		case "--remove-orphans":
		default:
			return "", "", usage(append([]string{"compose", "-p", project, "down"}, args...))
		}
	}
	delete(st.Projects, project)
	if volumes {
		for _, m := range []map[string]int{st.Runes, st.Addrs} {
			for k := range m {
				if strings.HasPrefix(k, project+"/") {
					delete(m, k)
				}
			}
		}
	}
	return "", "down", 0
}

func usage(args []string) int {
	fmt.Fprintf(os.Stderr, "dockerdouble: unsupported invocation %q\n", args)
	return 2
}

func positional(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}

func randomAddress() string {
	b := make([]byte, 20)
	rand.Read(b)
	return "bcrt1q" + hex.EncodeToString(b)
}

func bitcoinCLI(st *state, args []string) (string, string, int) {
	if len(args) == 0 {
		return "", "", 2
	}
	m := args[0]
	switch m {
	case "getblockchaininfo":
		return fmt.Sprintf(`{"chain":"regtest","blocks":%d}`+"\n", st.Height), m, 0
	case "getwalletinfo", "loadwallet":
		if !st.Wallet {
			fmt.Fprintln(os.Stderr, "error code: -18\nRequested wallet does not exist or is not loaded")
			return "", m, 18
		}
		return `{"walletname":"lnplaylive"}` + "\n", m, 0
	case "createwallet":
		st.Wallet = true
		return `{"name":"lnplaylive"}` + "\n", m, 0
	case "getblockcount":
		return strconv.Itoa(st.Height) + "\n", m, 0
	case "getnewaddress":
		return randomAddress() + "\n", m, 0
	case "generatetoaddress":
		n, _ := strconv.Atoi(args[1])
		st.Height += n
		return "[]\n", m, 0
	case "getreceivedbyaddress":
		return fmt.Sprintf("%.8f\n", st.Received[args[1]]), m, 0
	case "sendmany":
		var outs map[string]float64
		if len(args) < 3 || json.Unmarshal([]byte(args[2]), &outs) != nil {
			fmt.Fprintln(os.Stderr, "sendmany: bad amounts")
			return "", m, 1
		}
		if st.Height < 101 {
			fmt.Fprintln(os.Stderr, "Insufficient funds")
			return "", m, 6
		}
		for a, v := range outs {
			st.Received[a] += v
			st.Funded[a]++
		}
		b := make([]byte, 32)
		rand.Read(b)
		return hex.EncodeToString(b) + "\n", m, 0
	}
	fmt.Fprintf(os.Stderr, "bitcoin-cli: unsupported %q\n", args)
	return "", m, 2
}

func nodeID(project, service string) string {
	sum := sha256.Sum256([]byte(project + "/" + service))
	return "02" + hex.EncodeToString(sum[:])
}

var schemas *clnschema.Set

// validated prints v only after it passes CLN's schema for method.
func validated(method string, v any) (string, string, int) {
	b, _ := json.MarshalIndent(v, "", "   ")
	if schemas != nil {
		if err := schemas.ValidateResponse(method, b); err != nil {
			fmt.Fprintln(os.Stderr, "dockerdouble: own output violates CLN schema:", err)
			return "", method, 3
		}
	}
	return string(b) + "\n", method, 0
}

func lightningCLI(st *state, project, service string, args []string) (string, string, int) {
	if dir, err := clnschema.Dir(); err == nil {
		schemas = clnschema.Load(dir)
	}
	if len(args) == 0 {
		return "", "", 2
	}
	m := args[0]
	key := project + "/" + service
	switch m {
	case "getinfo":
		return validated("getinfo", map[string]any{
			"id": nodeID(project, service), "alias": "lnplaylive-" + strings.TrimPrefix(service, "cln-"), "color": "02bf81",
			"num_peers": 1, "num_pending_channels": 0, "num_active_channels": 0, "num_inactive_channels": 0,
			"version": "v25.12.1", "blockheight": st.Height, "network": "regtest", "fees_collected_msat": 0,
			"lightning-dir": "/root/.lightning/regtest", "address": []any{},
			"our_features": map[string]string{"init": "08a0000a8a5961", "node": "88a0000a8a5961", "channel": "", "invoice": "02000002024100"},
		})
	case "newaddr":
		st.Addrs[key]++
		return fmt.Sprintf(`{"bech32": %q}`+"\n", randomAddress()), m, 0
	case "connect":
		if len(args) < 2 || !strings.Contains(args[1], "@") {
			fmt.Fprintln(os.Stderr, "connect: need id@host:port")
			return "", m, 1
		}
		id, _, _ := strings.Cut(args[1], "@")
		return fmt.Sprintf(`{"id": %q, "features": "", "direction": "out", "address": {"type": "ipv4", "address": "10.0.0.2", "port": 9735}}`+"\n", id), m, 0
	case "createrune":
		var restrictions [][]string
		raw := ""
		for _, a := range args[1:] {
			if v, ok := strings.CutPrefix(a, "restrictions="); ok {
				raw = v
			}
		}
		if err := json.Unmarshal([]byte(raw), &restrictions); err != nil {
			fmt.Fprintln(os.Stderr, "createrune: restrictions must be a JSON array of arrays")
			return "", m, 1
		}
		parts := make([]string, len(restrictions))
		for i, alts := range restrictions {
			parts[i] = strings.Join(alts, "|")
		}
		uid := st.Runes[key]
		st.Runes[key]++
		auth := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%d", key, uid, time.Now().UnixNano())))
		rune := base64.URLEncoding.EncodeToString(append(auth[:], []byte("="+strconv.Itoa(uid)+"&"+strings.Join(parts, "&"))...))
		return validated("createrune", map[string]any{"rune": rune, "unique_id": strconv.Itoa(uid)})
	}
	fmt.Fprintf(os.Stderr, "lightning-cli: unsupported %q\n", args)
	return "", m, 2
}

func consumeFault(dir, method string) bool {
	path := filepath.Join(dir, "faults")
	b, err := os.ReadFile(path)
	if err != nil || method == "" {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines {
		if l == "kill-after "+method {
			rest := append(lines[:i:i], lines[i+1:]...)
			_ = os.WriteFile(path, []byte(strings.Join(rest, "\n")), 0o600)
			return true
		}
	}
	return false
}

// consumeSleep returns the delay of a "sleep-before <method> <s>" fault
// matching this call (its method is any argument), consuming it.
func consumeSleep(dir string, args []string) time.Duration {
	path := filepath.Join(dir, "faults")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "sleep-before" {
			continue
		}
		for _, a := range args {
			if a == f[1] {
				secs, _ := strconv.Atoi(f[2])
				rest := append(lines[:i:i], lines[i+1:]...)
				_ = os.WriteFile(path, []byte(strings.Join(rest, "\n")), 0o600)
				return time.Duration(secs) * time.Second
			}
		}
	}
	return 0
}

// killSession kills the nearest sshd ancestor: the process serving this SSH
// connection, so the client sees the connection drop.
func killSession() {
	pid := os.Getppid()
	for pid > 1 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		s := string(stat)
		open, closeIdx := strings.Index(s, "("), strings.LastIndex(s, ")")
		comm := s[open+1 : closeIdx]
		fields := strings.Fields(s[closeIdx+2:])
		if strings.HasPrefix(comm, "sshd") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		pid, _ = strconv.Atoi(fields[1])
	}
}
