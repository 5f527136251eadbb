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
