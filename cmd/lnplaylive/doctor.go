package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/wsproxy"
	"github.com/lnplaylive/lnplaylive/worker"
)

func doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check the outside world the worker depends on, one line per check",
		Long: `doctor reads the worker's settings (HCLOUD_TOKEN or HCLOUD_TOKEN_FILE, HCLOUD_ENDPOINT,
LNPLAYLIVE_HETZNER_*, LNPLAYLIVE_HOSTS_FILE, LNPLAYLIVE_CLAMS_PROXY, …) and checks what the
worker checks at start: the Hetzner token, the image, the SSH key, a server type Hetzner sells
today for every size, and the attendees' websocket proxy. It creates nothing. It exits 1 when
a check fails; each failure says what to do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return doctor(cmd, cmd.OutOrStdout())
		},
	}
}

func doctor(cmd *cobra.Command, out io.Writer) error {
	// The provider's own log lines would interleave with the report.
	quiet := slog.New(slog.DiscardHandler)
	var checks []infra.Check
	p, err := worker.ProviderFromEnv(quiet, nil)
	switch {
	case err != nil:
		checks = append(checks, infra.Check{Name: "provider settings", Err: err, Fix: "correct the setting named (docs/CONFIGURATION.md)"})
	case p == nil:
		checks = append(checks, infra.Check{Name: "provider", Err: errors.New("none configured"),
			Fix: "set HCLOUD_TOKEN (Hetzner VMs) or LNPLAYLIVE_HOSTS_FILE (your own hosts), or install Docker with Compose v2"})
	default:
		if c, ok := p.(infra.Checker); ok {
			checks = append(checks, c.Check(cmd.Context())...)
		} else {
			checks = append(checks, infra.Check{Name: "provider", Detail: fmt.Sprintf("%T configured (no outside service to check)", p)})
		}
	}
	checks = append(checks, wsproxy.Check(cmd.Context(), worker.ClamsProxy()))
	failed := 0
	for _, c := range checks {
		fmt.Fprintln(out, c.Line())
		if c.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(checks))
	}
	return nil
}
