package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/order"
)

// dockerOnPath builds the docker double and returns a PATH that finds it
// first, and its state directory under base: a machine "with Docker".
func dockerOnPath(t *testing.T, base string) (path, state string) {
	t.Helper()
	docker, err := testbin.Tool("./internal/testworld/dockerdouble", "docker")
	if err != nil {
		t.Fatal(err)
	}
	state = filepath.Join(base, "docker-state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(docker) + ":" + os.Getenv("PATH"), state
}

// The local provider: `make run` on a machine with Docker and nothing
// else configured. The worker finds `docker compose` (the docker double on
// its PATH), plays on this machine without SSH, and an operator's order
// becomes a playground, then goes `down -v`, as on a pool.
func TestLocalProviderRunsAPlaygroundOnThisMachine(t *testing.T) {
	base := t.TempDir()
	path, state := dockerOnPath(t, base)
	s := newSystem(t, options{workerEnv: []string{
		"PATH=" + path, "DOCKER_DOUBLE_STATE=" + state,
		"LNPLAYLIVE_LOCAL_DIR=" + filepath.Join(base, "orders"), "LNPLAYLIVE_LOCAL_PORTS=21000-21999",
		"LNPLAYLIVE_SSH_KEY_FILE=" + filepath.Join(base, "no-key"), "LNPLAYLIVE_PROVIDER="}})
	out, err := s.cli("", "orders", "create", "--nodes", "8", "--hours", "3", "--reason", "demo", "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	id := strings.TrimSpace(out)
	id = id[strings.Index(id, `"order_id": "`)+len(`"order_id": "`):]
	id = id[:strings.Index(id, `"`)]
	watched, err := s.cli("", "orders", "watch", id, "--every", "200ms")
	if err != nil {
		t.Fatalf("watch: %v: %s", err, watched)
	}
	shown, err := s.cli("", "orders", "show", id, "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, shown)
	}
	var st struct {
		Deployment order.Deployment `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(shown), &st); err != nil {
		t.Fatal(err)
	}
	dep := st.Deployment
	if dep.Status != "provisioned" || len(dep.Nodes) != 8 || !strings.Contains(watched, dep.Nodes[7].ClamsURL) {
		t.Fatalf("%s (%s)", dep.Status, dep.Error)
	}
	for _, n := range dep.Nodes {
		if n.Host != "127.0.0.1" || n.WSPort != 21000+n.Index-1 || n.P2PPort != 21064+n.Index-1 {
			t.Fatalf("node %d at %s:%d/%d", n.Index, n.Host, n.WSPort, n.P2PPort)
		}
	}
	m := &playgroundtest.Machine{StateDir: state}
	if !m.State(t).Projects["lnplaylive-"+id] {
		t.Fatal("no Compose project on this machine")
	}
	for _, c := range m.Calls(t) {
		if strings.Contains(strings.Join(c, " "), "ssh") {
			t.Fatalf("SSH used for a local playground: %v", c)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "orders", id, "compose.yml")); err != nil {
		t.Fatalf("the order's files are not under LNPLAYLIVE_LOCAL_DIR: %v", err)
	}
	if out, err := s.cli("", "orders", "teardown", id, "--yes"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := s.cli("", "orders", "show", id, "--json")
		if strings.Contains(out, `"status": "expired"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not torn down: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	downs := 0
	for _, c := range m.Calls(t) {
		if strings.Contains(strings.Join(c, " "), "down -v") {
			downs++
		}
	}
	if m.State(t).Projects["lnplaylive-"+id] || downs == 0 {
		t.Fatalf("the playground was not taken down with its volumes (%d downs)", downs)
	}
	if _, err := os.Stat(filepath.Join(base, "orders", id)); !os.IsNotExist(err) {
		t.Fatalf("the order's files remain: %v", err)
	}
}
