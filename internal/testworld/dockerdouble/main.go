// Command dockerdouble stands in for `docker` on the test sshd's PATH: no
// container engine runs where the tests run. It has two modes.
//
// Engine mode (DOCKER_DOUBLE_ENGINE set, engine.go): the container engine
// double (internal/dockerengine) runs the compose file as Docker and the
// images would, on real Bitcoin Core and real lightningd: what the tests
// that claim "works on the real chain" use.
//
// Model mode, for speed and fault injection: it records every invocation
// and keeps a model of each Compose project in $DOCKER_DOUBLE_STATE:
//   - bitcoind (bitcoind.go): a regtest chain and a wallet with Bitcoin
//     Core's semantics and errors: coinbase maturity, insufficient funds,
//     -4 "Address not found in wallet" for addresses it does not own;
//   - Core Lightning nodes (lightning.go): addresses, funds seen only once
//     confirmed, peers, channels that lock in after 3 confirmations and are
//     gossiped after 6, pay along channels with the liquidity to carry the
//     payment, invoices, and runes checked with CLN's condition language
//     (internal/runetest).
//
// Every lightning-cli request is validated against CLN's own request
// schema and every answer against its response schema
// (../shared/cln/schemas) before it is printed. It is the only stand-in on
// the SSH path; sshd, SFTP and the shell that runs the bootstrap are real.
//
// Faults, one per line in $DOCKER_DOUBLE_STATE/faults: "kill-after
// <method>" lets the call succeed, then kills the SSH session that ran it
// (the connection drops mid-bootstrap); "sleep-before <method> <seconds>"
// holds the call (a slow node); both are consumed by the first matching
// call. "never-confirm cln-<i>" stays: that node's funding transactions
// are never mined. "lose-mempool-after <method>" lets the call succeed,
// then empties bitcoind's mempool, as a kill of bitcoind (restarted by its
// policy) does.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type state struct {
	Projects map[string]bool `json:"projects"`
	// Funded counts the wallet's payments to each address, across projects:
	// what tests look at to prove nobody was funded twice.
	Funded map[string]int `json:"funded"`
	// Nets are the projects' chains and nodes, by project name.
	Nets map[string]*net `json:"nets"`
	// faults is the armed "never-confirm" lines (not saved).
	faults []string
	// dir is the state directory (not saved).
	dir string
}

func main() {
	if engineMain(os.Args[1:]) {
		return
	}
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
	if consumeFaultLine(dir, "lose-mempool-after "+method) {
		st.loseMempool()
	}
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
	st := &state{Projects: map[string]bool{}, Funded: map[string]int{}, Nets: map[string]*net{}, dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
		if err := json.Unmarshal(b, st); err != nil {
			fail("state: " + err.Error())
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "faults")); err == nil {
		st.faults = strings.Split(string(b), "\n")
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
	if len(args) == 2 && args[1] == "version" {
		return "Docker Compose version v2.double\n", "version", 0
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
		compose, _ := os.ReadFile(file)
		st.net(project).up(string(compose))
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
		n := st.net(project)
		switch {
		case service == "bitcoind" && cmd[0] == "bitcoin-cli":
			return n.bitcoinCLI(st, cmd[1:])
		case strings.HasPrefix(service, "cln-") && cmd[0] == "lightning-cli":
			node := n.Nodes[service]
			if node == nil {
				fmt.Fprintf(os.Stderr, "service %q is not running\n", service)
				return "", "", 1
			}
			return n.lightningCLI(st, node, cmd[1:])
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
		delete(st.Nets, project)
	}
	return "", "down", 0
}

// splitArgs separates a command line's flags (words starting with "-")
// from its words.
func splitArgs(argv []string) (flags, words []string) {
	for _, a := range argv {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			words = append(words, a)
		}
	}
	return flags, words
}

func usage(args []string) int {
	fmt.Fprintf(os.Stderr, "dockerdouble: unsupported invocation %q\n", args)
	return 2
}

func consumeFault(dir, method string) bool { return consumeFaultLine(dir, "kill-after "+method) }

// consumeFaultLine removes the first fault line equal to line, telling
// whether there was one.
func consumeFaultLine(dir, line string) bool {
	path := filepath.Join(dir, "faults")
	b, err := os.ReadFile(path)
	if err != nil || strings.HasSuffix(line, " ") {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines {
		if l == line {
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
