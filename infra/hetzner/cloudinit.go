package hetzner

import (
	"fmt"
	"strings"

	"github.com/lnplaylive/lnplaylive/infra/hostkey"
)

// ReadyMarker is the file cloud-init writes when the VM is ready for the
// bootstrap: the container runtime is installed.
const ReadyMarker = "/var/lib/lnplaylive/cloud-init-done"

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
	b.WriteString("runcmd:\n")
	b.WriteString("  - [sh, -c, 'curl -fsSL https://get.docker.com | sh']\n")
	b.WriteString("  - [systemctl, enable, --now, docker]\n")
	fmt.Fprintf(&b, "  - [sh, -c, 'mkdir -p %s && touch %s']\n", ReadyMarker[:strings.LastIndex(ReadyMarker, "/")], ReadyMarker)
	return b.String(), nil
}
