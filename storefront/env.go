package storefront

import (
	"fmt"
	"net/netip"
	"net/url"

	"strconv"
	"strings"
	"time"
)

// Settings are the storefront binary's configuration, from its
// environment (docs/API.md, "The storefront").
type Settings struct {
	// LightningRPC is the payment node's rpc-file (LNPLAYLIVE_LIGHTNING_RPC).
	LightningRPC string
	// Addr is where it listens (LNPLAYLIVE_WEB_ADDR).
	Addr string
	// LinkKeyFile keeps the short links' key (LNPLAYLIVE_WEB_LINK_KEY_FILE).
	LinkKeyFile string
	// MetricsAddr serves /metrics (LNPLAYLIVE_WEB_METRICS_ADDR); "" for none.
	MetricsAddr string
	// TLSAddr serves the storefront and the attendees' proxy over TLS, with
	// a certificate for the public URL's host by ACME
	// (LNPLAYLIVE_WEB_TLS_ADDR, e.g. :443); "" for none.
	TLSAddr string
	ACME    ACME
	Config
}

// DefaultAddr is where the storefront listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8090"

// SettingsFromEnv reads the LNPLAYLIVE_WEB_* settings and
// LNPLAYLIVE_LIGHTNING_RPC. Each refusal names the setting and the fix.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{LightningRPC: getenv("LNPLAYLIVE_LIGHTNING_RPC"), Addr: getenv("LNPLAYLIVE_WEB_ADDR"),
		LinkKeyFile: getenv("LNPLAYLIVE_WEB_LINK_KEY_FILE"), MetricsAddr: getenv("LNPLAYLIVE_WEB_METRICS_ADDR")}
	s.PublicURL = getenv("LNPLAYLIVE_WEB_PUBLIC_URL")
	s.Prefix = getenv("LNPLAYLIVE_WEB_PREFIX")
	if s.LightningRPC == "" {
		return s, fmt.Errorf("LNPLAYLIVE_LIGHTNING_RPC is not set: set it to the payment node's rpc-file (lightning-dir/<network>/lightning-rpc), the node that runs the lnplaylive plugin")
	}
	if s.Addr == "" {
		s.Addr = DefaultAddr
	}
	if s.PublicURL != "" && s.LinkKeyFile == "" {
		return s, fmt.Errorf("LNPLAYLIVE_WEB_PUBLIC_URL is set but LNPLAYLIVE_WEB_LINK_KEY_FILE is not: short links need a key kept across restarts; name a file (it is made if missing)")
	}
	for _, p := range strings.Split(getenv("LNPLAYLIVE_WEB_TRUSTED_PROXIES"), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return s, fmt.Errorf("LNPLAYLIVE_WEB_TRUSTED_PROXIES: %q is neither an address nor a CIDR prefix", p)
			}
			p = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			return s, fmt.Errorf("LNPLAYLIVE_WEB_TRUSTED_PROXIES: %q is neither an address nor a CIDR prefix", p)
		}
		s.TrustedProxies = append(s.TrustedProxies, pre.Masked())
	}
	if s.TLSAddr = getenv("LNPLAYLIVE_WEB_TLS_ADDR"); s.TLSAddr != "" {
		u, err := url.Parse(s.PublicURL)
		if s.PublicURL == "" || err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return s, fmt.Errorf("LNPLAYLIVE_WEB_TLS_ADDR is set: LNPLAYLIVE_WEB_PUBLIC_URL must be the https:// address buyers use, whose host gets the certificate")
		}
		s.ACME = ACME{Hosts: []string{u.Hostname()}, Directory: getenv("LNPLAYLIVE_WEB_ACME_DIRECTORY"),
			CacheDir: getenv("LNPLAYLIVE_WEB_ACME_CACHE"), Email: getenv("LNPLAYLIVE_WEB_ACME_EMAIL")}
		if s.ACME.CacheDir == "" {
			return s, fmt.Errorf("LNPLAYLIVE_WEB_TLS_ADDR is set but LNPLAYLIVE_WEB_ACME_CACHE is not: name a directory that keeps the certificates across restarts")
		}
	}
	if v := getenv("LNPLAYLIVE_WEB_ORDERS_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("LNPLAYLIVE_WEB_ORDERS_BURST: want a positive whole number, got %q", v)
		}
		s.OrdersBurst = n
	}
	if v := getenv("LNPLAYLIVE_WEB_ORDERS_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("LNPLAYLIVE_WEB_ORDERS_EVERY: want a duration such as 10s, got %q", v)
		}
		s.OrdersEvery = d
	}
	return s, nil
}

// LoadLinkKey reads (or makes) the link key when short links are on.
func (s *Settings) LoadLinkKey() error {
	if s.PublicURL == "" {
		return nil
	}
	key, err := LoadOrCreateLinkKey(s.LinkKeyFile)
	if err != nil {
		return fmt.Errorf("LNPLAYLIVE_WEB_LINK_KEY_FILE: %w", err)
	}
	s.LinkKey = key
	return nil
}
