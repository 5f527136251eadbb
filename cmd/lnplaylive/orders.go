package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/internal/temporalconn"
	"github.com/lnplaylive/lnplaylive/ops"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// connect dials Temporal as the `temporal` CLI would, with the codec.
func connect(ctx context.Context) (ops.Ops, func(), error) {
	cfg := temporalconn.FromEnv()
	opts, err := cfg.Options(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return ops.Ops{}, nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return ops.Ops{}, nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.Address, err)
	}
	tq := os.Getenv("LNPLAYLIVE_TASK_QUEUE")
	if tq == "" {
		tq = workflows.DefaultTaskQueue
	}
	// Keys that cannot read the workers' payloads would make every command
	// fail obscurely: say so first.
	cdc, err := cfg.Codec()
	if err != nil {
		c.Close()
		return ops.Ops{}, nil, err
	}
	if err := (capacity.Client{Temporal: c, TaskQueue: tq}).CheckCodec(ctx, cdc); err != nil && !errors.Is(err, capacity.ErrNoWorkerYet) {
		c.Close()
		return ops.Ops{}, nil, err
	}
	return ops.Ops{Client: c, TaskQueue: tq, DataConverter: opts.DataConverter}, c.Close, nil
}

func withOps(f func(ctx context.Context, o ops.Ops, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
		defer cancel()
		o, closeFn, err := connect(ctx)
		if err != nil {
			return err
		}
		defer closeFn()
		return f(ctx, o, args)
	}
}

