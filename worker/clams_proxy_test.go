package worker

import "testing"

// Links name our own proxy when the storefront has a public https URL,
// the setting when there is one, and Clams Remote's current proxy else.
func TestClamsProxyIsOursWhenTheStorefrontIsPublic(t *testing.T) {
	for _, c := range []struct{ setting, public, want string }{
		{"", "", "wss://proxy.clams.tech"},
		{"", "https://lnplay.example/shop/", "wss://lnplay.example/shop/ws-proxy"},
		{"", "https://lnplay.example", "wss://lnplay.example/ws-proxy"},
		{"", "http://127.0.0.1:8090", "wss://proxy.clams.tech"}, // no TLS: a wallet on https cannot use it
		{"wss://other.example/p", "https://lnplay.example", "wss://other.example/p"},
	} {
		t.Setenv("LNPLAYLIVE_CLAMS_PROXY", c.setting)
		t.Setenv("LNPLAYLIVE_WEB_PUBLIC_URL", c.public)
		if got := ClamsProxy(); got != c.want {
			t.Errorf("setting %q, public URL %q: %s; want %s", c.setting, c.public, got, c.want)
		}
	}
}
