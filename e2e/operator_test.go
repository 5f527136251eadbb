package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/ops"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// cli runs the operators' `lnplaylive` with the same settings as the worker.
func (s *system) cli(stdin string, args ...string) (string, error) {
	s.t.Helper()
	return s.run(stdin, nil, args...)
}

// cliEnv runs the CLI with extra environment (later entries win).
func (s *system) cliEnv(env []string, args ...string) (string, error) {
	s.t.Helper()
	return s.run("", env, args...)
}

func (s *system) run(stdin string, env []string, args ...string) (string, error) {
	s.t.Helper()
	bin, err := testbin.Path("lnplaylive")
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+s.addr, "LNPLAYLIVE_CODEC_KEYS_FILE="+s.codecKeys,
		"LNPLAYLIVE_TASK_QUEUE="+s.taskQueue)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A deployment fails (wrong host key); the operator finds it, fixes the
// machine, retries it, extends it, and tears it down, all from the CLI.
func TestOperatorRetriesExtendsAndTearsDownFromTheCLI(t *testing.T) {
	d := newDeployment(t)
	base := t.TempDir()
	env := append(d.env, "LNPLAYLIVE_REMOTE_DIR="+filepath.Join(base, "orders"), "LNPLAYLIVE_READY_MARKER="+filepath.Join(base, "ready"))
	if err := os.WriteFile(filepath.Join(base, "ready"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSystem(t, options{workerEnv: env})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	id := string(r.BOLT11InvoiceID)
	impostorKey, _ := sshdtest.NewKey(t)
	impostor := d.machine(t, impostorKey)
	if err := s.node.Pay("lnplaylive-" + id); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(id, 120*time.Second, func(st status) bool { return strings.Contains(string(st.DeploymentDetails), `"failed"`) })

	var rows []ops.Row
	deadline := time.Now().Add(20 * time.Second)
	for len(rows) == 0 && time.Now().Before(deadline) {
		out, err := s.cli("", "orders", "list", "--status", "failed", "--json")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(rows) != 1 || rows[0].ID != id || rows[0].NodeCount != 8 || rows[0].Hours != 3 {
		t.Fatalf("failed orders: %+v", rows)
	}
	if out, err := s.cli("", "orders", "extend", id, "--hours", "2"); err == nil {
		t.Fatalf("extended a failed order: %s", out)
	}

	// The operator fixes the machine, retries, and watches the deployment
	// from the CLI (its output a pipe: one line per step, then the nodes).
	impostor.SSHD.Stop()
	d.machine(t, d.keys.For(id).Private)
	if out, err := s.cli("", "orders", "retry", id); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	watched, err := s.cli("", "orders", "watch", id, "--every", "200ms")
	if err != nil {
		t.Fatalf("watch: %v: %s", err, watched)
	}
	for _, want := range []string{"opening_channels", "checking_routes", "is provisioned: 8 nodes, mesh channels", "ALIAS", "Heidi (node 8)", "█"} {
		if !strings.Contains(watched, want) {
			t.Fatalf("watch output lacks %q:\n%s", want, watched)
		}
	}
	st := s.waitStatus(id, 90*time.Second, func(st status) bool { return strings.Contains(string(st.DeploymentDetails), `"provisioned"`) })
	for _, n := range st.deployment(t).Nodes {
		if !strings.Contains(watched, n.ID) || !strings.Contains(watched, n.ClamsURL) {
			t.Fatalf("watch output lacks node %d", n.Index)
		}
	}
	// On a terminal: a progress bar, then the same hand-out.
	bin, _ := testbin.Path("lnplaylive")
	tty := exec.Command("script", "-qec", bin+" orders watch "+id, "/dev/null")
	tty.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+s.addr, "LNPLAYLIVE_CODEC_KEYS_FILE="+s.codecKeys,
		"LNPLAYLIVE_TASK_QUEUE="+s.taskQueue, "TERM=xterm")
	if out, err := tty.CombinedOutput(); err != nil || !strings.Contains(string(out), "Heidi (node 8)") {
		t.Fatalf("watch on a terminal: %v\n%s", err, out)
	}
	sheet := filepath.Join(base, "sheet.html")
	if out, err := s.cli("", "orders", "sheet", id, "-o", sheet); err != nil {
		t.Fatalf("sheet: %v: %s", err, out)
	}
	html, err := os.ReadFile(sheet)
	if err != nil || strings.Count(string(html), "data:image/png;base64,") != 8 || !strings.Contains(string(html), ">Heidi<") {
		t.Fatalf("sheet: %v (%d bytes)", err, len(html))
	}
	paidAt := time.Unix(s.node.Invoices()[0].PaidAt, 0).UTC()
	if got := st.deployment(t).VMExpirationDate; got != paidAt.Add(3*time.Hour).Format(time.RFC3339) {
		t.Fatalf("a retry must keep the paid time: %s", got)
	}
	out, err := s.cli("", "orders", "show", id, "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var shown struct {
		OrderID string `json:"order_id"`
		workflows.State
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.OrderID != id || len(shown.Deployment.ConnectionStrings) != 8 ||
		len(shown.Deployment.Nodes) != 8 || shown.Deployment.Topology != order.TopologyMesh {
		t.Fatalf("show: %v %s", err, out)
	}
	if out, err := s.cli("", "orders", "list"); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "provisioned") {
		t.Fatalf("table: %v %s", err, out)
	}

	if out, err := s.cli("", "orders", "extend", id, "--hours", "2", "--reason", "workshop"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s.waitStatus(id, 20*time.Second, func(st status) bool {
		return strings.Contains(string(st.DeploymentDetails), paidAt.Add(5*time.Hour).Format(time.RFC3339))
	})

	if out, err := s.cli("no\n", "orders", "teardown", id); err == nil {
		t.Fatalf("teardown without confirmation: %s", out)
	}
	if out, err := s.cli("yes\n", "orders", "teardown", id); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s.waitStatus(id, 30*time.Second, func(st status) bool { return strings.Contains(string(st.DeploymentDetails), `"expired"`) })
	waitServers(t, d.api, 30*time.Second, func(ss []hetznertest.Server) bool { return len(ss) == 0 })
	if created, _, maxPerOrder := d.api.Counts(); created != 2 || maxPerOrder != 1 {
		t.Fatalf("created %d servers (one per attempt), at most %d at once", created, maxPerOrder)
	}
	if out, err := s.cli("", "sweep", "now"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
