// Package testbin builds this repository's commands once per test process,
// so end-to-end tests run the same binaries lightningd and operators run.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Path returns the built binary of cmd/<name>.
func Path(name string) (string, error) {
	once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		dir, err = os.MkdirTemp("", "lnplaylive-bin")
		if err != nil {
			return
		}
		args := []string{"build", "-o", dir + "/"}
		if os.Getenv("LNPLAYLIVE_BENCH") != "" {
			// make bench: the plugin has its floor method (lnplaylive-noop).
			args = append(args, "-tags", "lnplaylivebench")
		}
		cmd := exec.Command("go", append(args, "./cmd/...")...)
		cmd.Dir = root
		out, berr := cmd.CombinedOutput()
		if berr != nil {
			err = fmt.Errorf("go build ./cmd/...: %v\n%s", berr, out)
		}
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

var tools sync.Map // package path -> *toolBuild

type toolBuild struct {
	once sync.Once
	path string
	err  error
}

// Tool builds the main package at pkg (relative to the repository root,
// e.g. "./internal/testworld/dockerdouble") as a file named name, once per process.
func Tool(pkg, name string) (string, error) {
	v, _ := tools.LoadOrStore(pkg+"\x00"+name, &toolBuild{})
	b := v.(*toolBuild)
	b.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		d, err := os.MkdirTemp("", "lnplaylive-tool")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(d, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	return b.path, b.err
}
