package dockerengine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Daemon is the engine: the projects and their containers.
type Daemon struct {
	dir      string
	self     string // this binary, whose __init runs in each container
	hostAddr string // where published ports listen
	images   map[string]image

	mu       sync.Mutex // projects, and every project's addresses and hosts file
	projects map[string]*project
	seq      atomic.Int64
	down     atomic.Bool
}

// Config configures a daemon.
type Config struct {
	Dir      string // state: volumes, logs, hosts files
	Self     string // the double's binary
	HostAddr string // the host's address for published ports
	Builds   Builds
}

// New makes a daemon.
func New(cfg Config) (*Daemon, error) {
	ims, err := images(filepath.Join(cfg.Dir, "images"), cfg.Builds)
	if err != nil {
		return nil, err
	}
	return &Daemon{dir: cfg.Dir, self: cfg.Self, hostAddr: cfg.HostAddr, images: ims, projects: map[string]*project{}}, nil
}

func (d *Daemon) nextSeq() int   { return int(d.seq.Add(1)) }
func (d *Daemon) stopping() bool { return d.down.Load() }
func (d *Daemon) project(name string) *project {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.projects[name]
}

// Request is one docker command line, from the CLI double.
type Request struct {
	Args []string `json:"args"`
}

// Response is its outcome; Exec is set when the CLI is to run a command
// inside a container itself (so stdin, stdout and a dropped session
// behave as they do with `docker exec`).
type Response struct {
	Stdout string    `json:"stdout,omitempty"`
	Stderr string    `json:"stderr,omitempty"`
	Code   int       `json:"code"`
	Exec   *ExecPlan `json:"exec,omitempty"`
}

// ExecPlan is a command to run in a container.
type ExecPlan struct {
	Pid  int               `json:"pid"`
	Env  map[string]string `json:"env"`
	Argv []string          `json:"argv"`
}

// Serve answers requests on a unix socket until Shutdown.
func (d *Daemon) Serve(socket string) error {
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			var req Request
			if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
				return
			}
			_ = json.NewEncoder(conn).Encode(d.Handle(req.Args))
		}()
	}
}

// Handle runs one docker command line.
func (d *Daemon) Handle(args []string) Response {
	var out, errOut strings.Builder
	code, plan := d.handle(args, &out, &errOut)
	return Response{Stdout: out.String(), Stderr: errOut.String(), Code: code, Exec: plan}
}

