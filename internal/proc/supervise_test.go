package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// starter runs a shell script under supervision, logging to a file.
func starter(t *testing.T, script string) (start func(context.Context) (*Proc, error), log string) {
	log = filepath.Join(t.TempDir(), "child.log")
	return func(context.Context) (*Proc, error) {
		f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd := exec.Command("sh", "-c", script)
		cmd.Stdout, cmd.Stderr = f, f
		return Start(cmd)
	}, log
}

// watchCounted starts script once and supervises it; starts counts every
// start, the first included.
func watchCounted(t *testing.T, s *Supervisor, name, script string) (first *Proc, log string, starts *int) {
	start, log := starter(t, script)
	n := 0
	counted := func(ctx context.Context) (*Proc, error) { n++; return start(ctx) }
	p, err := counted(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(name, p, log, counted)
	return p, log, &n
}

type restarts struct {
	mu   sync.Mutex
	seen []Restart
}

func (r *restarts) add(x Restart) { r.mu.Lock(); r.seen = append(r.seen, x); r.mu.Unlock() }
func (r *restarts) all() []Restart {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Restart(nil), r.seen...)
}

func TestAKilledProcessIsStartedAgainAndCounted(t *testing.T) {
	start, log := starter(t, "echo up; exec sleep 60")
	var got restarts
	s := &Supervisor{InitialDelay: 10 * time.Millisecond, StableAfter: time.Hour, OnRestart: got.add}
	var mu sync.Mutex
	var current *Proc
	restart := func(ctx context.Context) (*Proc, error) {
		p, err := start(ctx)
		mu.Lock()
		current = p
		mu.Unlock()
		return p, err
	}
	first, err := restart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Watch("child", first, log, restart)
	t.Cleanup(func() {
		s.Stop()
		mu.Lock()
		current.Stop(syscall.SIGTERM, time.Second)
		mu.Unlock()
	})
	for i := 1; i <= 2; i++ {
		mu.Lock()
		victim := current
		mu.Unlock()
		_ = syscall.Kill(victim.Pid(), syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for len(got.all()) < i || func() bool { mu.Lock(); defer mu.Unlock(); return current == victim }() {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: not restarted (restarts %v)", i, got.all())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	r := got.all()
	if len(r) != 2 || r[0].Exit != "signal: killed" || r[1].Count != 2 || r[1].Delay <= r[0].Delay {
		t.Fatalf("restarts %+v", r)
	}
	select {
	case err := <-s.Failed():
		t.Fatalf("gave up: %v", err)
	default:
	}
}

// A process that dies at every start is given up on, with its own words.
func TestACrashLoopStopsWithTheCause(t *testing.T) {
	start, log := starter(t, "echo 'host pool file: p2p_port_base is required'; exit 3")
	s := &Supervisor{InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, GiveUpAfter: 3, FailFastWithin: time.Nanosecond}
	p, err := start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Watch("worker-1", p, log, start)
	t.Cleanup(s.Stop)
	select {
	case err := <-s.Failed():
		if msg := err.Error(); !strings.Contains(msg, "worker-1 exited 3 times") || !strings.Contains(msg, "exit status 3") ||
			!strings.Contains(msg, "p2p_port_base is required") || !strings.Contains(msg, log) {
			t.Fatalf("reason: %s", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a crash loop was not given up on")
	}
}

// A process that exits by itself right after its first start never came
// up (a bad setting): given up on at once, not retried.
func TestAProcessThatCannotStartStopsAtOnce(t *testing.T) {
	s := &Supervisor{InitialDelay: time.Millisecond}
	_, _, starts := watchCounted(t, s, "codec-server", "echo 'listen 127.0.0.1:8081: address already in use' >&2; exit 1")
	t.Cleanup(s.Stop)
	select {
	case err := <-s.Failed():
		if !strings.Contains(err.Error(), "codec-server could not start (exit status 1") || !strings.Contains(err.Error(), "address already in use") || *starts != 1 {
			t.Fatalf("%d starts: %v", *starts, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not given up on")
	}
}

// Once stopped, a supervisor starts nothing again.
func TestStoppedSupervisorRestartsNothing(t *testing.T) {
	s := &Supervisor{InitialDelay: time.Millisecond}
	p, _, starts := watchCounted(t, s, "child", "exec sleep 60")
	s.Stop()
	p.Stop(syscall.SIGKILL, time.Second)
	time.Sleep(50 * time.Millisecond)
	if *starts != 1 {
		t.Fatalf("started %d times after Stop", *starts)
	}
}
