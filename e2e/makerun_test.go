package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/proc"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
)

// `make run` as a newcomer meets it on a machine with Docker (the docker
// double on PATH): the script starts everything, picks the local provider,
// and three CLI commands give a playground; the Web UI, started with the
// codec endpoint, shows the order's input decoded.
func TestMakeRunGivesAPlaygroundAndAReadableWebUI(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	build := exec.Command("go", "build", "-o", filepath.Join(repo, "bin")+"/", "./cmd/...")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if _, err := devserver.Binary(); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	path, state := dockerOnPath(t, data)
	port, ui, codecPort := devserver.FreePort(t), devserver.FreePort(t), devserver.FreePort(t)
	env := append(os.Environ(), "PATH="+path, "DOCKER_DOUBLE_STATE="+state,
		"LNPLAYLIVE_DATA_DIR="+data, fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", port), fmt.Sprintf("LNPLAYLIVE_UI_PORT=%d", ui),
		fmt.Sprintf("LNPLAYLIVE_CODEC_ADDR=127.0.0.1:%d", codecPort), "LNPLAYLIVE_METRICS_ADDR=off",
		"LNPLAYLIVE_LOCAL_PORTS=22000-22999", "LNPLAYLIVE_SSH_KEY_FILE="+filepath.Join(data, "no-key"),
		"HCLOUD_TOKEN=", "LNPLAYLIVE_HOSTS_FILE=", "LNPLAYLIVE_PROVIDER=", "LNPLAYLIVE_CODEC_KEYS_FILE=", "LNPLAYLIVE_TASK_QUEUE=",
		fmt.Sprintf("LNPLAYLIVE_WEB_ADDR=127.0.0.1:%d", devserver.FreePort(t)), fmt.Sprintf("LNPLAYLIVE_DEV_PORT_BASE=%d", 30000+os.Getpid()%20000))
	out := &syncBuffer{}
	cmd := exec.Command("bash", filepath.Join(repo, "scripts", "run.sh"))
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(syscall.SIGINT, 30*time.Second)
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(data, "worker.log"))
			t.Logf("make run said:\n%s\nworker log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C stops everything") {
		if time.Now().After(deadline) {
			t.Fatalf("make run did not come up:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "Provider: local") {
		t.Fatalf("make run did not pick the local provider:\n%s", out.String())
	}

	cli := func(args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(repo, "bin", "lnplaylive"), args...)
		c.Env = append(env, "LNPLAYLIVE_CODEC_KEYS_FILE="+filepath.Join(data, "codec.keys"))
		o, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("lnplaylive %v: %v\n%s", args, err, o)
		}
		return string(o)
	}
	// The storefront on its regtest payment node, where lightningd and
	// bitcoind builds are at hand: buy in it, pay from the second node with
	// `lnplaylive dev pay`, and the order is paid. Without them make run
	// says why it has no storefront, and what to do.
	if os.Getenv(realcln.CLNEnv) == "" || os.Getenv(realcln.BitcoindEnv) == "" {
		if !strings.Contains(out.String(), "Storefront: not started (no lightningd and bitcoind found: point LNPLAYLIVE_REAL_CLN") {
			t.Fatalf("make run without lightningd does not say why it has no storefront:\n%s", out.String())
		}
		t.Logf("%s and %s: the storefront part skipped (%s, %s unset)", realcln.TierCLN, realcln.TierBitcoind, realcln.CLNEnv, realcln.BitcoindEnv)
	} else {
		makeRunStorefront(t, out.String(), cli)
	}

	created := cli("orders", "create", "--nodes", "8", "--hours", "3", "--reason", "demo")
	id := regexp.MustCompile(`order ([0-9a-f-]{36}) issued`).FindStringSubmatch(created)
	if id == nil {
		t.Fatalf("create said %q", created)
	}
	watched := cli("orders", "watch", id[1], "--every", "200ms")
	if !strings.Contains(watched, "is provisioned: 8 nodes") || !strings.Contains(watched, "Heidi (node 8)") {
		t.Fatalf("watch:\n%s", watched)
	}
	sheet := filepath.Join(data, "sheet.html")
	cli("orders", "sheet", id[1], "-o", sheet)
	if b, err := os.ReadFile(sheet); err != nil || strings.Count(string(b), "data:image/png") != 8 {
		t.Fatalf("sheet: %v", err)
	}

	// The order ends (its page then stops long-polling, which a headless
	// browser would wait on forever), and the playground goes down -v.
	cli("orders", "teardown", id[1], "--yes")
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(cli("orders", "show", id[1], "--json"), `"status": "expired"`); {
		if time.Now().After(deadline) {
			t.Fatal("the order did not end")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The Web UI's page of the order: its input decoded by the codec
	// server, not shown as an encrypted blob.
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is missing: run `make deps`")
	}
	page := fmt.Sprintf("http://localhost:%d/namespaces/default/workflows/lnplaylive-%s", ui, id[1])
	var dom string
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		b, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
			"--virtual-time-budget=5000", "--dump-dom", page).Output()
		cancel()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		dom = string(b)
		if strings.Contains(dom, id[1]) && strings.Contains(dom, "node_count") {
			break
		}
	}
	if !strings.Contains(dom, "node_count") || !strings.Contains(dom, "demo") {
		t.Fatalf("the Web UI does not show the order's decoded input (%d bytes of DOM)", len(dom))
	}
	if strings.Contains(dom, "binary/encrypted") {
		t.Fatal("the Web UI shows an encrypted payload")
	}
}

