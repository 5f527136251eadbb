package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra/hostkey"
	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
)

// deployment is everything an order needs to reach provisioned: the Hetzner
// stand-in, an operator SSH key, and the port the test's sshd will use.
type deployment struct {
	api      *hetznertest.API
	env      []string
	sshPort  int
	operator ssh.Signer
	keys     *hostkey.Deriver
}

func newDeployment(t *testing.T) deployment {
	api := hetznertest.New(t)
	env := hetznerEnv(t, api)
	var secret string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LNPLAYLIVE_HOST_KEY_SECRET_FILE="); ok {
			secret = v
		}
	}
	raw, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	keys, err := hostkey.NewDeriver(sum[:])
	if err != nil {
		t.Fatal(err)
	}
	opPriv, operator := sshdtest.NewKey(t)
	block, err := ssh.MarshalPrivateKey(opPriv, "operator")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	d := deployment{api: api, sshPort: devserver.FreePort(t), operator: operator, keys: keys}
	d.env = append(env, "LNPLAYLIVE_SSH_KEY_FILE="+keyFile, fmt.Sprintf("LNPLAYLIVE_SSH_PORT=%d", d.sshPort))
	return d
}

// machine starts the order's "VM": sshd presenting hostKey.
func (d deployment) machine(t *testing.T, hostKey ed25519.PrivateKey) *playgroundtest.Machine {
	return playgroundtest.StartOnPort(t, hostKey, d.operator.PublicKey(), d.sshPort)
}

var connRE = regexp.MustCompile(`^http://app\.clams\.tech:80/connect\?address=(0[23][0-9a-f]{64})@127\.0\.0\.1:(\d+)&type=direct&value=ws:&rune=([A-Za-z0-9_=-]+)$`)

func TestOrderIsProvisionedWithRestrictedRunes(t *testing.T) {
	d := newDeployment(t)
	// The machine's directories must be known to the worker before it starts.
	base := t.TempDir()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", devserver.FreePort(t))
	env := append(d.env, "LNPLAYLIVE_REMOTE_DIR="+filepath.Join(base, "orders"), "LNPLAYLIVE_READY_MARKER="+filepath.Join(base, "ready"),
		"LNPLAYLIVE_METRICS_ADDR="+metricsAddr)
	if err := os.WriteFile(filepath.Join(base, "ready"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSystem(t, options{workerEnv: env})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 48})
	m := d.machine(t, d.keys.For(string(r.BOLT11InvoiceID)).Private)
	// The SSH connection drops right after the nodes were funded: the
	// retried bootstrap must finish without funding anyone twice.
	m.Fault(t, "kill-after sendmany")

	started := time.Now()
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	st := s.waitStatus(string(r.BOLT11InvoiceID), 90*time.Second, func(st status) bool {
		return strings.Contains(string(st.DeploymentDetails), `"provisioned"`) || strings.Contains(string(st.DeploymentDetails), `"failed"`)
	})
	t.Logf("payment → provisioned in %s", time.Since(started).Round(time.Millisecond))
	dep := st.deployment(t)
	if dep.Status != "provisioned" || len(dep.ConnectionStrings) != 8 || len(dep.Nodes) != 8 {
		t.Fatalf("deployment %s (%s), sshd: %s", dep.Status, dep.Error, m.SSHD.Log())
	}
	for i, c := range dep.ConnectionStrings {
		match := connRE.FindStringSubmatch(c)
		if match == nil || match[2] != fmt.Sprint(6001+i) {
			t.Fatalf("connection string %d has the wrong form or port", i+1)
		}
		ok := false
		for uid := 0; uid < 5 && !ok; uid++ {
			ok = playground.PlaygroundProfile.Check(match[3], fmt.Sprint(uid)) == nil
		}
		if !ok {
			t.Fatalf("node %d's rune does not carry the playground profile", i+1)
		}
		if n := dep.Nodes[i]; n.Rune != match[3] || n.ID != match[1] || n.Index != i+1 || n.P2PPort != 9736+i || !strings.Contains(n.ClamsURL, "/wallets/add?") {
			t.Fatalf("node %d's details disagree with its connection string: %+v", i+1, n.Index)
		}
		if strings.Contains(s.worker.out.String(), match[3]) {
			t.Fatal("the worker logged a rune")
		}
	}
	// Temporal's stored history holds no rune and no connection string in
	// clear: read it raw, without the codec.
	raw := s.temporal.Client(t)
	it := raw.GetWorkflowHistory(context.Background(), "lnplaylive-"+string(r.BOLT11InvoiceID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		text := ev.String()
		for _, c := range dep.ConnectionStrings {
			rune := c[strings.Index(c, "rune=")+5:]
			if strings.Contains(text, rune) || strings.Contains(text, "connect?address") || strings.Contains(text, "wallets/add") {
				t.Fatalf("event %d (%s) holds a connection string in clear", ev.GetEventId(), ev.GetEventType())
			}
		}
	}
	if events < 10 {
		t.Fatalf("only %d history events", events)
	}
	funded := m.State(t).Funded
	if len(funded) != 8 {
		t.Fatalf("%d nodes funded", len(funded))
	}
	for a, n := range funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times", a, n)
		}
	}
	ups := 0
	for _, c := range m.Calls(t) {
		if strings.Contains(strings.Join(c, " "), " up -d") {
			ups++
		}
	}
	if ups < 2 {
		t.Fatalf("the bootstrap ran %d times; the dropped connection was not retried", ups)
	}
	if created, _, maxPerOrder := d.api.Counts(); created != 1 || maxPerOrder != 1 {
		t.Fatalf("created %d servers", created)
	}

	// The worker's Prometheus endpoint has the SDK's metrics and ours.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"lnplaylive_payment_to_provisioned_seconds_count",
		`lnplaylive_orders{status="provisioned"} 1`,
		"lnplaylive_live_vms 1",
		`hcloud_api_requests_total{`,
		"temporal_request{",
		"temporal_activity_execution_seconds_count",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A machine presenting another host key is refused every time; the order
// fails and its VM is deleted.
func TestWrongHostKeyFailsTheOrderAndDeletesTheVM(t *testing.T) {
	d := newDeployment(t)
	s := newSystem(t, options{workerEnv: d.env})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	impostor, _ := sshdtest.NewKey(t)
	m := d.machine(t, impostor)
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	st := s.waitStatus(string(r.BOLT11InvoiceID), 120*time.Second, func(st status) bool {
		return strings.Contains(string(st.DeploymentDetails), `"failed"`)
	})
	if e := st.deployment(t).Error; !strings.Contains(e, "host key mismatch") {
		t.Fatalf("reason %q", e)
	}
	waitServers(t, d.api, 30*time.Second, func(ss []hetznertest.Server) bool { return len(ss) == 0 })
	if n := len(m.Calls(t)); n != 0 {
		t.Fatalf("%d docker commands ran on the impostor", n)
	}
}
