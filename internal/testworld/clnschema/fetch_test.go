package clnschema

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// upstreamLike makes a bare git repository laid out as CLN's, holding the
// schemas (possibly altered) under doc/schemas and tagged Tag: the fetch
// is tested without any network.
func upstreamLike(t *testing.T, alter func(dir string)) string {
	t.Helper()
	src, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run(work, "init", "-q")
	if err := os.CopyFS(filepath.Join(work, "doc", "schemas"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("not a schema\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if alter != nil {
		alter(filepath.Join(work, "doc", "schemas"))
	}
	run(work, "add", "-A")
	run(work, "commit", "-qm", "release")
	run(work, "tag", Tag)
	bare := filepath.Join(t.TempDir(), "lightning.git")
	run(work, "clone", "-q", "--bare", work, bare)
	run(bare, "config", "uploadpack.allowFilter", "true")
	return "file://" + bare
}

func TestFetchInstallsTheVerifiedSchemasAtTheTag(t *testing.T) {
	repo := upstreamLike(t, nil)
	dest := filepath.Join(t.TempDir(), "cln-schemas")
	if err := Fetch(repo, dest); err != nil {
		t.Fatal(err)
	}
	src, _ := Dir()
	files, _ := listed()
	for path := range files {
		rel := strings.TrimPrefix(path, "doc/schemas/")
		got, err := os.ReadFile(filepath.Join(dest, "schemas", rel))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(src, rel))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs from the pinned copy", rel)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "schemas", "..", "README.md")); err == nil {
		t.Fatal("the sparse checkout installed more than the schemas")
	}
	// What was installed is what the validator uses.
	if err := Load(filepath.Join(dest, "schemas")).ValidateResponse("getinfo", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "violates") {
		t.Fatalf("fetched schemas do not validate: %v", err)
	}
}

func TestFetchRefusesASchemaWhoseBlobIsNotThePinnedOne(t *testing.T) {
	repo := upstreamLike(t, func(dir string) {
		f := filepath.Join(dir, "pay.json")
		b, _ := os.ReadFile(f)
		if err := os.WriteFile(f, append(b, ' '), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	dest := filepath.Join(t.TempDir(), "cln-schemas")
	err := Fetch(repo, dest)
	if err == nil || !strings.Contains(err.Error(), "doc/schemas/pay.json") || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("a refused fetch left schemas behind")
	}
}
