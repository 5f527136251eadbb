// Command lnplaylive-web is the storefront: the web page where a workshop
// host buys a playground, pays, watches it come up and hands it out. It
// talks to the payment node (lightningd with the lnplaylive plugin) over
// its JSON-RPC socket. Configuration comes from the environment; see
// docs/API.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lnplaylive/lnplaylive/internal/debugserver"
	"github.com/lnplaylive/lnplaylive/storefront"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("storefront stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	set, err := storefront.SettingsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if err := set.LoadLinkKey(); err != nil {
		return err
	}
	if addr := os.Getenv("LNPLAYLIVE_DEBUG_ADDR"); addr != "" {
		stopDebug, err := debugserver.Start(addr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	set.Log = log
	node := &storefront.Socket{Path: set.LightningRPC}
	defer node.Close()
	srv, err := storefront.New(set.Config, node)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", set.Addr)
	if err != nil {
		return err
	}
	if set.MetricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(srv.Collectors()...)
		ml, err := net.Listen("tcp", set.MetricsAddr)
		if err != nil {
			return fmt.Errorf("LNPLAYLIVE_WEB_METRICS_ADDR: %w", err)
		}
		ms := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ms.Serve(ml) }()
		defer ms.Close()
	}
	// Event streams last as long as their pages: a shutdown cancels their
	// requests rather than waiting for them.
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return base }}
	log.Info("storefront listening", "addr", ln.Addr().String(), "public_url", set.PublicURL, "lightning_rpc", set.LightningRPC)
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if set.TLSAddr != "" {
		cfg, err := set.ACME.TLSConfig()
		if err != nil {
			return err
		}
		tl, err := tls.Listen("tcp", set.TLSAddr, cfg)
		if err != nil {
			return fmt.Errorf("LNPLAYLIVE_WEB_TLS_ADDR: %w", err)
		}
		log.Info("storefront and attendees' proxy over TLS", "addr", tl.Addr().String(), "hosts", set.ACME.Hosts, "acme_directory", set.ACME.Directory)
		go func() { errc <- hs.Serve(tl) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancelAll()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
