package hetzner

import (
	"fmt"
	"path"
	"strings"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/hostkey"
)

// ReadyMarker is where the VM's first boot says the runtime is ready.
const ReadyMarker = infra.ReadyMarker

// DockerVersion is the Docker Engine the VMs install, pinned: the
// convenience script installs the newest unless told.
const DockerVersion = "28.2.2"

// installRuntime is the first boot's one runcmd step. cloud-init runs
// runcmd as a plain `sh` script, without `set -e`, and `curl … | sh` exits
// 0 when curl fails: the ready marker used to be written over a failed
// install. Here every step must succeed, the runtime must answer `docker
// compose version`, and a failure writes its cause to the failed marker
// instead, which the bootstrap reports.
func installRuntime() string {
	dir := path.Dir(ReadyMarker)
	return fmt.Sprintf(`set -e
mkdir -p %[1]s
rm -f %[2]s %[3]s
fail() { echo "$1" > %[3]s; exit 1; }
curl -fsSL --retry 5 --retry-delay 2 https://get.docker.com -o %[1]s/get-docker.sh || fail "downloading Docker's install script failed (curl exit $?)"
sh %[1]s/get-docker.sh --version %[4]s > /var/log/lnplaylive-docker-install.log 2>&1 || fail "installing Docker %[4]s failed: see /var/log/lnplaylive-docker-install.log"
systemctl enable --now docker || fail "starting Docker failed: see journalctl -u docker"
docker compose version > /dev/null || fail "Docker %[4]s is installed, but docker compose does not answer"
touch %[2]s
`, dir, ReadyMarker, infra.FailedMarker(ReadyMarker), DockerVersion)
}

// userData is the VM's cloud-config. It installs the order's host key
// through cloud-init's ssh_keys (keys written with write_files would be
// deleted by ssh_deletekeys), and the container runtime. It holds a private
// key: it goes to Hetzner and nowhere else (never logged, never in history).
func userData(key hostkey.Key, orderID string) (string, error) {
	pemKey, err := key.PrivatePEM("lnplaylive-" + orderID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString("ssh_deletekeys: true\n")
	// cloud-init 22.4 (Debian 12, Hetzner's debian-12) rejects an empty list
	// ("[] is too short"); listing the type we provide generates nothing.
	b.WriteString("ssh_genkeytypes: [ed25519]\n")
	b.WriteString("ssh_keys:\n  ed25519_private: |\n")
	for _, line := range strings.Split(strings.TrimRight(pemKey, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	fmt.Fprintf(&b, "  ed25519_public: %s\n", key.AuthorizedKey())
	b.WriteString("package_update: true\n")
	// Debian's own docker.io has no `docker compose` (v2) plugin; Docker's
	// convenience script installs the engine with it.
	b.WriteString("packages: [curl, jq]\n")
	b.WriteString("runcmd:\n  - - sh\n    - -ec\n    - |\n")
	for _, line := range strings.Split(strings.TrimRight(installRuntime(), "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	return b.String(), nil
}
