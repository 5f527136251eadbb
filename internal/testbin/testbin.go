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
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err = os.MkdirTemp("", "lnplaylive-bin")
		if err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
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
