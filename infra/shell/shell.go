// Package shell is where an order's commands run: a Session uploads files
// and runs commands on a machine, over SSH (infra/sshx) or on this one
// (Local, for the local provider). It also bounds what a command may send
// back, the same for both.
package shell

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Session runs an order's steps on a machine.
type Session interface {
	// Upload writes data to dst atomically: a half-written file never
	// stands under dst.
	Upload(dst string, data []byte, mode uint32) error
	// Run runs cmd in a POSIX shell and returns its standard output; each
	// line also goes to onLine (may be nil) as it arrives. A non-zero exit
	// is an error carrying the end of stderr.
	Run(ctx context.Context, cmd string, onLine func(string)) ([]byte, error)
	Close() error
}

// ErrOutputTooLarge: a command wrote more than MaxOutput.
var ErrOutputTooLarge = errors.New("command output exceeds the limit")

// Limits on what a command may send back.
const (
	MaxOutput = 4 << 20
	MaxLine   = 64 << 10
)

// ReadLines reads r to its end within the limits, passing each line to
// onLine.
func ReadLines(r io.Reader, onLine func(string)) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	var out []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// keep reading this line, within MaxLine
			full := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
				if len(full) > MaxLine {
					_, _ = io.Copy(io.Discard, r)
					return nil, fmt.Errorf("%w: a line over %d bytes", ErrOutputTooLarge, MaxLine)
				}
			}
			line = full
		}
		if len(out)+len(line) > MaxOutput {
			_, _ = io.Copy(io.Discard, r)
			return nil, fmt.Errorf("%w: over %d bytes", ErrOutputTooLarge, MaxOutput)
		}
		out = append(out, line...)
		if onLine != nil && len(line) > 0 {
			onLine(string(bytes.TrimRight(line, "\r\n")))
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Finish reads a started command's output to its end and waits for it;
// when ctx ends first, kill stops the command and ctx's error is returned.
// A non-zero exit is an error carrying the end of stderr.
func Finish(ctx context.Context, stdout io.Reader, stderr *Tail, wait func() error, kill func(), onLine func(string)) ([]byte, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			kill()
		case <-done:
		}
	}()
	out, readErr := ReadLines(stdout, onLine)
	waitErr := wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if readErr != nil {
		return nil, readErr
	}
	if waitErr != nil {
		return nil, fmt.Errorf("command failed: %w: %s", waitErr, stderr.String())
	}
	return out, nil
}

// Tail keeps the last 2 KiB written to it: enough of stderr to say what
// failed, never an unbounded copy.
type Tail struct{ b []byte }

func (t *Tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *Tail) String() string { return string(bytes.TrimSpace(t.b)) }

// Local is a Session on this machine, for playgrounds on the local
// container engine. Env is added to the commands' environment.
type Local struct{ Env []string }

// Upload implements Session.
func (l Local) Upload(dst string, data []byte, mode uint32) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", filepath.Dir(dst), err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := dst + ".tmp-" + hex.EncodeToString(suffix[:])
	if err := os.WriteFile(tmp, data, fs.FileMode(mode)&fs.ModePerm); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, fs.FileMode(mode)&fs.ModePerm); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", dst, err)
	}
	return nil
}

// Run implements Session. A cancelled ctx kills the command's whole
// process group, as a dropped SSH session ends a remote one.
func (l Local) Run(ctx context.Context, cmd string, onLine func(string)) ([]byte, error) {
	c := exec.Command("sh", "-c", cmd)
	c.Env = append(os.Environ(), l.Env...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr Tail
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return Finish(ctx, stdout, &stderr, c.Wait, func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }, onLine)
}

// Close implements Session.
func (Local) Close() error { return nil }
