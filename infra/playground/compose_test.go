package playground

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

func TestComposeFileParsesWithComposeAndHasWhatTheOrderBought(t *testing.T) {
	for _, n := range []int{8, 64} {
		spec := Spec{OrderID: "8d33e17d-0385-46c0-82f2-16c989f7b112", NodeCount: n, PortBase: 6000, Images: DefaultImages()}
		b, err := spec.ComposeFile()
		if err != nil {
			t.Fatal(err)
		}
		p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
			WorkingDir:  t.TempDir(),
			ConfigFiles: []types.ConfigFile{{Filename: "compose.yml", Content: b}},
		}, func(o *loader.Options) { o.SkipInterpolation = false })
		if err != nil {
			t.Fatalf("compose-go rejects the file: %v\n%s", err, b)
		}
		if p.Name != spec.Project() {
			t.Fatalf("project %q", p.Name)
		}
		if len(p.Services) != n+2 {
			t.Fatalf("%d services for %d nodes", len(p.Services), n)
		}
		for name, svc := range p.Services {
			image, tag, ok := strings.Cut(svc.Image, ":")
			if !ok || image == "" || tag == "" || tag == "latest" {
				t.Errorf("%s: image %q is not pinned", name, svc.Image)
			}
		}
		for i := 1; i <= n; i++ {
			svc, ok := p.Services[fmt.Sprintf("cln-%d", i)]
			if !ok {
				t.Fatalf("no cln-%d", i)
			}
			if len(svc.Ports) != 1 || svc.Ports[0].Published != fmt.Sprint(6000+i) || svc.Ports[0].Target != uint32(6000+i) {
				t.Errorf("cln-%d ports %+v", i, svc.Ports)
			}
			if !strings.Contains(strings.Join(svc.Command, " "), fmt.Sprintf("--bind-addr=ws:0.0.0.0:%d", 6000+i)) {
				t.Errorf("cln-%d does not serve its websocket on %d: %v", i, 6000+i, svc.Command)
			}
			if len(svc.Volumes) != 1 || svc.Volumes[0].Source != fmt.Sprintf("cln-%d", i) {
				t.Errorf("cln-%d volumes %+v", i, svc.Volumes)
			}
			if _, ok := p.Volumes[fmt.Sprintf("cln-%d", i)]; !ok {
				t.Errorf("volume cln-%d not declared", i)
			}
		}
		if len(p.Services["bitcoind"].Ports) != 0 {
			t.Error("bitcoind's RPC must not be published")
		}
		if !strings.Contains(strings.Join(p.Services["miner"].Entrypoint, " "), "sleep 5") {
			t.Error("no block every 5 seconds")
		}
	}
}

func TestRuneCheckAcceptsOnlyTheSpecRestrictions(t *testing.T) {
	auth := strings.Repeat("\x01", 32)
	good := "=7&" + restrictionString(Restrictions)
	enc := func(s string) string { return encodeRune(auth + s) }
	if err := CheckRune(enc(good), "7"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"=7", "=8&" + restrictionString(Restrictions), good + "&method=x", strings.Replace(good, "rate=60", "rate=600", 1)} {
		if err := CheckRune(enc(bad), "7"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// The rune of the original system's README (an admin-ish rune with other
	// restrictions) is refused.
	seed := "gJIrc38yC277E_bwolwBcXhI6YEX7LVv0YjxIkkswME9NSZtZXRob2QvbGlzdGRhdGFzdG9yZSZtZXRob2RebGlzdHxtZXRob2ReZ2V0fG1ldGhvZD13YWl0YW55aW52b2ljZXxtZXRob2Q9d2FpdGludm9pY2V8bWV0aG9kPWxpc3RwYXlzfG1ldGhvZD13YWl0YW55aW52b2ljZXxtZXRob2Q9d2FpdGludm9pY2V8bWV0aG9kPWludm9pY2V8bWV0aG9kXm9mZmVyfG1ldGhvZD1wYXl8bWV0aG9kPWZldGNoaW52b2ljZXxtZXRob2Q9Y3JlYXRlaW52b2ljZXxtZXRob2R-YmtwciZyYXRlPTYw"
	if err := CheckRune(seed, "5"); err == nil {
		t.Fatal("the seed's rune (duplicated alternatives) passed")
	}
}
