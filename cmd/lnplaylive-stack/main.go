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
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

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
	defer func() {
		fmt.Println("\nstopping...")
		for i := len(children) - 1; i >= 0; i-- {
			children[i].Stop(syscall.SIGTERM, 20*time.Second)
		}
		s.Down()
	}()
	upCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := s.Up(upCtx); err != nil {
		return err
	}

	keys, err := codecKeys(filepath.Join(*data, "codec.keys"))
	if err != nil {
		return err
	}
	env := []string{"TEMPORAL_ADDRESS=" + s.Temporal.Address(), "TEMPORAL_NAMESPACE=" + stack.Namespace,
		"LNPLAYLIVE_CODEC_KEYS_FILE=" + keys}
	for i := 1; i <= *workers; i++ {
		p, err := start(filepath.Join(dir, "logs", fmt.Sprintf("worker-%d.log", i)), filepath.Join(repo, "bin", "lnplaylive-worker"), nil,
			append(env, "LNPLAYLIVE_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(9463+*offset+i))...)
		if err != nil {
			return err
		}
		children = append(children, p)
	}
	fmt.Printf("lnplaylive workers: %d (logs %s/worker-N.log, metrics :%d…)\n", *workers, filepath.Join(dir, "logs"), 9464+*offset)
	p, err := start(filepath.Join(dir, "logs", "codec-server.log"), filepath.Join(repo, "bin", "lnplaylive"),
		[]string{"codec-server", "--addr", *codecAddr, "--ui-origin", "http://localhost:" + strconv.Itoa(ports.UI)}, env...)
	if err != nil {
		return err
	}
	children = append(children, p)
	fmt.Printf("Codec server: http://%s\n", *codecAddr)
	fmt.Printf(`
Load the plugin into Core Lightning:

  lightningd --network=regtest --plugin=%[1]s/bin/lnplaylive-plugin \
    --lnplaylive-temporal-address=%[2]s --lnplaylive-temporal-namespace=%[3]s \
    --lnplaylive-codec-keys-file=%[4]s

Any number of lightningd nodes may load it against this cluster: each follows
its own invoices. The same cluster in containers: docker-compose.yml.
Ctrl-C stops everything started here; %[5]s keeps the data.
`, repo, s.Temporal.Address(), stack.Namespace, keys, dir)

	exited := make(chan string, len(children))
	for i, c := range children {
		go func() { <-c.Exited(); exited <- strconv.Itoa(i) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case <-exited:
		return fmt.Errorf("a child process exited; logs in %s", filepath.Join(dir, "logs"))
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
