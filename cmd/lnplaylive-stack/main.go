// Command lnplaylive-stack is `make stack`: lnplaylive's production shape on
// one machine without a container engine. PostgreSQL (Debian's, under the
// data directory, as user postgres), Temporal's frontend, history, matching
// and worker services as separate processes on deploy/temporal/lnplaylive.yaml
// (the file docker-compose.yml mounts), the Web UI, two lnplaylive workers and
// the codec server. It prints what lightningd needs and stops everything on
// Ctrl-C; the data survives for the next start.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/internal/proc"
	"github.com/lnplaylive/lnplaylive/internal/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lnplaylive-stack:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDefault := os.Getenv("LNPLAYLIVE_DATA_DIR")
	if dataDefault == "" {
		dataDefault = ".data"
	}
	data := flag.String("data-dir", dataDefault, "where the stack keeps its database, keys and logs")
	workers := flag.Int("workers", 2, "lnplaylive workers to run")
	codecAddr := flag.String("codec-addr", "127.0.0.1:8081", "codec server listen address")
	offset := flag.Int("port-offset", 0, "added to every default port (PostgreSQL 5433, Temporal 7233-7243 and 6933-6939, Web UI 8233, worker metrics 9464…), to run beside another stack")
	flag.Parse()

	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	bins, err := stack.FindBinaries(filepath.Join(repo, "bin"))
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Join(*data, "stack"))
	if err != nil {
		return err
	}
	ports := stack.DefaultPorts().Shift(*offset)
	s := stack.New(dir, repo, ports, bins)
	s.Progress = os.Stdout
	s.CodecEndpoint = "http://" + *codecAddr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var children []*proc.Proc
	var childrenMu sync.Mutex
	var sup *proc.Supervisor
	defer func() {
		fmt.Println("\nstopping...")
		if sup != nil {
			sup.Stop() // first: nothing is started again while we stop
		}
		childrenMu.Lock()
		for i := len(children) - 1; i >= 0; i-- {
			children[i].Stop(syscall.SIGTERM, 20*time.Second)
		}
		childrenMu.Unlock()
		s.Down()
	}()
	upCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := s.Up(upCtx); err != nil {
		return err
	}

	restarts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lnplaylive_stack_restarts_total",
		Help: "Processes of the stack started again after they exited unasked."}, []string{"process"})
	sup = s.Supervise(func(r proc.Restart) {
		restarts.WithLabelValues(r.Name).Inc()
		fmt.Printf("%s restarting %s: it exited (%s) after %s; starting again in %s (restart %d)\n",
			time.Now().Format(time.TimeOnly), r.Name, r.Exit, r.RanFor.Round(time.Second), r.Delay.Round(time.Millisecond), r.Count)
	})

	keys, err := codecKeys(filepath.Join(*data, "codec.keys"))
	if err != nil {
		return err
	}
	env := []string{"TEMPORAL_ADDRESS=" + s.Temporal.Address(), "TEMPORAL_NAMESPACE=" + stack.Namespace,
		"LNPLAYLIVE_CODEC_KEYS_FILE=" + keys}
	// supervised starts a process of ours under the stack's supervisor;
	// children holds the current process of each, for the stop.
	supervised := func(name, logPath, bin string, args []string, env ...string) error {
		i := len(children)
		first, err := start(logPath, bin, args, env...)
		if err != nil {
			return err
		}
		children = append(children, first)
		sup.Watch(name, first, logPath, func(context.Context) (*proc.Proc, error) {
			p, err := start(logPath, bin, args, env...)
			if err == nil {
				childrenMu.Lock()
				children[i] = p
				childrenMu.Unlock()
			}
			return p, err
		})
		return nil
	}
	for i := 1; i <= *workers; i++ {
		if err := supervised(fmt.Sprintf("worker-%d", i), filepath.Join(dir, "logs", fmt.Sprintf("worker-%d.log", i)),
			filepath.Join(repo, "bin", "lnplaylive-worker"), nil,
			append(env, "LNPLAYLIVE_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(9463+*offset+i))...); err != nil {
			return err
		}
	}
	fmt.Printf("lnplaylive workers: %d (logs %s/worker-N.log, metrics :%d…)\n", *workers, filepath.Join(dir, "logs"), 9464+*offset)
	if err := supervised("codec-server", filepath.Join(dir, "logs", "codec-server.log"), filepath.Join(repo, "bin", "lnplaylive"),
		[]string{"codec-server", "--addr", *codecAddr, "--ui-origin", "http://localhost:" + strconv.Itoa(ports.UI)}, env...); err != nil {
		return err
	}
	fmt.Printf("Codec server: http://%s\n", *codecAddr)
	metricsAddr := "127.0.0.1:" + strconv.Itoa(9470+*offset)
	reg := prometheus.NewRegistry()
	reg.MustRegister(restarts)
	ml, err := net.Listen("tcp", metricsAddr)
	if err != nil {
		return fmt.Errorf("the stack's metrics on %s: %w", metricsAddr, err)
	}
	msrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = msrv.Serve(ml) }()
	defer msrv.Close()
	fmt.Printf("Supervising every process above: one that exits unasked is started again (restarts counted at http://%s/metrics)\n", metricsAddr)
	fmt.Printf(`
Load the plugin into Core Lightning:

  lightningd --network=regtest --plugin=%[1]s/bin/lnplaylive-plugin \
    --lnplaylive-temporal-address=%[2]s --lnplaylive-temporal-namespace=%[3]s \
    --lnplaylive-codec-keys-file=%[4]s

Any number of lightningd nodes may load it against this cluster: each follows
its own invoices. The same cluster in containers: docker-compose.yml.
Ctrl-C stops everything started here; %[5]s keeps the data.
`, repo, s.Temporal.Address(), stack.Namespace, keys, dir)

	select {
	case <-ctx.Done():
		return nil
	case err := <-sup.Failed():
		return err
	}
}

// codecKeys makes the payload encryption key once; the plugin must load the
// same file.
func codecKeys(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(abs); err == nil && st.Size() > 0 {
		return abs, nil
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(abs, []byte(codec.NewKeyLine("stack-1")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write codec key: %w", err)
	}
	slog.Info("codec key created", "file", abs)
	return abs, nil
}

func start(logPath, bin string, args []string, env ...string) (*proc.Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	return p, nil
}
