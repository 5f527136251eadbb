package playground

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

func TestComposeFileRefusesOverlappingPortRanges(t *testing.T) {
	for _, s := range []Spec{
		{OrderID: "o", NodeCount: 8, PortBase: 6000, P2PPortBase: 6004},
		{OrderID: "o", NodeCount: 8, PortBase: 6000, P2PPortBase: 0},
		{OrderID: "o", NodeCount: 65, PortBase: 6000, P2PPortBase: 9735},
	} {
		if _, err := s.ComposeFile(); err == nil {
			t.Errorf("%+v rendered", s)
		}
	}
}

func TestComposeFileParsesWithComposeAndHasWhatTheOrderBought(t *testing.T) {
	for _, n := range []int{8, 64} {
		spec := Spec{OrderID: "8d33e17d-0385-46c0-82f2-16c989f7b112", NodeCount: n, PortBase: 6000, P2PPortBase: 9735, Images: DefaultImages()}
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
			if len(svc.Ports) != 2 || svc.Ports[0].Published != fmt.Sprint(6000+i) || svc.Ports[0].Target != uint32(6000+i) ||
				svc.Ports[1].Published != fmt.Sprint(9735+i) || svc.Ports[1].Target != 9735 {
				t.Errorf("cln-%d ports %+v", i, svc.Ports)
			}
			cmd := strings.Join(svc.Command, " ")
			for _, want := range []string{"--alias=" + Alias(i), "--developer", "--dev-fast-gossip", fmt.Sprintf("--dev-bitcoind-poll=%d", spec.PollSeconds()), "--bind-addr=0.0.0.0:9735"} {
				if !strings.Contains(cmd, want) {
					t.Errorf("cln-%d lacks %s: %s", i, want, cmd)
				}
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
		aliases := map[string]bool{}
		for i := 1; i <= n; i++ {
			aliases[Alias(i)] = true
		}
		if len(aliases) != n {
			t.Errorf("%d distinct aliases for %d nodes", len(aliases), n)
		}
		if len(p.Services["bitcoind"].Ports) != 0 {
			t.Error("bitcoind's RPC must not be published")
		}
		miner := strings.Join(p.Services["miner"].Entrypoint, " ")
		if !strings.Contains(miner, "sleep 5") || !strings.Contains(miner, `"$out"`) {
			t.Errorf("no block every 5 seconds, or Compose ate the loop's variables: %s", miner)
		}
		for name, svc := range p.Services {
			if svc.Init == nil || !*svc.Init {
				t.Errorf("%s: no init to forward SIGTERM", name)
			}
		}
		btc := strings.Join(p.Services["bitcoind"].Command, " ")
		for _, want := range []string{"-wallet=lnplaylive", fmt.Sprintf("-rpcworkqueue=%d", spec.RPCWorkQueue())} {
			if !strings.Contains(btc, want) {
				t.Errorf("bitcoind lacks %s: %s", want, btc)
			}
		}
	}
}
