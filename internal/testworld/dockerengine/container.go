package dockerengine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// container is one service's container.
type container struct {
	project *project
	Service string
	Spec    initSpec
	Restart string        // no, always, unless-stopped, on-failure[:N]
	Grace   time.Duration // stop grace period
	Ports   []portMap
	Hash    string // the service's configuration, to tell a changed one
	deps    []string

	mu       sync.Mutex
	seq      int    // network namespace number
	Addr     string // its address on the project network
	cmd      *exec.Cmd
	initPid  int // its PID 1, as the host sees it
	running  bool
	userStop bool // stopped by a user: unless-stopped stays down
	exited   chan struct{}
	ExitCode int
	Restarts int
	proxies  []*proxy
	backoff  time.Duration
}

// portMap is one published port.
type portMap struct{ Host, Container int }

// initSpec is what the container's init (Init) is handed.
type initSpec struct {
	Argv    []string          `json:"argv"`
	Env     map[string]string `json:"env"`
	Mounts  []mount           `json:"mounts"`
	Hosts   string            `json:"hosts"` // the project's hosts file
	Init    bool              `json:"init"`  // init: true
	WorkDir string            `json:"workdir"`
}

type mount struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

func (c *container) name() string { return c.project.Name + "-" + c.Service + "-1" }

func (c *container) logPath() string {
	return filepath.Join(c.project.daemon.dir, "logs", c.project.Name, c.Service+".log")
}

// start runs the container: a network namespace with a new address, then
// a new mount and PID namespace whose PID 1 is the image's entrypoint (or
// docker-init in front of it).
func (c *container) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	d := c.project.daemon
	d.mu.Lock()
	addr := c.project.net.address()
	d.mu.Unlock()
	c.seq = d.nextSeq()
	if err := c.project.net.attach(c.seq, addr); err != nil {
		return err
	}
	d.mu.Lock()
	c.Addr = addr
	err := c.project.writeHosts()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	spec, _ := json.Marshal(c.Spec)
	specPath := filepath.Join(d.dir, "containers", c.name()+".json")
	if err := os.MkdirAll(filepath.Dir(specPath), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(specPath, spec, 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.logPath()), 0o700); err != nil {
		return err
	}
	log, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+c.project.net.nsName(c.seq), "--",
		"unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", d.self, "__init", specPath)
	cmd.Stdout, cmd.Stderr = log, log
	// The readiness pipe (Init's readyFD): nsenter and unshare pass it on.
	readR, readyW, err := os.Pipe()
	if err != nil {
		log.Close()
		return err
	}
	defer readR.Close()
	cmd.ExtraFiles = []*os.File{readyW}

	// Its own session: a signal to the daemon's group never reaches it.
	// A daemon that dies takes its containers with it (unshare's
	// --kill-child passes the kill on to the container's PID 1).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	log.Close()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", c.name(), err)
	}
	pid, err := childOf(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("start %s: %w", c.name(), err)
	}
	if err := waitReady(pid, readR); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return fmt.Errorf("start %s: %w (see docker compose logs %s)", c.name(), err, c.Service)
	}
	c.cmd, c.initPid, c.running, c.userStop = cmd, pid, true, false
	c.exited = make(chan struct{})
	for _, p := range c.Ports {
		px, err := listenProxy(d.hostAddr, p.Host, addr, p.Container, c.project.net.dial)
		if err != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("Error response from daemon: driver failed programming external connectivity on endpoint %s: %w", c.name(), err)
		}
		c.proxies = append(c.proxies, px)
	}
	go c.wait(cmd, c.exited, time.Now())
	return nil
}

// childOf finds the PID 1 that unshare forked (after nsenter exec'd it).
func childOf(pid int) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return 0, fmt.Errorf("container exited at start")
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			// unshare's own comm once it has forked the namespace's init.
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if strings.TrimSpace(string(comm)) == "unshare" {
				return strconv.Atoi(f[0])
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, errors.New("container's init did not start within 5 s")
}

// waitReady waits until the container's command runs, as Docker's start
// returns once the task runs: the init says so on the readiness pipe
// (before then, its PID 1 is the engine's init laying the container out,
// and a SIGTERM would kill that init, which handles it), or says why it
// could not. A command that has run and exited at once has started.
func waitReady(pid int, ready *os.File) error {
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		// Liveness first, then the pipe: what the init wrote before it
		// exited is read in the same round.
		gone := syscall.Kill(pid, 0) != nil
		_ = ready.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if n, _ := ready.Read(buf); n > 0 {
			if buf[0] == 'R' {
				return nil
			}
			return errors.New(strings.TrimSpace(string(buf[:n])))
		}
		if gone {
			return errors.New("the container exited before its command ran")
		}
	}
	return errors.New("the container's command did not start within 10 s")
}

// wait follows the container until it exits, then applies its restart
// policy.
func (c *container) wait(cmd *exec.Cmd, exited chan struct{}, started time.Time) {
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	c.mu.Lock()
	c.running, c.ExitCode, c.initPid = false, code, 0
	for _, p := range c.proxies {
		p.close()
	}
	c.proxies = nil
	c.project.net.detach(c.seq)
	again := !c.userStop && !c.project.daemon.stopping() && c.policyRestarts(code)
	if time.Since(started) > 10*time.Second {
		c.backoff = 0
	}
	if again {
		if c.backoff == 0 {
			c.backoff = 100 * time.Millisecond
		} else {
			c.backoff = min(2*c.backoff, time.Minute)
		}
	}
	delay := c.backoff
	c.mu.Unlock()
	close(exited)
	if again {
		time.Sleep(delay)
		c.mu.Lock()
		stop := c.userStop || c.running
		c.mu.Unlock()
		if !stop && !c.project.daemon.stopping() {
			c.mu.Lock()
			c.Restarts++
			c.mu.Unlock()
			if err := c.start(); err != nil {
				fmt.Fprintf(os.Stderr, "dockerengine: restart %s: %v\n", c.name(), err)
			}
		}
	}
}

// policyRestarts applies the restart policy to an exit Docker did not
// cause.
func (c *container) policyRestarts(code int) bool {
	switch {
	case c.Restart == "always", c.Restart == "unless-stopped":
		return true
	case strings.HasPrefix(c.Restart, "on-failure"):
		return code != 0
	}
	return false
}

// stop is `docker stop`: the stop signal to PID 1, the grace period, then
// SIGKILL. The kernel drops a SIGTERM that a namespace's PID 1 has no
// handler for, exactly as under Docker.
func (c *container) stop(grace time.Duration, user bool) {
	c.mu.Lock()
	if user {
		c.userStop = true
	}
	if !c.running {
		c.mu.Unlock()
		return
	}
	pid, exited := c.initPid, c.exited
	c.mu.Unlock()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-exited
}

// kill is `docker kill`: the signal, nothing else.
func (c *container) kill(sig syscall.Signal) {
	c.mu.Lock()
	pid, running := c.initPid, c.running
	if sig == syscall.SIGKILL {
		c.userStop = true
	}
	c.mu.Unlock()
	if running {
		_ = syscall.Kill(pid, sig)
	}
}

func (c *container) state() (running bool, pid int, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running, c.initPid, c.Addr
}
