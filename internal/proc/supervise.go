package proc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Restart is one restart a Supervisor made, as its log line and metric
// tell it.
type Restart struct {
	Name   string
	Exit   string        // how the process ended: "signal: killed", "exit status 1"
	RanFor time.Duration // how long it had run
	Delay  time.Duration // the backoff before the new start
	Count  int           // restarts of this process so far
}

// Supervisor keeps processes running: one that exits without being asked
// to is started again after a backoff that grows on repeated crashes and
// resets once the process has stayed up a while. A process that cannot be
// started again, or keeps dying at once, is given up on: Failed says why,
// with the end of its log, and the owner stops everything (a crash loop
// helps nobody; a bad setting is the operator's to fix).
type Supervisor struct {
	// StableAfter: a process up this long has recovered; its backoff resets.
	StableAfter time.Duration
	// GiveUpAfter consecutive exits, each within StableAfter of its start.
	GiveUpAfter int
	// InitialDelay and MaxDelay bound the backoff.
	InitialDelay, MaxDelay time.Duration
	// FailFastWithin: a process that exits by itself (not killed) this soon
	// after its first start never came up: a bad setting, a port taken. It
	// is given up on at once, with its own words.
	FailFastWithin time.Duration
	// OnRestart is told of each restart (the log line, the metric).
	OnRestart func(Restart)

	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	failed chan error
	wg     sync.WaitGroup
}

func (s *Supervisor) init() {
	s.once.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.failed = make(chan error, 1)
		if s.StableAfter == 0 {
			s.StableAfter = 30 * time.Second
		}
		if s.GiveUpAfter == 0 {
			s.GiveUpAfter = 5
		}
		if s.InitialDelay == 0 {
			s.InitialDelay = 250 * time.Millisecond
		}
		if s.MaxDelay == 0 {
			s.MaxDelay = 15 * time.Second
		}
		if s.FailFastWithin == 0 {
			s.FailFastWithin = 3 * time.Second
		}
	})
}

// Watch supervises p, already started; start starts it again (and records
// the new process wherever its owner keeps it). log is its log file, whose
// last lines name the cause when it is given up on.
func (s *Supervisor) Watch(name string, p *Proc, log string, start func(ctx context.Context) (*Proc, error)) {
	s.init()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch(name, p, log, start)
	}()
}

func (s *Supervisor) watch(name string, p *Proc, log string, start func(ctx context.Context) (*Proc, error)) {
	b := &backoff.ExponentialBackOff{InitialInterval: s.InitialDelay, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: s.MaxDelay}
	b.Reset()
	started, restarts, quick := time.Now(), 0, 0
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-p.Exited():
		}
		select {
		case <-s.ctx.Done():
			return // asked to stop: its owner is stopping it
		default:
		}
		ran := time.Since(started)
		if restarts == 0 && ran < s.FailFastWithin && !p.Signaled() {
			s.fail(fmt.Errorf("%s could not start (%s after %s). The end of %s:\n%s", name, p.ExitStatus(), ran.Round(time.Millisecond), log, Tail(log, 10)))
			return
		}
		if ran >= s.StableAfter {
			b.Reset()
			quick = 0
		} else if quick++; quick >= s.GiveUpAfter {
			s.fail(fmt.Errorf("%s exited %d times in a row within %s of starting (last: %s); not restarting it. The end of %s:\n%s",
				name, quick, s.StableAfter, p.ExitStatus(), log, Tail(log, 10)))
			return
		}
		restarts++
		delay := b.NextBackOff()
		if s.OnRestart != nil {
			s.OnRestart(Restart{Name: name, Exit: p.ExitStatus(), RanFor: ran, Delay: delay, Count: restarts})
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		next, err := start(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.fail(fmt.Errorf("%s exited (%s) and could not be started again: %w", name, p.ExitStatus(), err))
			return
		}
		p, started = next, time.Now()
	}
}

func (s *Supervisor) fail(err error) {
	select {
	case s.failed <- err:
	default: // one reason is enough to stop everything
	}
}

// Failed delivers the first process given up on.
func (s *Supervisor) Failed() <-chan error {
	s.init()
	return s.failed
}

// Stop ends the supervision (before the owner stops the processes, so none
// is started again) and waits for any restart under way to finish.
func (s *Supervisor) Stop() {
	s.init()
	s.cancel()
	s.wg.Wait()
}

// Tail is the last n lines of a log file, or what kept it from being read.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
