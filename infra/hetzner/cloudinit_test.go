package hetzner

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lnplaylive/lnplaylive/infra/hostkey"
)

// The VM's user data passes cloud-init's own schema check, with Debian 12's
// cloud-init (22.4.2, the version Hetzner's debian-12 image boots with),
// as compose-go checks the compose file: a VM that boots "with errors"
// cannot be trusted to have run the rest.
func TestUserDataPassesCloudInitsOwnSchema(t *testing.T) {
	bin, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Fatal("cloud-init is missing: run `make deps` (apt-get install cloud-init)")
	}
	d, err := hostkey.NewDeriver([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	ud, err := userData(d.For("o1"), "o1")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(file, []byte(ud), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "schema", "--config-file", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
		t.Fatalf("cloud-init schema: %v\n%s", err, out)
	}
	// The check has teeth: the empty list the user data once had fails.
	bad := strings.Replace(ud, "ssh_genkeytypes: [ed25519]", "ssh_genkeytypes: []", 1)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "schema", "--config-file", file).CombinedOutput(); err == nil {
		t.Fatalf("cloud-init accepted ssh_genkeytypes: []\n%s", out)
	}
}

// runFirstBoot renders the user data's runcmd as cloud-init 22.4 itself
// does (util.shellify: one plain `sh` script) and runs it with the stand-in
// commands in bin first on PATH, the marker directory and log moved into
// root. It returns the script's exit error and the markers' contents.
func runFirstBoot(t *testing.T, bin, root string) (err error, ready bool, failed string) {
	t.Helper()
	d, _ := hostkey.NewDeriver([]byte(strings.Repeat("s", 32)))
	ud, e := userData(d.For("o1"), "o1")
	if e != nil {
		t.Fatal(e)
	}
	ud = strings.ReplaceAll(ud, "/var/lib/lnplaylive", filepath.Join(root, "lib"))
	ud = strings.ReplaceAll(ud, "/var/log/", root+"/")
	file := filepath.Join(root, "user-data")
	if err := os.WriteFile(file, []byte(ud), 0o600); err != nil {
		t.Fatal(err)
	}
	out, e := exec.Command("/usr/bin/python3", "-c", `import sys, yaml
from cloudinit import util
print(util.shellify(yaml.safe_load(open(sys.argv[1]))["runcmd"]))`, file).CombinedOutput()
	if e != nil {
		t.Fatalf("cloud-init's shellify: %v\n%s", e, out)
	}
	script := filepath.Join(root, "runcmd")
	if err := os.WriteFile(script, out, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", script)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	runOut, err := cmd.CombinedOutput()
	t.Logf("runcmd output: %s", runOut)
	_, statErr := os.Stat(filepath.Join(root, "lib", "cloud-init-done"))
	f, _ := os.ReadFile(filepath.Join(root, "lib", "cloud-init-failed"))
	return err, statErr == nil, strings.TrimSpace(string(f))
}

// stubs writes stand-in commands: each name maps to a shell body.
func stubs(t *testing.T, bodies map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range bodies {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The first boot fails loudly: a failed download, a failed install or a
// runtime without `docker compose` writes the cause to the failed marker
// and never the ready marker. Before the fix, cloud-init's one `sh`
// script ran `curl … | sh` (exit 0 when curl fails) and touched the ready
// marker regardless.
func TestFirstBootFailsLoudlyWhenDockerDoesNotInstall(t *testing.T) {
	// The install script the stand-in curl downloads records its arguments
	// and installs a docker whose compose answers as $COMPOSE says.
	installer := `echo "$@" > "$(dirname "$0")/installer-args"; printf '#!/bin/sh\n[ "$1 $2" = "compose version" ] && exit %s\nexit 0\n' "${COMPOSE:-0}" > "$BIN/docker"; chmod +x "$BIN/docker"`
	curlOK := `while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done; printf '%s\n' 'BIN=$(dirname "$(command -v systemctl)")' 'COMPOSE=__COMPOSE__' > "$out"; cat >> "$out" <<'EOS'
` + installer + `
EOS`
	for _, c := range []struct {
		name, curl, systemctl, compose string
		wantReady                      bool
		wantCause                      string
	}{
		{"download fails", "exit 6", "exit 0", "0", false, "downloading Docker's install script failed"},
		{"no compose", curlOK, "exit 0", "1", false, "docker compose does not answer"},
		{"docker does not start", curlOK, "exit 1", "0", false, "starting Docker failed"},
		{"all well", curlOK, "exit 0", "0", true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := stubs(t, map[string]string{"curl": strings.ReplaceAll(c.curl, "__COMPOSE__", c.compose), "systemctl": c.systemctl})
			root := t.TempDir()
			err, ready, failed := runFirstBoot(t, bin, root)
			if ready != c.wantReady || (c.wantCause == "") != (failed == "") || !strings.Contains(failed, c.wantCause) {
				t.Fatalf("exit %v, ready %v, failed %q; want ready %v, cause %q", err, ready, failed, c.wantReady, c.wantCause)
			}
			if (err == nil) != c.wantReady {
				t.Fatalf("runcmd exit %v with ready %v: cloud-init must see the failure", err, ready)
			}
			if c.wantReady {
				args, _ := os.ReadFile(filepath.Join(root, "lib", "installer-args"))
				if strings.TrimSpace(string(args)) != "--version "+DockerVersion {
					t.Fatalf("the install script ran with %q, want a pinned --version %s", args, DockerVersion)
				}
			}
		})
	}
}
