package storefront

import (
	"crypto/tls"
	"errors"
	"net/http"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACME gets the storefront (and with it the attendees' proxy, on the same
// listener) a certificate for its public host from an ACME CA: Let's
// Encrypt unless Directory names another. Validation is TLS-ALPN-01 on the
// TLS listener itself, so port 443 is all it needs; certificates are kept
// in CacheDir across restarts (Let's Encrypt limits how often a host may
// ask) and renewed before they expire.
type ACME struct {
	Hosts     []string
	Directory string // default Let's Encrypt's
	CacheDir  string
	Email     string
	// HTTPClient talks to the CA (tests trust their own CA with it).
	HTTPClient *http.Client
}

// TLSConfig serves certificates for Hosts, fetching them on first use.
func (a ACME) TLSConfig() (*tls.Config, error) {
	if len(a.Hosts) == 0 || a.CacheDir == "" {
		return nil, errors.New("ACME needs the public host and a cache directory (LNPLAYLIVE_WEB_ACME_CACHE)")
	}
	dir := a.Directory
	if dir == "" {
		dir = acme.LetsEncryptURL
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(a.Hosts...),
		Cache:      autocert.DirCache(a.CacheDir),
		Email:      a.Email,
		Client:     &acme.Client{DirectoryURL: dir, HTTPClient: a.HTTPClient},
	}
	return m.TLSConfig(), nil
}
