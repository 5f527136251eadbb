package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/worker"
)

func hetznerEnv(t *testing.T, api *hetznertest.API) []string {
	secret := filepath.Join(t.TempDir(), "host-key-secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("s"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"HCLOUD_TOKEN=" + api.Token, "HCLOUD_ENDPOINT=" + api.URL,
		"LNPLAYLIVE_HETZNER_SSH_KEY=" + hetznertest.SSHKeyName, "LNPLAYLIVE_HOST_KEY_SECRET_FILE=" + secret,
		"LNPLAYLIVE_HETZNER_POLL_MS=20", "LNPLAYLIVE_CLAMS_PROXY=" + refusingProxy(t),
	}
}

// refusingProxy is a websocket proxy that is up and refuses every target
// (as lnplaylive-web's does for one that is not a live order's node).
func refusingProxy(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not a node of a live order", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
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

func waitServers(t *testing.T, api *hetznertest.API, timeout time.Duration, ok func([]hetznertest.Server) bool) []hetznertest.Server {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		servers := api.Servers()
		if ok(servers) {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers after %s: %d", timeout, len(servers))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func oneRunning(servers []hetznertest.Server) bool {
	return len(servers) == 1 && servers[0].Status == "running"
}

// The sweeper deletes a VM no live order owns and keeps a live order's VM.
func TestSweeperDeletesOrphanAndKeepsLiveOrdersVM(t *testing.T) {
	api := hetznertest.New(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", devserver.FreePort(t))
	s := newSystem(t, options{workerEnv: append(hetznerEnv(t, api), "LNPLAYLIVE_METRICS_ADDR="+metricsAddr)})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	waitServers(t, api, 30*time.Second, oneRunning)
	orphan := order.NewID()
	api.PlantServer("lnplaylive-"+string(orphan), map[string]string{"managed-by": "lnplaylive", "lnplaylive-order": string(orphan),
		"lnplaylive-expires": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)})

	c := s.client()
	h := c.ScheduleClient().GetHandle(context.Background(), worker.SweepScheduleID(s.taskQueue))
	if err := h.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	servers := waitServers(t, api, 30*time.Second, func(ss []hetznertest.Server) bool {
		return len(ss) == 1 && ss[0].Labels["lnplaylive-order"] == string(r.BOLT11InvoiceID)
	})
	if servers[0].Status != "running" {
		t.Fatalf("the live order's server is %s", servers[0].Status)
	}
	counted := regexp.MustCompile(`(?m)^lnplaylive_sweeper_deletions\{.*\} 1$`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if counted.Match(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper's deletion was not counted")
		}
	}
}

// A deployment that cannot succeed (the image went from Hetzner after the
// worker started) fails for good with the reason, and leaves no server.
func TestProvisionFailingForGoodEndsFailedWithNoServer(t *testing.T) {
	api := hetznertest.New(t)
	s := newSystem(t, options{workerEnv: hetznerEnv(t, api)})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	api.SetImages("ubuntu-24.04")
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	st := s.waitStatus(string(r.BOLT11InvoiceID), 30*time.Second, func(st status) bool {
		return strings.Contains(string(st.DeploymentDetails), `"failed"`)
	})
	if d := st.deployment(t); !strings.Contains(d.Error, "image") {
		t.Fatalf("failure reason %q", d.Error)
	}
	if n := len(api.Servers()); n != 0 {
		t.Fatalf("%d servers left", n)
	}
}

// A worker told to order a server type Hetzner removed (the default of a
// year ago) sells nothing: createorder refuses in words naming the type
// and the fix, and makes no invoice; `lnplaylive doctor` says the same,
// one line per check, and exits non-zero. With no type pinned, every size
// resolves to a type on sale today, and doctor passes.
func TestAWorkerThatCannotOrderAServerSellsNothing(t *testing.T) {
	api := hetznertest.New(t)
	env := append(hetznerEnv(t, api), "LNPLAYLIVE_HETZNER_SERVER_TYPES=8:cx22")
	s := newSystem(t, options{workerEnv: env})
	_, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3})
	if rerr == nil || !strings.Contains(rerr.Message, `"cx22" is not in Hetzner's catalogue`) || !strings.Contains(rerr.Message, "LNPLAYLIVE_HETZNER_SERVER_TYPES") {
		t.Fatalf("createorder: %v", rerr)
	}
	if n := len(s.node.Invoices()); n != 0 {
		t.Fatalf("%d invoices made", n)
	}
	out, err := s.cliEnv(env, "doctor")
	if err == nil || !strings.Contains(out, "FAIL server type for 8 nodes") || !strings.Contains(out, "fix: ") || !strings.Contains(out, "ok   Hetzner API token") {
		t.Fatalf("doctor with a removed type: %v\n%s", err, out)
	}
	good := hetznerEnv(t, api)
	out, err = s.cliEnv(good, "doctor")
	if err != nil || !strings.Contains(out, "ok   server type for 8 nodes: cx23 in fsn1") || !strings.Contains(out, "ok   server type for 64 nodes: cx43") ||
		!strings.Contains(out, "ok   attendees' websocket proxy") || strings.Contains(out, "FAIL") {
		t.Fatalf("doctor on today's catalogue: %v\n%s", err, out)
	}
	if len(api.Servers()) != 0 {
		t.Fatal("doctor or the worker made a server")
	}
}