func (d *Daemon) handle(args []string, out, errOut *strings.Builder) (int, *ExecPlan) {
	fail := func(format string, a ...any) (int, *ExecPlan) {
		fmt.Fprintf(errOut, format+"\n", a...)
		return 1, nil
	}
	switch {
	case len(args) == 0:
		return fail("Usage:  docker [OPTIONS] COMMAND")
	case args[0] == "version" || args[0] == "info":
		fmt.Fprintln(out, "Server Version: 28.2.2 (dockerengine double)")
		return 0, nil
	case args[0] == "__reboot":
		d.Reboot(len(args) > 1 && args[1] == "--hard")
		return 0, nil
	case args[0] == "__crash" && len(args) == 3:
		// The container's process dies (an OOM kill): not a user's stop.
		c, err := d.find(args[1], args[2])
		if err != nil {
			return fail("%v", err)
		}
		if _, pid, _ := c.state(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return 0, nil
	case args[0] == "__inspect" && len(args) == 3:
		c, err := d.find(args[1], args[2])
		if err != nil {
			return fail("%v", err)
		}
		c.mu.Lock()
		b, _ := json.Marshal(map[string]any{"running": c.running, "pid": c.initPid, "address": c.Addr, "restarts": c.Restarts, "exit_code": c.ExitCode})
		c.mu.Unlock()
		fmt.Fprintln(out, string(b))
		return 0, nil
	case args[0] != "compose":
		return fail("docker: '%s' is not a docker command.", args[0])
	}
	rest := args[1:]
	if len(rest) == 1 && rest[0] == "version" {
		fmt.Fprintln(out, "Docker Compose version v2.36.2")
		return 0, nil
	}
	if len(rest) > 0 && rest[0] == "ls" {
		return d.ls(rest[1:], out, errOut), nil
	}
	var name, file string
	for len(rest) >= 2 && (rest[0] == "-p" || rest[0] == "-f") {
		if rest[0] == "-p" {
			name = rest[1]
		} else {
			file = rest[1]
		}
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return fail("Usage:  docker compose [OPTIONS] COMMAND")
	}
	cmd, opts := rest[0], rest[1:]
	if cmd == "up" {
		if file == "" {
			return fail("no configuration file provided: not found")
		}
		return d.up(file, name, opts, errOut), nil
	}
	if name == "" {
		if file == "" {
			return fail("no configuration file provided: not found")
		}
		cp, err := load(file, "")
		if err != nil {
			return fail("%v", err)
		}
		name = cp.Name
	}
	p := d.project(name)
	if p == nil {
		if cmd == "down" {
			return 0, nil // nothing to take down
		}
		return fail("no container found for project %q", name)
	}
	switch cmd {
	case "down":
		return d.composeDown(p, opts, errOut), nil
	case "exec":
		return p.exec(opts, errOut)
	case "stop", "start", "restart", "kill":
		return p.lifecycle(cmd, opts, errOut), nil
	case "ps":
		return p.ps(out), nil
	case "logs":
		for _, s := range opts {
			if c := p.containers[s]; c != nil {
				b, _ := os.ReadFile(c.logPath())
				out.Write(b)
			}
		}
		return 0, nil
	}
	return fail("docker compose %s: not supported by this engine", cmd)
}

func (d *Daemon) find(projectName, service string) (*container, error) {
	p := d.project(projectName)
	if p == nil || p.containers[service] == nil {
		return nil, fmt.Errorf("no such container: %s-%s-1", projectName, service)
	}
	return p.containers[service], nil
}

// up converges the project on the file: new and changed services are
// (re)created, stopped ones started, running unchanged ones left alone;
// --remove-orphans removes containers of services no longer in the file.
func (d *Daemon) up(file, name string, opts []string, errOut *strings.Builder) int {
	detached, orphans := false, false
	for _, o := range opts {
		switch o {
		case "-d", "--detach":
			detached = true
		case "--remove-orphans":
			orphans = true
		default:
			fmt.Fprintf(errOut, "unknown flag: %s\n", o)
			return 1
		}
	}
	if !detached {
		fmt.Fprintln(errOut, "this engine runs `up` detached only (-d)")
		return 1
	}
	cp, err := load(file, name)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return 1
	}
	d.mu.Lock()
	p := d.projects[cp.Name]
	if p == nil {
		n, err := newNetwork()
		if err != nil {
			d.mu.Unlock()
			fmt.Fprintln(errOut, err)
			return 1
		}
		p = &project{daemon: d, Name: cp.Name, net: n, containers: map[string]*container{}}
		d.projects[cp.Name] = p
	}
	d.mu.Unlock()
	want, order, err := d.containersFor(p, cp)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return 1
	}
	for svc, c := range p.containers {
		if _, ok := want[svc]; !ok && orphans {
			c.stop(c.Grace, true)
			d.mu.Lock()
			delete(p.containers, svc)
			d.mu.Unlock()
		}
	}
	p.order = order
	for _, svc := range order {
		old := p.containers[svc]
		if old != nil && old.Hash == want[svc].Hash {
			if err := old.start(); err != nil {
				fmt.Fprintln(errOut, err)
				return 1
			}
			continue
		}
		if old != nil {
			old.stop(old.Grace, true)
		}
		d.mu.Lock()
		p.containers[svc] = want[svc]
		d.mu.Unlock()
		fmt.Fprintf(errOut, " Container %s  Started\n", want[svc].name())
		if err := want[svc].start(); err != nil {
			fmt.Fprintln(errOut, err)
			return 1
		}
	}
	return 0
}

