package order

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// A link as today's Clams Remote (2.6.1) reads it: /wallets/add with the
// coreln configuration in its field names, the label, and larp=true for
// its workshop mode; a link stored with the proxy Clams removed names the
// one that replaced it.
func TestClamsLinksAreWhatTodaysRemoteOpens(t *testing.T) {
	for _, c := range []struct{ stored, want string }{
		{"wss://proxy.clams.tech", "wss://proxy.clams.tech"},
		{"wss://api.clams.tech/ws-proxy", "wss://proxy.clams.tech"},
		{"wss://shop.example/ws-proxy", "wss://shop.example/ws-proxy"},
	} {
		link := ClamsURL("https://app.clams.tech/", c.stored, "02ab", "203.0.113.5", 9736, "rune-1", "Alice")
		u, err := url.Parse(link)
		if err != nil || u.Path != "/wallets/add" || !strings.HasPrefix(link, "https://app.clams.tech/wallets/add?") {
			t.Fatalf("link %q: %v", link, err)
		}
		q := u.Query()
		if q.Get("type") != "coreln" || q.Get("label") != "Alice" || q.Get("larp") != "true" {
			t.Fatalf("query %v", q)
		}
		var conf struct {
			Address    string `json:"address"`
			Connection struct {
				Type, Value string
			} `json:"connection"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(q.Get("configuration")), &conf); err != nil {
			t.Fatal(err)
		}
		if conf.Address != "02ab@203.0.113.5:9736" || conf.Connection.Type != "proxy" || conf.Connection.Value != c.want || conf.Token != "rune-1" {
			t.Fatalf("stored %s: configuration %+v", c.stored, conf)
		}
	}
}
