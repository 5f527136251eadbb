// Package proc runs child processes (the Temporal dev server and services,
// PostgreSQL, workers, sshd) and stops them the same way: a signal, a grace
// period, then SIGKILL, always waiting for the exit so files and ports are
// free afterwards. A Supervisor starts again those that exit unasked.
package proc

import (
	"os/exec"
	"syscall"
	"time"
)

// Proc is a started process.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts cmd and watches for its exit.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// ExitStatus is how the process ended ("exit status 1", "signal:
// killed"), or "running".
func (p *Proc) ExitStatus() string {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.String()
	default:
		return "running"
	}
}

// Signaled tells whether the process was ended by a signal (killed)
// rather than exiting by itself.
func (p *Proc) Signaled() bool {
	select {
	case <-p.exited:
		ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		return ok && ws.Signaled()
	default:
		return false
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop sends sig and waits for the exit; after grace it sends SIGKILL.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
