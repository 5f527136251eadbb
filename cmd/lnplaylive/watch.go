package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/lnplaylive/lnplaylive/handout"
	"github.com/lnplaylive/lnplaylive/ops"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// shownOrder is `orders show --json`: the order's id and its state.
type shownOrder struct {
	OrderID order.ID `json:"order_id"`
	workflows.State
}

// progressView shows deployment steps: a bar on a terminal, one line per
// change otherwise (a log, a pipe, CI).
type progressView interface {
	show(p order.Progress)
	finish()
}

func newProgressView(w io.Writer, tty bool) progressView {
	if !tty {
		return &lineView{w: w}
	}
	bar := progressbar.NewOptions(len(order.DeploymentSteps),
		progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(30), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false), progressbar.OptionClearOnFinish(), progressbar.OptionSetRenderBlankState(true))
	return &barView{bar: bar}
}

type barView struct{ bar *progressbar.ProgressBar }

func (b *barView) show(p order.Progress) {
	if i := slices.Index(order.DeploymentSteps, p.Step); i >= 0 {
		_ = b.bar.Set(i + 1)
	}
	b.bar.Describe(p.Describe())
}

func (b *barView) finish() { _ = b.bar.Finish() }

type lineView struct {
	w    io.Writer
	last order.Progress
}

func (l *lineView) show(p order.Progress) {
	if p == l.last {
		return
	}
	l.last = p
	step := slices.Index(order.DeploymentSteps, p.Step) + 1
	fmt.Fprintf(l.w, "%s  step %2d/%d  %s\n", time.Now().Format("15:04:05"), step, len(order.DeploymentSteps), p.Describe())
}

func (l *lineView) finish() {}

// watch follows an order until it is provisioned (then hands it out),
// failed or over.
func watch(ctx context.Context, o ops.Ops, id string, every time.Duration, w io.Writer) error {
	oid, err := order.ParseID(id)
	if err != nil {
		return fmt.Errorf("%q: not an order id", id)
	}
	view := newProgressView(w, isTerminal(w))
	for {
		st, err := o.Show(ctx, id)
		if err != nil {
			return err
		}
		d := st.Deployment
		switch {
		case d == nil:
			view.show(order.Progress{Step: "awaiting_payment"})
		case d.Status == order.Provisioned:
			view.finish()
			ho, err := handout.FromDeployment(oid, d)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "order %s is provisioned: %d nodes, %s channels\n\n", oid, len(d.Nodes), d.Topology)
			return handout.Terminal(w, ho)
		case d.Status == order.Failed:
			view.finish()
			return fmt.Errorf("order %s failed: %s", oid, d.Error)
		case d.Status == order.Expired:
			view.finish()
			return fmt.Errorf("order %s is over (expired %s)", oid, d.VMExpirationDate)
		case d.Progress != nil:
			view.show(*d.Progress)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped watching order %s: %w", oid, ctx.Err())
		case <-time.After(every):
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeSheet writes the printable hand-out of a provisioned order.
func writeSheet(ctx context.Context, o ops.Ops, id, file string) error {
	oid, err := order.ParseID(id)
	if err != nil {
		return fmt.Errorf("%q: not an order id", id)
	}
	st, err := o.Show(ctx, id)
	if err != nil {
		return err
	}
	ho, err := handout.FromDeployment(oid, st.Deployment)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := handout.Sheet(f, ho); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}