// The worker dies while the create action runs; after it restarts, the
// retried activity adopts the VM: still exactly one.
func TestWorkerKilledDuringCreateLeavesOneServer(t *testing.T) {
	api := hetznertest.New(t)
	api.ActionPolls, api.ActionTime = 1_000_000, 4*time.Second
	s := newSystem(t, options{workerEnv: hetznerEnv(t, api)})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	waitServers(t, api, 30*time.Second, func(ss []hetznertest.Server) bool { return len(ss) == 1 })
	s.worker.signal(syscall.SIGKILL)
	s.worker.start()
	// The retry comes after the heartbeat timeout and moves on to the
	// bootstrap, whose first steps go by fast; a worker without an SSH key
	// (CI) then fails it and deletes the VM. Either way the acquire is
	// over once the status leaves acquiring_host.
	s.waitStatus(string(r.BOLT11InvoiceID), 90*time.Second, func(st status) bool {
		d := deploymentOf(t, st)
		return d.Status == order.Failed || d.Progress != nil && d.Progress.Step != "acquiring_host"
	})
	created, _, maxPerOrder := api.Counts()
	if created != 1 || maxPerOrder != 1 || len(api.Servers()) > 1 {
		t.Fatalf("created %d, max per order %d, servers %d", created, maxPerOrder, len(api.Servers()))
	}
}

// The bound on unpaid invoices (--lnplaylive-max-live-orders) refuses
// before creating an invoice; there is room again once an unpaid invoice
// expires. It bounds what a flood can make the node hold, not capacity:
// see TestAFloodOfUnpaidOrdersNeverKeepsAPayerOut.
func TestUnpaidInvoiceBoundRefusesBeforeAnyInvoice(t *testing.T) {
	s := newSystem(t, options{invoiceExpiry: 3, pluginOptions: map[string]any{"lnplaylive-max-live-orders": 2}})
	s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	for i := 0; i < 2; i++ { // before and after visibility has caught up
		_, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3})
		if rerr == nil || !strings.Contains(rerr.Message, "no capacity") {
			t.Fatalf("third order: %v", rerr)
		}
		time.Sleep(time.Second)
	}
	if n := len(s.node.Invoices()); n != 2 {
		t.Fatalf("%d invoices", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, rerr := s.call("lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3})
		if rerr == nil {
			break
		}
		if !strings.Contains(rerr.Message, "no capacity") || time.Now().After(deadline) {
			t.Fatalf("after the invoices expired: %v", rerr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