// layers gives the project's containers in stop order, as Compose stops
// them: what nothing depends on first, each layer in parallel, then what
// those depended on. Start order is the reverse.
func (p *project) layers() [][]*container {
	height := map[string]int{}
	var of func(s string) int
	of = func(s string) int {
		if h, ok := height[s]; ok {
			return h
		}
		h := 0
		for _, c := range p.containers {
			if slices.Contains(c.deps, s) {
				h = max(h, 1+of(c.Service)) // the loader refuses cycles
			}
		}
		height[s] = h
		return h
	}
	var out [][]*container
	for _, n := range p.services() {
		h := of(n)
		for len(out) <= h {
			out = append(out, nil)
		}
		out[h] = append(out[h], p.containers[n])
	}
	return out
}

func stopAll(cs []*container, user bool) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop(c.Grace, user)
		}()
	}
	wg.Wait()
}

func (d *Daemon) composeDown(p *project, opts []string, errOut *strings.Builder) int {
	volumes := false
	for _, o := range opts {
		switch o {
		case "-v", "--volumes":
			volumes = true
		case "--remove-orphans":
		default:
			fmt.Fprintf(errOut, "unknown flag: %s\n", o)
			return 1
		}
	}
	for _, layer := range p.layers() {
		stopAll(layer, true)
	}
	d.mu.Lock()
	delete(d.projects, p.Name)
	d.mu.Unlock()
	p.net.release()
	_ = os.Remove(p.hostsPath())
	if volumes {
		vols, _ := filepath.Glob(filepath.Join(d.dir, "volumes", p.Name+"_*"))
		for _, v := range vols {
			_ = os.RemoveAll(v)
		}
	}
	return 0
}

// exec answers `exec [-T] <service> <cmd…>` with the plan the CLI runs.
func (p *project) exec(opts []string, errOut *strings.Builder) (int, *ExecPlan) {
	if len(opts) > 0 && opts[0] == "-T" {
		opts = opts[1:]
	}
	if len(opts) < 2 {
		fmt.Fprintln(errOut, "exec requires at least 2 arguments")
		return 1, nil
	}
	c := p.containers[opts[0]]
	if c == nil {
		fmt.Fprintf(errOut, "service %q is not running\n", opts[0])
		return 1, nil
	}
	running, pid, _ := c.state()
	if !running {
		fmt.Fprintf(errOut, "service %q is not running\n", opts[0])
		return 1, nil
	}
	return 0, &ExecPlan{Pid: pid, Env: c.Spec.Env, Argv: opts[1:]}
}

// lifecycle is stop, start, restart and kill, on the named services or
// all of them.
func (p *project) lifecycle(cmd string, opts []string, errOut *strings.Builder) int {
	sig := syscall.SIGKILL
	var names []string
	for i := 0; i < len(opts); i++ {
		switch o := opts[i]; {
		case (o == "-s" || o == "--signal") && i+1 < len(opts) && cmd == "kill":
			s, ok := signals[strings.TrimPrefix(opts[i+1], "SIG")]
			if !ok {
				fmt.Fprintf(errOut, "invalid signal: %s\n", opts[i+1])
				return 1
			}
			sig = s
			i++
		case strings.HasPrefix(o, "-"):
			fmt.Fprintf(errOut, "unknown flag: %s\n", o)
			return 1
		default:
			if p.containers[o] == nil {
				fmt.Fprintf(errOut, "no such service: %s\n", o)
				return 1
			}
			names = append(names, o)
		}
	}
	var cs []*container
	for _, l := range p.layers() {
		for _, c := range l {
			if len(names) == 0 || slices.Contains(names, c.Service) {
				cs = append(cs, c)
			}
		}
	}
	switch cmd {
	case "kill":
		for _, c := range cs {
			c.kill(sig)
		}
	case "stop":
		stopAll(cs, true)
	case "restart":
		stopAll(cs, false)
		fallthrough
	case "start":
		slices.Reverse(cs)
		for _, c := range cs {
			if err := c.start(); err != nil {
				fmt.Fprintln(errOut, err)
				return 1
			}
		}
	}
	return 0
}

