package worker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// The production compose stack cannot run here (no container engine), so it
// is checked with Compose's own parser instead.
func TestProductionComposeStack(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The env files hold the secrets and are never committed: stand-ins here.
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o700)
	for _, f := range []string{".env.postgres", ".env.worker", "secrets/codec.keys"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("PLACEHOLDER=1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o700)
	os.WriteFile(filepath.Join(dir, "secrets", "ssh_key"), []byte("x"), 0o600)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml"), Content: raw}},
	}, func(o *loader.Options) { o.SetProjectName("lnplaylive", true) })
	if err != nil {
		t.Fatalf("compose-go rejects docker-compose.yml: %v", err)
	}
	temporal := []string{"temporal-history", "temporal-matching", "temporal-frontend", "temporal-worker"}
	for _, name := range append([]string{"postgresql", "temporal-schema", "temporal-namespace", "temporal-ui", "worker", "codec-server"}, temporal...) {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9][A-Za-z0-9._-]*$`)
	secretish := regexp.MustCompile(`(?i)(password|token|secret|api_key|private)`)
	for name, svc := range p.Services {
		if svc.Build == nil && !pinned.MatchString(svc.Image) {
			t.Errorf("%s: image %q is not pinned to a version", name, svc.Image)
		}
		for k, v := range svc.Environment {
			if v != nil && secretish.MatchString(k) && *v != "" && !strings.HasPrefix(*v, "/run/secrets/") {
				t.Errorf("%s: secret %s inline in the compose file", name, k)
			}
		}
	}
	if p.Services["worker"].Build == nil {
		t.Error("the worker is not built from the Dockerfile")
	}
	for name, dep := range map[string]string{"temporal-schema": "postgresql", "temporal-ui": "temporal-frontend",
		"worker": "temporal-frontend", "temporal-worker": "temporal-frontend", "temporal-namespace": "temporal-frontend"} {
		d, ok := p.Services[name].DependsOn[dep]
		if !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s does not wait for %s to be healthy", name, dep)
		}
	}
	// Each Temporal service is its own container on the shared config
	// (deploy/temporal, which make stack runs natively), at a fixed address
	// it broadcasts to the others.
	seen := map[string]bool{}
	for _, name := range temporal {
		svc := p.Services[name]
		role := strings.TrimPrefix(name, "temporal-")
		ep := strings.Join(svc.Entrypoint, " ")
		if !strings.Contains(ep, "--env lnplaylive") || !strings.HasSuffix(ep, "--service "+role) {
			t.Errorf("%s runs %q", name, ep)
		}
		if len(svc.Volumes) != 1 || filepath.Base(svc.Volumes[0].Source) != "temporal" || !svc.Volumes[0].ReadOnly {
			t.Errorf("%s does not mount deploy/temporal read-only: %+v", name, svc.Volumes)
		}
		addr := svc.Networks["temporal"]
		b := svc.Environment["TEMPORAL_BROADCAST_ADDRESS"]
		if addr == nil || b == nil || addr.Ipv4Address != *b || seen[*b] {
			t.Errorf("%s: broadcast address %v, network address %+v", name, b, addr)
		} else {
			seen[*b] = true
		}
		if d, ok := svc.DependsOn["temporal-schema"]; role != "worker" && (!ok || d.Condition != types.ServiceConditionCompletedSuccessfully) {
			t.Errorf("%s starts before the schema is migrated", name)
		}
	}
	if r := p.Services["worker"].Deploy; r == nil || r.Replicas == nil || *r.Replicas != 2 {
		t.Error("not two lnplaylive workers")
	}
	for _, name := range []string{"postgresql", "temporal-frontend"} {
		if p.Services[name].HealthCheck == nil || len(p.Services[name].HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	if _, ok := p.Volumes["postgres-data"]; !ok || len(p.Services["postgresql"].Volumes) == 0 || p.Services["postgresql"].Volumes[0].Source != "postgres-data" {
		t.Error("PostgreSQL data is not on a named volume")
	}

	df, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(df), "\nFROM ") + boolInt(strings.HasPrefix(string(df), "FROM ")); n < 2 || !strings.Contains(string(df), " AS build") {
		t.Error("the Dockerfile is not multi-stage")
	}
	if !strings.Contains(string(df), "USER ") {
		t.Error("the worker image runs as root")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