// makeRunStorefront buys in make run's storefront and pays from its second
// dev node (real lightningd and bitcoind).
func makeRunStorefront(t *testing.T, said string, cli func(args ...string) string) {
	t.Helper()
	shopURL := regexp.MustCompile(`Storefront: (http://\S+)/ `).FindStringSubmatch(said)
	if shopURL == nil {
		t.Fatalf("make run printed no storefront URL:\n%s", said)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Post(shopURL[1]+"/order", "application/x-www-form-urlencoded", strings.NewReader("node_count=8&hours=3"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	shopPage := shopURL[1] + resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("buying in the storefront: %d", resp.StatusCode)
	}
	resp, err = http.Get(shopPage)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	invoice := regexp.MustCompile(`id="pay-text"[^>]*>(lnbcrt[0-9a-z]+)<`).FindSubmatch(body)
	if invoice == nil {
		t.Fatalf("the order page %s shows no invoice:\n%s", shopPage, body)
	}
	if paid := cli("dev", "pay", string(invoice[1])); !strings.Contains(paid, "paid: complete") {
		t.Fatalf("dev pay: %s", paid)
	}
	shopID := shopPage[strings.LastIndex(shopPage, "/")+1:]
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(cli("orders", "show", shopID, "--json"), `"provisioned"`); {
		if time.Now().After(deadline) {
			t.Fatalf("the storefront's order never provisioned: %s", cli("orders", "show", shopID, "--json"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	cli("orders", "teardown", shopID, "--yes")

}

// A part make run starts that stops (a bad setting: a host-pool file
// without p2p_port_base) is named on the terminal with the end of its log
// and the log's path, before anything says all is well.
func TestMakeRunSaysWhyAPartStopped(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	if _, err := devserver.Binary(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"lnplaylive", "lnplaylive-worker"} {
		if _, err := os.Stat(filepath.Join(repo, "bin", b)); err != nil {
			t.Fatalf("bin/%s missing: make build", b)
		}
	}
	data := t.TempDir()
	pool := filepath.Join(data, "pool.yaml")
	if err := os.WriteFile(pool, []byte("hosts:\n  - name: box1\n    address: 127.0.0.1\n    user: play\n    host_key: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\"\n    slots: [{name: a, port_base: 10000, max_nodes: 8}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, ui, codecPort := devserver.FreePort(t), devserver.FreePort(t), devserver.FreePort(t)
	cmd := exec.Command("bash", filepath.Join(repo, "scripts", "run.sh"))
	cmd.Env = append(os.Environ(), "LNPLAYLIVE_DATA_DIR="+data, fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", port), fmt.Sprintf("LNPLAYLIVE_UI_PORT=%d", ui),
		fmt.Sprintf("LNPLAYLIVE_CODEC_ADDR=127.0.0.1:%d", codecPort), "LNPLAYLIVE_METRICS_ADDR=off", "LNPLAYLIVE_HOSTS_FILE="+pool,
		"HCLOUD_TOKEN=", "LNPLAYLIVE_PROVIDER=", "LNPLAYLIVE_CODEC_KEYS_FILE=", "LNPLAYLIVE_TASK_QUEUE=", "LNPLAYLIVE_DEV_NODES=off")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGINT, 30*time.Second)
	select {
	case <-p.Exited():
	case <-time.After(90 * time.Second):
		t.Fatalf("make run kept running with a bad host-pool file:\n%s", out.String())
	}
	said := out.String()
	for _, want := range []string{"*** the worker stopped (exit status 1)", "p2p_port_base is required", "e.g. p2p_port_base: 11000",
		"*** The whole log: " + filepath.Join(data, "worker.log")} {
		if !strings.Contains(said, want) {
			t.Errorf("make run does not say %q:\n%s", want, said)
		}
	}
	if strings.Contains(said, "Worker running") || strings.Contains(said, "Ctrl-C stops everything") {
		t.Errorf("make run claimed the worker runs:\n%s", said)
	}
	if p.ExitStatus() == "exit status 0" {
		t.Error("make run exited 0")
	}
}
