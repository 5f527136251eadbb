package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// devCmd is what `make run` gives a newcomer to buy a playground on one
// machine: a second regtest node with a channel to the payment node, and
// a command to pay from it.
func devCmd() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Development helpers for `make run`"}
	var rpc string
	pay := &cobra.Command{
		Use:   "pay <invoice or offer>",
		Short: "Pay an invoice (lnbcrt…) or a BOLT12 offer (lno…) from make run's paying node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			c, err := cln.Dial(ctx, rpc, "lnplaylive-dev")
			if err != nil {
				return fmt.Errorf("%w (is `make run` running? it starts the paying node when a lightningd and bitcoind are found)", err)
			}
			defer c.Close()
			what := strings.TrimPrefix(strings.TrimSpace(args[0]), "lightning:")
			what = strings.ToLower(what)
			if strings.HasPrefix(what, "lno") {
				var fi struct {
					Invoice string `json:"invoice"`
				}
				if err := c.Call(ctx, "fetchinvoice", map[string]any{"offer": what}, &fi); err != nil {
					return fmt.Errorf("fetch an invoice from the offer: %w", err)
				}
				what = fi.Invoice
			}
			var res struct {
				Status     string `json:"status"`
				AmountMsat uint64 `json:"amount_sent_msat"`
			}
			if err := c.Call(ctx, "pay", map[string]any{"bolt11": what}, &res); err != nil {
				return fmt.Errorf("pay: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "paid: %s, %d msat sent\n", res.Status, res.AmountMsat)
			return nil
		},
	}
	dataDir := os.Getenv("LNPLAYLIVE_DATA_DIR")
	if dataDir == "" {
		dataDir = ".data"
	}
	pay.Flags().StringVar(&rpc, "rpc", filepath.Join(dataDir, "dev", "payer", "regtest", "lightning-rpc"), "the paying node's lightning-rpc")
	dev.AddCommand(pay)
	return dev
}