var signals = map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1}

func (p *project) ps(out *strings.Builder) int {
	for _, n := range p.services() {
		c := p.containers[n]
		c.mu.Lock()
		st := "exited"
		if c.running {
			st = "running"
		}
		b, _ := json.Marshal(map[string]any{"Name": c.name(), "Service": n, "State": st, "ExitCode": c.ExitCode})
		c.mu.Unlock()
		fmt.Fprintln(out, string(b))
	}
	return 0
}

// ls answers `compose ls --all --format json` as Compose v2 does.
func (d *Daemon) ls(opts []string, out, errOut *strings.Builder) int {
	if strings.Join(opts, " ") != "--all --format json" {
		fmt.Fprintf(errOut, "this engine answers `compose ls --all --format json` only\n")
		return 1
	}
	type entry struct {
		Name, Status, ConfigFiles string
	}
	d.mu.Lock()
	var list []entry
	for name, p := range d.projects {
		n := 0
		for _, c := range p.containers {
			if running, _, _ := c.state(); running {
				n++
			}
		}
		st := fmt.Sprintf("running(%d)", n)
		if n == 0 {
			st = fmt.Sprintf("exited(%d)", len(p.containers))
		}
		list = append(list, entry{name, st, "/compose.yml"})
	}
	d.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	if list == nil {
		list = []entry{}
	}
	b, _ := json.Marshal(list)
	fmt.Fprintln(out, string(b))
	return 0
}

// Reboot is the whole host going down and up: every container dies
// (hard: SIGKILL at once, a power cut; otherwise Docker's own shutdown,
// the stop signal and the grace period), the networks are made anew, and
// the containers whose policy says so start again, with new addresses.
func (d *Daemon) Reboot(hard bool) {
	d.down.Store(true)
	ps := d.snapshot()
	var all []*container
	for _, p := range ps {
		for _, c := range p.containers {
			all = append(all, c)
		}
	}
	if hard {
		killAll(all, 0)
	} else {
		stopAll(all, false)
	}
	d.down.Store(false)
	for _, p := range ps {
		for _, svc := range p.order {
			c := p.containers[svc]
			if c == nil || c.userStop || (c.Restart != "always" && c.Restart != "unless-stopped") {
				continue
			}
			if err := c.start(); err != nil {
				fmt.Fprintf(os.Stderr, "dockerengine: after reboot, %s: %v\n", c.name(), err)
			}
		}
	}
}

// Shutdown kills every container and removes every network.
func (d *Daemon) Shutdown() {
	d.down.Store(true)
	for _, p := range d.snapshot() {
		cs := make([]*container, 0, len(p.containers))
		for _, c := range p.containers {
			cs = append(cs, c)
		}
		killAll(cs, 5*time.Second)
		p.net.release()
	}
}

// snapshot is the projects now.
func (d *Daemon) snapshot() []*project {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.projects))
}

// killAll SIGKILLs the containers and waits until they are gone (at most
// within, when it is not zero).
func killAll(cs []*container, within time.Duration) {
	for _, c := range cs {
		if _, pid, _ := c.state(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var timeout <-chan time.Time
	if within > 0 {
		timeout = time.After(within)
	}
	for _, c := range cs {
		c.mu.Lock()
		ch := c.exited
		c.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-timeout:
			return
		}
	}
}

// ErrNoDaemon is returned by Call when no daemon listens.
var ErrNoDaemon = errors.New("Cannot connect to the Docker daemon. Is the docker daemon running?")

// Call sends one command line to the daemon at socket.
func Call(socket string, args []string) (Response, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return Response{}, ErrNoDaemon
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(Request{Args: args}); err != nil {
		return Response{}, err
	}
	var r Response
	if err := json.NewDecoder(conn).Decode(&r); err != nil {
		return Response{}, fmt.Errorf("daemon: %w", err)
	}
	return r, nil
}
