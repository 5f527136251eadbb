package hetzner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/hostkey"
	"github.com/lnplaylive/lnplaylive/internal/testworld/hetznertest"
)

func newProvider(t *testing.T, api *hetznertest.API, mutate ...func(*Config)) *Provider {
	t.Helper()
	keys, err := hostkey.NewDeriver([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Token: api.Token, Endpoint: api.URL, Sizes: []int{8, 16, 32, 64}, Image: "debian-12",
		Locations: []string{"fsn1", "nbg1"}, SSHKeyName: hetznertest.SSHKeyName, SSHUser: "root", SSHPort: 22,
		PollInterval: time.Millisecond, RetryBackoff: time.Millisecond,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func spec(id string) infra.Spec {
	return infra.Spec{OrderID: id, NodeCount: 8, ExpiresAt: time.Unix(1_800_000_000, 0)}
}

func noBeat(string) {}

func TestAcquireCreatesOneLabelledServerAndIsIdempotent(t *testing.T) {
	api := hetznertest.New(t)
	api.ActionPolls = 3
	p := newProvider(t, api)
	ctx := context.Background()
	beats := 0
	host, err := p.Acquire(ctx, spec("o1"), func(string) { beats++ })
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Acquire(ctx, spec("o1"), noBeat)
	if err != nil {
		t.Fatal(err)
	}
	if host != again {
		t.Fatalf("second acquire returned %+v, first %+v", again, host)
	}
	servers := api.Servers()
	if len(servers) != 1 {
		t.Fatalf("servers: %+v", servers)
	}
	s := servers[0]
	if s.Name != "lnplaylive-o1" || s.Labels[LabelOrder] != "o1" || s.Labels[LabelManagedBy] != ManagedBy ||
		s.Labels[LabelExpires] != "1800000000" || s.Type != "cx23" || s.Location != "fsn1" || s.Status != "running" {
		t.Fatalf("server %+v", s)
	}
	if host.Address != "127.0.0.1" || host.PortBase != 6000 || !strings.HasPrefix(host.HostKey, "ssh-ed25519 ") {
		t.Fatalf("host %+v", host)
	}
	if !strings.Contains(s.UserData, "ed25519_public: "+host.HostKey) || !strings.Contains(s.UserData, "BEGIN OPENSSH PRIVATE KEY") {
		t.Fatal("cloud-init does not install the pinned host key")
	}
	if got := api.FirewallRules("lnplaylive-o1"); len(got) != 3 || got[0] != "22" || got[1] != "6001-6008" || got[2] != "9736-9743" {
		t.Fatalf("firewall ports %v", got)
	}
	if beats == 0 {
		t.Fatal("no heartbeat while waiting for the create action")
	}
}

func TestCreateWhoseResponseWasLostIsAdoptedNotDuplicated(t *testing.T) {
	api := hetznertest.New(t)
	p := newProvider(t, api)
	api.Inject(hetznertest.Fault{Method: "POST", Path: "/servers", Times: 1, Status: 500, AfterEffect: true})
	ctx := context.Background()
	if _, err := p.Acquire(ctx, spec("o2"), noBeat); err == nil {
		t.Fatal("the 500 was not reported")
	}
	host, err := p.Acquire(ctx, spec("o2"), noBeat)
	if err != nil {
		t.Fatal(err)
	}
	created, _, maxPerOrder := api.Counts()
	if created != 1 || maxPerOrder != 1 || host.ID == "" {
		t.Fatalf("created %d, max per order %d", created, maxPerOrder)
	}
}

func TestFullLocationFallsBackToTheNext(t *testing.T) {
	api := hetznertest.New(t)
	api.SetLocationFull("fsn1", true)
	p := newProvider(t, api)
	if _, err := p.Acquire(context.Background(), spec("o3"), noBeat); err != nil {
		t.Fatal(err)
	}
	if s := api.Servers(); len(s) != 1 || s[0].Location != "nbg1" {
		t.Fatalf("servers %+v", s)
	}
	api.SetLocationFull("nbg1", true)
	if _, err := p.Acquire(context.Background(), spec("o4"), noBeat); err == nil || !strings.Contains(err.Error(), "can be had now") {
		t.Fatalf("want every candidate unavailable, got %v", err)
	}
}

func TestPermanentAndRateLimitErrorsAreClassified(t *testing.T) {
	api := hetznertest.New(t)
	ctx := context.Background()
	var perm *infra.PermanentError

	bad := newProvider(t, api, func(c *Config) { c.Token = "wrong" })
	if _, err := bad.Acquire(ctx, spec("o5"), noBeat); !errors.As(err, &perm) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("invalid token: %v", err)
	}
	badType := newProvider(t, api, func(c *Config) { c.ServerTypes = map[int]string{8: "cx999"} })
	if _, err := badType.Acquire(ctx, spec("o6"), noBeat); !errors.As(err, &perm) || !strings.Contains(perm.Reason, "cx999") {
		t.Fatalf("invalid server type: %v", err)
	}
	p := newProvider(t, api)
	api.Inject(hetznertest.Fault{Method: "GET", Path: "/servers", Times: 10, Status: 429})
	var ra *infra.RetryAfterError
	if _, err := p.Acquire(ctx, spec("o7"), noBeat); !errors.As(err, &ra) || ra.Delay <= 0 {
		t.Fatalf("429: %v", err)
	}
	if len(api.Servers()) != 0 {
		t.Fatal("servers were made despite the errors")
	}
}

func TestReleaseDeletesServerAndFirewallIdempotently(t *testing.T) {
	api := hetznertest.New(t)
	p := newProvider(t, api)
	ctx := context.Background()
	if _, err := p.Acquire(ctx, spec("o8"), noBeat); err != nil {
		t.Fatal(err)
	}
	api.Inject(hetznertest.Fault{Method: "DELETE", Path: "/servers", Times: 1, Status: 503})
	if err := p.Release(ctx, "o8", noBeat); err == nil {
		t.Fatal("the 503 was not reported")
	}
	for i := 0; i < 2; i++ {
		if err := p.Release(ctx, "o8", noBeat); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.Servers()) != 0 || len(api.FirewallRules("lnplaylive-o8")) != 0 {
		t.Fatalf("left behind: %+v %v", api.Servers(), api.FirewallRules("lnplaylive-o8"))
	}
}

func TestFailedCreateActionIsReported(t *testing.T) {
	api := hetznertest.New(t)
	api.FailActions("create_server", true)
	p := newProvider(t, api)
	if _, err := p.Acquire(context.Background(), spec("o9"), noBeat); err == nil || !strings.Contains(err.Error(), "create_server failed") {
		t.Fatalf("got %v", err)
	}
}

func TestListFollowsPagination(t *testing.T) {
	api := hetznertest.New(t)
	for i := 0; i < 60; i++ {
		api.PlantServer("s"+string(rune('A'+i%26))+string(rune('a'+i/26)), map[string]string{LabelManagedBy: ManagedBy, LabelOrder: "x"})
	}
	api.PlantServer("not-ours", map[string]string{"team": "other"})
	leases, err := newProvider(t, api).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 60 {
		t.Fatalf("listed %d of 60", len(leases))
	}
	if api.Requests("GET /servers") < 2 {
		t.Fatal("list did not page")
	}
}

func TestOversizedResponseIsRejected(t *testing.T) {
	api := hetznertest.New(t)
	api.Inject(hetznertest.Fault{Method: "GET", Path: "/servers", Times: 1, Oversize: MaxResponse + 1})
	_, err := newProvider(t, api).List(context.Background())
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("got %v", err)
	}
}
