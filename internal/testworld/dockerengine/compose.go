package dockerengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// project is one Compose project on the host.
type project struct {
	daemon     *Daemon
	Name       string
	net        *network
	containers map[string]*container
	order      []string // services in dependency order
}

// load reads a compose file with Compose's own loader: what it refuses
// (unknown keys, bad types, cycles) is refused here.
func load(file, name string) (*types.Project, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	env := map[string]string{}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(file),
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: b}},
		Environment: env,
	}, func(o *loader.Options) {
		if name != "" {
			o.SetProjectName(name, true)
		}
	})
}

// containersFor turns a loaded project into containers, refusing what
// Docker would refuse for these images.
func (d *Daemon) containersFor(p *project, cp *types.Project) (map[string]*container, []string, error) {
	out := map[string]*container{}
	for name, svc := range cp.Services {
		im, ok := d.images[svc.Image]
		if !ok {
			return nil, nil, unknownImage(svc.Image)
		}
		env := map[string]string{}
		for k, v := range im.Env {
			env[k] = v
		}
		for k, v := range svc.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		var mounts []mount
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				src := filepath.Join(d.dir, "volumes", p.Name+"_"+v.Source)
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, nil, err
				}
				mounts = append(mounts, mount{Source: src, Target: v.Target})
			case types.VolumeTypeBind:
				mounts = append(mounts, mount{Source: v.Source, Target: v.Target})
			default:
				return nil, nil, fmt.Errorf("service %q: volume type %q is not supported by this engine", name, v.Type)
			}
		}
		var ports []portMap
		for _, pc := range svc.Ports {
			var hp int
			if _, err := fmt.Sscan(pc.Published, &hp); err != nil || pc.Protocol != "tcp" {
				return nil, nil, fmt.Errorf("service %q: port %+v is not supported by this engine", name, pc)
			}
			ports = append(ports, portMap{Host: hp, Container: int(pc.Target)})
		}
		grace := 10 * time.Second
		if svc.StopGracePeriod != nil {
			grace = time.Duration(*svc.StopGracePeriod)
		}
		restart := svc.Restart
		if restart == "" {
			restart = "no"
		}
		c := &container{
			project: p, Service: name, Restart: restart, Grace: grace, Ports: ports,
			Spec: initSpec{
				Argv: im.argv(svc.Entrypoint, svc.Command), Env: env, Mounts: mounts,
				Hosts: p.hostsPath(), Init: svc.Init != nil && *svc.Init, WorkDir: svc.WorkingDir,
			},
		}
		for dep := range svc.DependsOn {
			c.deps = append(c.deps, dep)
		}
		sort.Strings(c.deps)
		h, _ := json.Marshal([]any{c.Spec, c.Restart, c.Grace, c.Ports, c.deps})
		sum := sha256.Sum256(h)
		c.Hash = hex.EncodeToString(sum[:])
		out[name] = c
	}
	var order []string
	err := cp.ForEachService(nil, func(name string, _ *types.ServiceConfig) error {
		order = append(order, name)
		return nil
	})
	return out, order, err
}

// services are the project's services, sorted.
func (p *project) services() []string { return slices.Sorted(maps.Keys(p.containers)) }

func (p *project) hostsPath() string { return filepath.Join(p.daemon.dir, "hosts", p.Name) }

// writeHosts rewrites the project's hosts file in place (the containers
// have it bind-mounted, so its inode must stay): each running service's
// name, and its container name, to its address. Docker's embedded DNS
// answers the same names.
func (p *project) writeHosts() error {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, name := range p.services() {
		c := p.containers[name]
		if c.Addr != "" {
			fmt.Fprintf(&b, "%s\t%s %s\n", c.Addr, name, c.name())
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.hostsPath()), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p.hostsPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(b.String())
	return err
}
