package clnschema

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Upstream is where CLN's schemas come from when ../shared is absent, and
// Tag the release they are pinned to (the one ../shared/cln/SOURCE.md
// names).
const (
	Upstream = "https://github.com/ElementsProject/lightning"
	Tag      = "v26.06.6"
)

// blobs lists every schema file by its upstream path with its git blob id
// at Tag (copied from ../shared/cln/SOURCE.md): a fetched file is used
// only if its blob id is the listed one.
//
//go:embed blobs.txt
var blobs string

// FetchedDir is where Fetch puts the schemas, under the repository.
func FetchedDir() string { return filepath.Join(root(), ".data", "cln-schemas-"+Tag) }

// Fetch checks out the schemas of repo at Tag (shallow and sparse: only
// the listed files), verifies every blob id, and installs them in dest
// (schemas/… as in ../shared/cln). repo may be any git URL or path.
func Fetch(repo, dest string) error {
	files, err := listed()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cln-schemas")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	git := func(args ...string) ([]byte, error) {
		cmd := exec.Command("git", append([]string{"-C", work}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return out, nil
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	steps := [][]string{
		{"init", "-q"},
		{"remote", "add", "origin", repo},
		{"sparse-checkout", "set", "--no-cone"},
		{"fetch", "-q", "--depth", "1", "--filter=blob:none", "origin", "tag", Tag},
	}
	for _, s := range steps {
		if _, err := git(s...); err != nil {
			return err
		}
	}
	if _, err := git(append([]string{"sparse-checkout", "set", "--no-cone"}, paths...)...); err != nil {
		return err
	}
	if _, err := git("checkout", "-q", Tag); err != nil {
		return err
	}
	tmp := dest + ".tmp"
	_ = os.RemoveAll(tmp)
	for path, want := range files {
		src := filepath.Join(work, filepath.FromSlash(path))
		out, err := git("hash-object", src)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(out)); got != want {
			return fmt.Errorf("%s at %s has blob %s, not the pinned %s: refusing it", path, Tag, got, want)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, "schemas", filepath.FromSlash(strings.TrimPrefix(path, "doc/schemas/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	_ = os.RemoveAll(dest)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// listed reads blobs.txt: upstream path → blob id.
func listed() (map[string]string, error) {
	files := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(blobs))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[1]) != 40 || !strings.HasPrefix(f[0], "doc/schemas/") {
			return nil, fmt.Errorf("clnschema: bad blobs.txt line %q", sc.Text())
		}
		files[f[0]] = f[1]
	}
	return files, nil
}