// printTable prints rows as a table under header (tab-separated columns,
// one line per row), or as a JSON array ([] when there are none).
func printTable[T any](w io.Writer, asJSON bool, rows []T, header string, line func(T) string) error {
	if asJSON {
		if rows == nil {
			rows = []T{}
		}
		return printJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, line(r))
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ordersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "orders", Short: "List, inspect and act on orders"}
	var asJSON bool
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON for scripts")

	var status string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List orders (newest first)", Args: cobra.NoArgs,
		RunE: withOps(func(ctx context.Context, o ops.Ops, _ []string) error {
			rows, err := o.List(ctx, status, limit)
			if err != nil {
				return err
			}
			return printTable(os.Stdout, asJSON, rows, "ORDER\tSTATUS\tNODES\tHOURS\tPAID AT\tEXPIRES AT\tSOURCE", func(r ops.Row) string {
				src := r.Source
				if src == "" {
					src = "invoice"
				}
				return fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s", r.ID, r.Status, r.NodeCount, r.Hours, timeOrDash(r.PaidAt), timeOrDash(r.ExpiresAt), src)
			})
		}),
	}
	list.Flags().StringVar(&status, "status", "", "only orders with this status (unpaid, invoice_expired, starting_deployment, provisioned, failed, expired)")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many orders (0: all)")

	show := &cobra.Command{
		Use: "show ID", Short: "Show an order's status, connection strings included", Args: cobra.ExactArgs(1),
		RunE: withOps(func(ctx context.Context, o ops.Ops, args []string) error {
			st, err := o.Show(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				oid, _ := order.ParseID(args[0])
				return printJSON(os.Stdout, shownOrder{OrderID: oid, State: st})
			}
			fmt.Printf("invoice:  %s\n", st.InvoiceStatus)
			if st.Issued != nil {
				fmt.Printf("issued:   by %s at %s: %s\n", st.Issued.By, st.Issued.At.UTC().Format(time.RFC3339), st.Issued.Reason)
			}
			if d := st.Deployment; d != nil {
				fmt.Printf("status:   %s\nexpires:  %s\n", d.Status, d.VMExpirationDate)
				if d.Progress != nil {
					fmt.Printf("progress: %s\n", d.Progress.Describe())
				}
				if d.Error != "" {
					fmt.Printf("error:    %s\n", d.Error)
				}
				for _, n := range d.Nodes {
					fmt.Printf("node %d:   %s  %s@%s:%d\n          %s\n", n.Index, n.Alias, n.ID, n.Host, n.P2PPort, n.ClamsURL)
				}
				if len(d.Nodes) == 0 { // orders from before nodes[] existed
					for i, c := range d.ConnectionStrings {
						fmt.Printf("node %d:   %s\n", i+1, c)
					}
				}
			}
			return nil
		}),
	}

	var hours int
	var reason string
	extend := &cobra.Command{
		Use: "extend ID", Short: "Add hours to a paid order (moves its expiry timer)", Args: cobra.ExactArgs(1),
		RunE: withOps(func(ctx context.Context, o ops.Ops, args []string) error {
			if err := o.Extend(ctx, args[0], hours, reason); err != nil {
				return err
			}
			fmt.Printf("order %s extended by %d hours\n", args[0], hours)
			return nil
		}),
	}
	extend.Flags().IntVar(&hours, "hours", 0, "hours to add")
	extend.Flags().StringVar(&reason, "reason", "", "why (kept in the workflow's log)")
	_ = extend.MarkFlagRequired("hours")

	var yes bool
	teardown := &cobra.Command{
		Use: "teardown ID", Short: "Delete a paid order's VM now and end the order", Args: cobra.ExactArgs(1),
		RunE: withOps(func(ctx context.Context, o ops.Ops, args []string) error {
			if !yes && !confirm(fmt.Sprintf("Delete the playground of order %s now? Type yes: ", args[0])) {
				return fmt.Errorf("not confirmed")
			}
			if err := o.Teardown(ctx, args[0]); err != nil {
				return err
			}
			fmt.Printf("order %s: teardown requested\n", args[0])
			return nil
		}),
	}
	teardown.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")

	retry := &cobra.Command{
		Use: "retry ID", Short: "Run a failed deployment again (same payment, same paid time)", Args: cobra.ExactArgs(1),
		RunE: withOps(func(ctx context.Context, o ops.Ops, args []string) error {
			if err := o.Retry(ctx, args[0]); err != nil {
				return err
			}
			fmt.Printf("order %s: deployment restarted\n", args[0])
			return nil
		}),
	}
	var nodes int
	var by, topology string
	create := &cobra.Command{
		Use: "create", Short: "Place an order without an invoice (workshops, sponsors, support)", Args: cobra.NoArgs,
		RunE: withOps(func(ctx context.Context, o ops.Ops, _ []string) error {
			id, err := o.Create(ctx, ops.CreateRequest{NodeCount: nodes, Hours: hours, Topology: order.Topology(topology), Reason: reason, By: by})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(os.Stdout, map[string]string{"order_id": string(id)})
			}
			fmt.Printf("order %s issued: %d nodes for %d hours; watch it with `lnplaylive orders show %s`\n", id, nodes, hours, id)
			return nil
		}),
	}
	create.Flags().IntVar(&nodes, "nodes", 0, "Core Lightning nodes in the playground")
	create.Flags().IntVar(&hours, "hours", 0, "hours the playground lives")
	create.Flags().StringVar(&reason, "reason", "", "why this order is free (required; kept in its status)")
	create.Flags().StringVar(&by, "by", os.Getenv("USER"), "who issues it")
	create.Flags().StringVar(&topology, "topology", "", "channels: mesh (the default), prism or none")
	_ = create.MarkFlagRequired("nodes")
	_ = create.MarkFlagRequired("hours")
	_ = create.MarkFlagRequired("reason")
	var every time.Duration
	watchCmd := &cobra.Command{
		Use: "watch ID", Short: "Follow a deployment; when it is provisioned, print its nodes and their Clams links as QR codes",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Hour)
			defer cancel()
			o, closeFn, err := connect(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			return watch(ctx, o, args[0], every, os.Stdout)
		},
	}
	watchCmd.Flags().DurationVar(&every, "every", time.Second, "how often to ask")
	var sheetFile string
	sheetCmd := &cobra.Command{
		Use: "sheet ID -o FILE", Short: "Write a printable hand-out (HTML, 8 nodes per A4 page, a QR code each)", Args: cobra.ExactArgs(1),
		RunE: withOps(func(ctx context.Context, o ops.Ops, args []string) error {
			if err := writeSheet(ctx, o, args[0], sheetFile); err != nil {
				return err
			}
			fmt.Printf("wrote %s: open it in a browser and print it\n", sheetFile)
			return nil
		}),
	}
	sheetCmd.Flags().StringVarP(&sheetFile, "output", "o", "sheet.html", "the HTML file to write")
	unserved := &cobra.Command{
		Use: "unserved", Short: "List payments that bought nothing (extensions paid after their order ended or past the cap): refund them", Args: cobra.NoArgs,
		RunE: withOps(func(ctx context.Context, o ops.Ops, _ []string) error {
			recs, err := o.Unserved(ctx, limit)
			if err != nil {
				return err
			}
			return printTable(os.Stdout, asJSON, recs, "LABEL\tORDER\tAMOUNT MSAT\tPAID AT\tREASON", func(r workflows.UnservedRecord) string {
				return fmt.Sprintf("%s\t%s\t%d\t%s\t%s", r.Label, r.OrderID, r.AmountMsat, timeOrDash(&r.PaidAt), r.Reason)
			})
		}),
	}
	unserved.Flags().IntVar(&limit, "limit", 100, "at most this many payments (0: all)")
	cmd.AddCommand(list, show, extend, teardown, retry, create, watchCmd, sheetCmd, unserved)
	return cmd
}

func sweepCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sweep", Short: "The sweeper that deletes machines no live order owns"}
	cmd.AddCommand(&cobra.Command{
		Use: "now", Short: "Run the sweeper now", Args: cobra.NoArgs,
		RunE: withOps(func(ctx context.Context, o ops.Ops, _ []string) error {
			if err := o.SweepNow(ctx); err != nil {
				return err
			}
			fmt.Println("sweep triggered")
			return nil
		}),
	})
	return cmd
}

func confirm(prompt string) bool {
	fmt.Fprint(os.Stderr, prompt)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
