// Package sshx is the worker's SSH and SFTP to an order's machine: host key
// pinned (never trust-on-first-use), one connection reused for every step,
// uploads written then renamed so a dropped connection never leaves a
// half-written file in place, and remote output bounded.
package sshx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra/shell"
)

// ErrHostKeyMismatch: the machine offered another host key than the pinned one.
var ErrHostKeyMismatch = errors.New("ssh host key mismatch: refusing to connect")

// ErrOutputTooLarge: a remote command wrote more than shell.MaxOutput.
var ErrOutputTooLarge = shell.ErrOutputTooLarge

// Target is where to connect and whom to trust.
type Target struct {
	Addr    string // host:port
	User    string
	Signer  ssh.Signer    // the operator's key (secret)
	HostKey ssh.PublicKey // pinned
	// Dial opens the TCP connection; nil uses net.Dialer. Tests use it to
	// drop connections at chosen moments.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is one SSH connection with a lazily opened SFTP session.
type Client struct {
	ssh  *ssh.Client
	mu   sync.Mutex
	sftp *sftp.Client
}

// Dial connects once.
func Dial(ctx context.Context, t Target) (*Client, error) {
	pinned := t.HostKey.Marshal()
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if !bytes.Equal(key.Marshal(), pinned) {
				return ErrHostKeyMismatch
			}
			return nil
		},
		// Ask for the pinned key's algorithm only: a server may offer another
		// of its keys first, and the pin would then fail for no reason.
		HostKeyAlgorithms: []string{t.HostKey.Type()},
		Timeout:           15 * time.Second,
	}
	dial := t.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", t.Addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, t.Addr, cfg)
	if err != nil {
		conn.Close()
		if errors.Is(err, ErrHostKeyMismatch) {
			return nil, fmt.Errorf("ssh %s: %w", t.Addr, ErrHostKeyMismatch)
		}
		return nil, fmt.Errorf("ssh %s: %w", t.Addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{ssh: ssh.NewClient(c, chans, reqs)}, nil
}

// DialRetry dials until it succeeds, ctx ends, or the host key is wrong
// (retrying cannot fix that). A fresh VM's sshd takes a while to come up.
func DialRetry(ctx context.Context, t Target, onRetry func(error)) (*Client, error) {
	backoff := 500 * time.Millisecond
	for {
		c, err := Dial(ctx, t)
		if err == nil || errors.Is(err, ErrHostKeyMismatch) {
			return c, err
		}
		if onRetry != nil {
			onRetry(err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// Close ends the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.sftp != nil {
		c.sftp.Close()
	}
	c.mu.Unlock()
	return c.ssh.Close()
}

// Run runs cmd and returns its standard output. Each output line is also
// passed to onLine (may be nil) as it arrives. A non-zero exit is an error
// carrying the end of stderr.
func (c *Client) Run(ctx context.Context, cmd string, onLine func(string)) ([]byte, error) {
	s, err := c.ssh.NewSession()
	if err != nil {
		return nil, fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr shell.Tail
	s.Stderr = &stderr
	if err := s.Start(cmd); err != nil {
		return nil, fmt.Errorf("ssh start: %w", err)
	}
	out, err := shell.Finish(ctx, stdout, &stderr, s.Wait, func() { _ = s.Signal(ssh.SIGKILL); s.Close() }, onLine)
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("remote %w", err)
	}
	return out, err
}

func (c *Client) sftpClient() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp == nil {
		s, err := sftp.NewClient(c.ssh)
		if err != nil {
			return nil, fmt.Errorf("sftp: %w", err)
		}
		c.sftp = s
	}
	return c.sftp, nil
}

// Upload writes data to dst atomically: to a temporary name in the same
// directory, then renamed over dst.
func (c *Client) Upload(dst string, data []byte, mode uint32) error {
	s, err := c.sftpClient()
	if err != nil {
		return err
	}
	if err := s.MkdirAll(path.Dir(dst)); err != nil {
		return fmt.Errorf("sftp mkdir %s: %w", path.Dir(dst), err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := dst + ".tmp-" + hex.EncodeToString(suffix[:])
	f, err := s.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("sftp create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = s.Remove(tmp)
		return fmt.Errorf("sftp write %s: %w", tmp, err)
	}
	if err := f.Chmod(fs.FileMode(mode) & fs.ModePerm); err != nil {
		f.Close()
		return fmt.Errorf("sftp chmod %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sftp close %s: %w", tmp, err)
	}
	if err := s.PosixRename(tmp, dst); err != nil {
		_ = s.Remove(tmp)
		return fmt.Errorf("sftp rename %s: %w", dst, err)
	}
	return nil
}
