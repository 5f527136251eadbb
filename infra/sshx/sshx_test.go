package sshx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
)

func startSSHD(t *testing.T) (*sshdtest.Server, Target) {
	hostPriv, _ := sshdtest.NewKey(t)
	_, client := sshdtest.NewKey(t)
	srv := sshdtest.Start(t, sshdtest.Config{HostKey: hostPriv, Authorized: client.PublicKey()})
	hostPub, err := ssh.NewPublicKey(hostPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return srv, Target{Addr: srv.Addr(), User: "root", Signer: client, HostKey: hostPub}
}

func TestRunAndAtomicUploadOverRealSSHD(t *testing.T) {
	srv, target := startSSHD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, target)
	if err != nil {
		t.Fatalf("%v\n%s", err, srv.Log())
	}
	defer c.Close()
	dst := filepath.Join(t.TempDir(), "sub", "script.sh")
	if err := c.Upload(dst, []byte("#!/bin/sh\necho one\necho two >&2\necho three\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var lines []string
	out, err := c.Run(ctx, dst, func(l string) { lines = append(lines, l) })
	if err != nil || string(out) != "one\nthree\n" || strings.Join(lines, ",") != "one,three" {
		t.Fatalf("out %q lines %v err %v", out, lines, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Fatalf("upload left temporary files: %v", entries)
	}
	if _, err := c.Run(ctx, "echo broken >&2; exit 3", nil); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("failing command: %v", err)
	}
	if _, err := c.Run(ctx, "head -c 5000000 /dev/zero", nil); !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("unbounded output: %v", err)
	}
	if _, err := c.Run(ctx, "yes | head -c 300000 | tr -d '\\n'", nil); !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("unbounded line: %v", err)
	}
}

func TestWrongHostKeyIsRefused(t *testing.T) {
	_, target := startSSHD(t)
	other, _ := sshdtest.NewKey(t)
	target.HostKey, _ = ssh.NewPublicKey(other.Public())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := DialRetry(ctx, target, nil); !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("got %v", err)
	}
}

func TestDialRetryWaitsForSSHD(t *testing.T) {
	srv, target := startSSHD(t)
	srv.Stop()
	go func() { time.Sleep(1500 * time.Millisecond); srv.Start() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	retries := 0
	c, err := DialRetry(ctx, target, func(error) { retries++ })
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if retries == 0 {
		t.Fatal("connected to a stopped sshd?")
	}
}
