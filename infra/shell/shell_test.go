package shell

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalUploadsAtomicallyAndRunsWithinItsBounds(t *testing.T) {
	dir := t.TempDir()
	var s Session = Local{Env: []string{"GREETING=hello"}}
	dst := filepath.Join(dir, "order", "bootstrap.sh")
	if err := s.Upload(dst, []byte("echo PROGRESS a 1\necho $GREETING\necho oops >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%v %v", fi.Mode(), err)
	}
	if left, _ := filepath.Glob(dst + ".tmp-*"); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	var lines []string
	_, err := s.Run(context.Background(), "sh "+dst, func(l string) { lines = append(lines, l) })
	if err == nil || !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v", err)
	}
	if strings.Join(lines, "|") != "PROGRESS a 1|hello" {
		t.Fatalf("lines %q", lines)
	}
	if _, err := s.Run(context.Background(), "head -c 5000000 /dev/zero", nil); !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("got %v", err)
	}
	// A cancelled run ends the command and what it started.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Run(ctx, "sleep 30 & sleep 30; wait", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the cancelled command kept running")
	}
}
