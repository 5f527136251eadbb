package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/hetznertest"
)

func hetznerEnv(t *testing.T, api *hetznertest.API) []string {
	secret := filepath.Join(t.TempDir(), "host-key-secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("s"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"HCLOUD_TOKEN=" + api.Token, "HCLOUD_ENDPOINT=" + api.URL,
		"LNPLAYLIVE_HETZNER_SSH_KEY=" + hetznertest.SSHKeyName, "LNPLAYLIVE_HOST_KEY_SECRET_FILE=" + secret,
		"LNPLAYLIVE_HETZNER_POLL_MS=20",
	}
}

// A paid order gets exactly one VM, labelled with the order, even when the
// API answers the create with a 500 after it made the server.
func TestPaidOrderGetsExactlyOneServerDespiteALostCreateResponse(t *testing.T) {
	api := hetznertest.New(t)
	api.Inject(hetznertest.Fault{Method: "POST", Path: "/servers", Times: 1, Status: 500, AfterEffect: true})
	s := newSystem(t, options{workerEnv: hetznerEnv(t, api)})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		servers := api.Servers()
		// The retry found the server the lost response had made.
		if len(servers) == 1 && servers[0].Status == "running" && api.Requests("GET /servers") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d servers after %d creates", len(servers), api.Requests("POST /servers"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The adopted server is the order's; no second one appears.
	time.Sleep(2 * time.Second)
	created, _, maxPerOrder := api.Counts()
	if created != 1 || maxPerOrder != 1 {
		t.Fatalf("created %d servers, at most %d for one order", created, maxPerOrder)
	}
	srv := api.Servers()[0]
	if srv.Labels["lnplaylive-order"] != string(r.BOLT11InvoiceID) || srv.Name != "lnplaylive-"+string(r.BOLT11InvoiceID) {
		t.Fatalf("server %+v", srv)
	}
	st := s.status(string(r.BOLT11InvoiceID))
	if st.InvoiceStatus != "paid" || !strings.Contains(string(st.DeploymentDetails), `"starting_deployment"`) {
		t.Fatalf("status %+v %s", st, st.DeploymentDetails)
	}
	if strings.Contains(s.worker.out.String(), api.Token) || strings.Contains(s.worker.out.String(), "PRIVATE KEY") {
		t.Fatal("the worker logged a secret")
	}
}
