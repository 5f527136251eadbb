package worker

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/hetzner"
	"github.com/lnplaylive/lnplaylive/infra/hostkey"
	"github.com/lnplaylive/lnplaylive/infra/hostpool"
	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// env returns the variable or a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// hcloudToken reads HCLOUD_TOKEN, or the file named by HCLOUD_TOKEN_FILE.
func hcloudToken() (string, error) {
	if t := os.Getenv("HCLOUD_TOKEN"); t != "" {
		return t, nil
	}
	if f := os.Getenv("HCLOUD_TOKEN_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("HCLOUD_TOKEN_FILE: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// SSHKeyFile is the operator's private key for the VMs.
func SSHKeyFile() string {
	home, _ := os.UserHomeDir()
	return env("LNPLAYLIVE_SSH_KEY_FILE", filepath.Join(home, ".ssh", "id_ed25519"))
}

// hostKeys derives per-order host keys from LNPLAYLIVE_HOST_KEY_SECRET_FILE,
// or else from the operator's SSH private key (a secret every worker of the
// deployment already shares).
func hostKeys() (*hostkey.Deriver, error) {
	file := os.Getenv("LNPLAYLIVE_HOST_KEY_SECRET_FILE")
	if file == "" {
		file = SSHKeyFile()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("host key secret: %w", err)
	}
	sum := sha256.Sum256(b)
	return hostkey.NewDeriver(sum[:])
}

// parseServerTypes reads "8:cx23,16:cx33,…" (empty: none pinned).
func parseServerTypes(s string) (map[int]string, error) {
	out := map[int]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		n, typ, ok := strings.Cut(strings.TrimSpace(item), ":")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || typ == "" {
			return nil, fmt.Errorf("server type %q: want nodes:type", item)
		}
		out[count] = typ
	}
	return out, nil
}

// ProviderFromEnv selects and builds the provider: LNPLAYLIVE_PROVIDER
// (hetzner or hosts) when set; otherwise Hetzner when HCLOUD_TOKEN is set,
// the host pool when LNPLAYLIVE_HOSTS_FILE is. With neither there is no
// capacity (nil): the worker says so, and createorder refuses every order.
func ProviderFromEnv(log *slog.Logger, reg prometheus.Registerer) (infra.Provider, error) {
	token, err := hcloudToken()
	if err != nil {
		return nil, err
	}
	pool := os.Getenv("LNPLAYLIVE_HOSTS_FILE")
	kind := os.Getenv("LNPLAYLIVE_PROVIDER")
	switch {
	case kind == "" && token != "":
		kind = workflows.ProviderHetzner
	case kind == "" && pool != "":
		kind = workflows.ProviderHosts
	case kind == "":
		if err := ComposeWorks(); err != nil {
			log.Warn("NO CAPACITY CONFIGURED: set HCLOUD_TOKEN (Hetzner VMs) or LNPLAYLIVE_HOSTS_FILE (your own hosts), "+
				"or install Docker with its Compose plugin for playgrounds on this machine; until then createorder refuses every order",
				"local", err)
			return nil, nil
		}
		kind = ProviderLocal
	}
	switch kind {
	case workflows.ProviderHetzner:
		if token == "" {
			return nil, errors.New("LNPLAYLIVE_PROVIDER=hetzner needs HCLOUD_TOKEN or HCLOUD_TOKEN_FILE")
		}
		return hetznerFromEnv(token, log, reg)
	case workflows.ProviderHosts:
		if pool == "" {
			return nil, errors.New("LNPLAYLIVE_PROVIDER=hosts needs LNPLAYLIVE_HOSTS_FILE")
		}
		p, err := hostPoolFromEnv(pool, log)
		if err != nil {
			return nil, err // not a nil *hostpool.Provider inside an interface
		}
		return p, nil
	case ProviderLocal:
		if err := ComposeWorks(); err != nil {
			return nil, fmt.Errorf("LNPLAYLIVE_PROVIDER=local: %w", err)
		}
		p, err := localFromEnv(log)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("LNPLAYLIVE_PROVIDER=%q: want hetzner, hosts or local", kind)
}

// ProviderLocal is LNPLAYLIVE_PROVIDER's value for playgrounds on this
// machine's container engine. Its slots are leased like a host pool's.
const ProviderLocal = "local"

// ComposeWorks tells whether this machine can run playgrounds: `docker
// compose version` answers. The error says what is missing.
func ComposeWorks() error {
	out, err := exec.Command("docker", "compose", "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("`docker compose version` failed (%v: %s): install Docker Engine with the Compose plugin", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// localFromEnv makes the local provider: slots on this machine from a port
// range, per-order files under LNPLAYLIVE_LOCAL_DIR.
func localFromEnv(log *slog.Logger) (*hostpool.Provider, error) {
	first, last, err := hostpool.ParsePortRange(env("LNPLAYLIVE_LOCAL_PORTS", "20000-20999"))
	if err != nil {
		return nil, fmt.Errorf("LNPLAYLIVE_LOCAL_PORTS: %w", err)
	}
	slotNodes, err := strconv.Atoi(env("LNPLAYLIVE_LOCAL_SLOT_NODES", "64"))
	if err != nil {
		return nil, errors.New("LNPLAYLIVE_LOCAL_SLOT_NODES: not a number")
	}
	count, err := strconv.Atoi(env("LNPLAYLIVE_LOCAL_SLOTS", "2"))
	if err != nil {
		return nil, errors.New("LNPLAYLIVE_LOCAL_SLOTS: not a number")
	}
	dir, err := filepath.Abs(env("LNPLAYLIVE_LOCAL_DIR", filepath.Join(os.TempDir(), "lnplaylive-orders")))
	if err != nil {
		return nil, fmt.Errorf("LNPLAYLIVE_LOCAL_DIR: %w", err)
	}
	slots, err := hostpool.LocalSlots(first, last, slotNodes, count, env("LNPLAYLIVE_LOCAL_ADDRESS", "127.0.0.1"), dir)
	if err != nil {
		return nil, err
	}
	log.Info("provider: local (this machine's container engine)", "slots", len(slots), "ports", fmt.Sprintf("%d-%d", first, last), "dir", dir)
	return hostpool.New(slots, nil, dir), nil
}

// hostPoolFromEnv loads the pool file; the operator's SSH key reaches the
// hosts (to take playgrounds down and to list them for the sweeper).
func hostPoolFromEnv(file string, log *slog.Logger) (*hostpool.Provider, error) {
	slots, err := hostpool.Load(file)
	if err != nil {
		return nil, err
	}
	signer, err := operatorSigner()
	if err != nil {
		return nil, err
	}
	if signer == nil {
		return nil, fmt.Errorf("the host pool needs the operator's SSH key (LNPLAYLIVE_SSH_KEY_FILE, now %s)", SSHKeyFile())
	}
	log.Info("provider: host pool", "file", file, "slots", len(slots))
	return hostpool.New(slots, signer, remoteDir()), nil
}

func remoteDir() string { return env("LNPLAYLIVE_REMOTE_DIR", "/var/lib/lnplaylive/orders") }

// operatorSigner reads the operator's SSH key; nil when there is none.
func operatorSigner() (ssh.Signer, error) {
	file := SSHKeyFile()
	pem, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("LNPLAYLIVE_SSH_KEY_FILE: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		// The error names the file, never its contents.
		return nil, fmt.Errorf("LNPLAYLIVE_SSH_KEY_FILE %s: not a usable private key", file)
	}
	return signer, nil
}

func hetznerFromEnv(token string, log *slog.Logger, reg prometheus.Registerer) (infra.Provider, error) {
	keys, err := hostKeys()
	if err != nil {
		return nil, err
	}
	// Empty by default: each size gets the cheapest type Hetzner sells
	// today that holds it (hetzner.Pick); a pinned type wins.
	types, err := parseServerTypes(os.Getenv("LNPLAYLIVE_HETZNER_SERVER_TYPES"))
	if err != nil {
		return nil, err
	}
	sizes := order.DefaultProducts().NodeCounts()
	for n := range types {
		if !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	var archs []hcloud.Architecture
	for _, a := range strings.Split(env("LNPLAYLIVE_HETZNER_ARCHITECTURES", "x86"), ",") {
		switch a := hcloud.Architecture(strings.TrimSpace(a)); a {
		case hcloud.ArchitectureX86, hcloud.ArchitectureARM:
			archs = append(archs, a)
		default:
			return nil, fmt.Errorf("LNPLAYLIVE_HETZNER_ARCHITECTURES: %q is not x86 or arm (the images' architectures)", a)
		}
	}
	sshPort, err := strconv.Atoi(env("LNPLAYLIVE_SSH_PORT", "22"))
	if err != nil {
		return nil, errors.New("LNPLAYLIVE_SSH_PORT: not a number")
	}
	pollMS, err := strconv.Atoi(env("LNPLAYLIVE_HETZNER_POLL_MS", "1000"))
	if err != nil {
		return nil, errors.New("LNPLAYLIVE_HETZNER_POLL_MS: not a number")
	}
	cfg := hetzner.Config{
		Token:         token,
		Endpoint:      os.Getenv("HCLOUD_ENDPOINT"),
		Sizes:         sizes,
		ServerTypes:   types,
		Architectures: archs,
		Image:         env("LNPLAYLIVE_HETZNER_IMAGE", "debian-12"),
		Locations:     strings.Split(env("LNPLAYLIVE_HETZNER_LOCATIONS", "fsn1,nbg1,hel1"), ","),
		SSHKeyName:    env("LNPLAYLIVE_HETZNER_SSH_KEY", "lnplaylive"),
		SSHUser:       env("LNPLAYLIVE_SSH_USER", "root"),
		SSHPort:       sshPort,
		PollInterval:  time.Duration(pollMS) * time.Millisecond,
		Registerer:    reg,
	}
	log.Info("provider: hetzner", "endpoint", cfg.Endpoint, "locations", cfg.Locations, "image", cfg.Image)
	p, err := hetzner.New(cfg, keys)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ClamsProxy is the websocket proxy attendees' links name: the setting
// LNPLAYLIVE_CLAMS_PROXY when there is one; else our own, lnplaylive-web's,
// when the storefront has a public https URL (LNPLAYLIVE_WEB_PUBLIC_URL,
// the storefront's own setting, given to the worker too); else Clams
// Remote's current one.
func ClamsProxy() string {
	if p := os.Getenv("LNPLAYLIVE_CLAMS_PROXY"); p != "" {
		return p
	}
	if u, err := url.Parse(os.Getenv("LNPLAYLIVE_WEB_PUBLIC_URL")); err == nil && u.Scheme == "https" && u.Host != "" {
		return "wss://" + u.Host + strings.TrimRight(u.Path, "/") + "/ws-proxy"
	}
	return playground.DefaultClamsProxy
}

// BootstrapperFromEnv builds the SSH bootstrapper from the operator's key
// (LNPLAYLIVE_SSH_KEY_FILE); without a readable key there is none, and paid
// orders cannot be provisioned (they fail after the bootstrap retries).
func BootstrapperFromEnv(log *slog.Logger) (*playground.Bootstrapper, error) {
	signer, err := operatorSigner()
	if err != nil {
		return nil, err
	}
	if signer == nil {
		log.Warn("no SSH key (LNPLAYLIVE_SSH_KEY_FILE): only local playgrounds can be bootstrapped", "file", SSHKeyFile())
	}
	images := playground.DefaultImages()
	images.Bitcoind = env("LNPLAYLIVE_BITCOIND_IMAGE", images.Bitcoind)
	images.CLN = env("LNPLAYLIVE_CLN_IMAGE", images.CLN)
	profile, ok := playground.RuneProfiles[env("LNPLAYLIVE_RUNE_PROFILE", playground.DefaultRuneProfile)]
	if !ok {
		return nil, fmt.Errorf("LNPLAYLIVE_RUNE_PROFILE=%q: must be playground (the default) or seed", os.Getenv("LNPLAYLIVE_RUNE_PROFILE"))
	}
	return playground.New(playground.Config{
		Signer:      signer,
		Images:      images,
		Runes:       profile,
		ClamsApp:    env("LNPLAYLIVE_CLAMS_APP", playground.DefaultClamsApp),
		ClamsProxy:  ClamsProxy(),
		ClamsBase:   env("LNPLAYLIVE_CLAMS_BASE", playground.DefaultClamsBase),
		RemoteDir:   remoteDir(),
		ReadyMarker: env("LNPLAYLIVE_READY_MARKER", hetzner.ReadyMarker),
	}), nil
}
