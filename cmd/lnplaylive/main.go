// Command lnplaylive is the operators' tool. It reads the same TEMPORAL_*
// variables as the `temporal` CLI and LNPLAYLIVE_CODEC_KEYS_FILE.
package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lnplaylive/lnplaylive/codec"
)

func main() {
	root := &cobra.Command{Use: "lnplaylive", Short: "Operate lnplaylive", SilenceUsage: true}
	root.AddCommand(ordersCmd(), sweepCmd(), codecServerCmd(), newKeyCmd(), devCmd(), doctorCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

func keysFile(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("LNPLAYLIVE_CODEC_KEYS_FILE")
}

func codecServerCmd() *cobra.Command {
	var addr, origin, keys string
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve /encode and /decode for the Temporal Web UI (its codec endpoint setting)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := codec.Load(keysFile(keys))
			if err != nil {
				return err
			}
			slog.Info("codec server listening", "addr", addr, "ui_origin", origin)
			srv := &http.Server{Addr: addr, Handler: c.Handler(origin), ReadHeaderTimeout: 10 * time.Second}
			return srv.ListenAndServe()
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8081", "listen address")
	cmd.Flags().StringVar(&origin, "ui-origin", "http://localhost:8233", "the Web UI's origin (CORS)")
	cmd.Flags().StringVar(&keys, "keys-file", "", "codec keys file (default $LNPLAYLIVE_CODEC_KEYS_FILE)")
	return cmd
}

func newKeyCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "codec-new-key",
		Short: "Print a new codec key line; put it first in the keys file to rotate",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), codec.NewKeyLine(id))
			return err
		},
	}
	cmd.Flags().StringVar(&id, "id", time.Now().UTC().Format("20060102"), "key id")
	return cmd
}
