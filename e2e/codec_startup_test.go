package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/codec"
)

// A plugin, a worker or a CLI whose codec keys cannot read what the
// workers write refuses at start, naming the key and the setting, instead
// of answering every call with "payload encoding is not supported".
func TestMismatchedCodecKeysAreRefusedAtStart(t *testing.T) {
	s := newSystem(t, options{})
	wrong := filepath.Join(t.TempDir(), "wrong.keys")
	if err := os.WriteFile(wrong, []byte(codec.NewKeyLine("other-1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.plugin.Kill()
	for keys, want := range map[string]string{"": "no codec keys are configured", wrong: "which the configured keys file lacks"} {
		cfg := s.pluginCfg
		cfg.Options = map[string]any{}
		for k, v := range s.pluginCfg.Options {
			cfg.Options[k] = v
		}
		cfg.Options["lnplaylive-codec-keys-file"] = keys
		p, err := s.node.StartPlugin(cfg)
		if err != nil {
			t.Fatalf("start plugin: %v", err)
		}
		if !strings.Contains(p.Disabled, want) || !strings.Contains(p.Disabled, `"test-1"`) {
			t.Fatalf("keys %q: plugin disabled with %q, want %q", keys, p.Disabled, want)
		}
		p.Kill()
	}

	// The worker refuses to start.
	env := append(append([]string{}, s.workerEnv...), "LNPLAYLIVE_CODEC_KEYS_FILE="+wrong)
	w := startProcess(t, s.workerBin, env)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.out.String(), "which the configured keys file lacks") {
		if time.Now().After(deadline) {
			t.Fatalf("worker with the wrong keys: %s", w.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// And the CLI.
	out, err := s.cliEnv([]string{"LNPLAYLIVE_CODEC_KEYS_FILE=" + wrong}, "orders", "list")
	if err == nil || !strings.Contains(out, `encrypted with key "test-1"`) {
		t.Fatalf("CLI with the wrong keys: %v %s", err, out)
	}
}
