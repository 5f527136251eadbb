// Package activities is where an order touches the outside world: it asks a
// Provider for a machine, bootstraps the playground on it over SSH and gives
// the machine back. Every activity is idempotent per order, because Temporal
// retries it after any failure, including a worker that died mid-call.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/order"
)

// Bootstrapper turns a fresh host into the customer's playground: nodes
// funded, channels open and proven to route, one rune and link per node.
type Bootstrapper interface {
	Bootstrap(ctx context.Context, req playground.Request, host infra.Host, progress func(step string, nodesReady int)) (playground.Playground, error)
	// MintRunes finishes a warm playground (built with Request.Warm) for
	// the order that claimed it: runes and links.
	MintRunes(ctx context.Context, req playground.Request, host infra.Host, nodes []order.Node) (playground.Playground, error)
}

// ProgressSink hands deployment progress to the order's workflow, where
// the customer's status query finds it.
type ProgressSink interface {
	Progress(ctx context.Context, orderID, step string, nodesReady int) error
}

// Activities holds the dependencies of the order activities. Workflows call
// its methods through a nil *Activities; the worker registers a real one.
type Activities struct {
	Provider     infra.Provider  // nil: no capacity configured
	Bootstrapper Bootstrapper    // nil: bootstrap not configured
	Orders       OrderLookup     // for the sweeper
	Admissions   AdmissionKeeper // for the sweeper; nil: none swept
	Progress     ProgressSink    // nil: progress is only heartbeated
}

// ErrNotConfigured is retried, not failed: an operator who configures a
// provider and restarts the worker within the deployment deadline still
// gets the order deployed.
var ErrNotConfigured = errors.New("not configured on this worker")

// AcquireInput asks for a place for an order.
type AcquireInput struct {
	Spec infra.Spec `json:"spec"`
}

// AcquireHost gets the order its machine (a new VM, or a slot in a pool).
func (a *Activities) AcquireHost(ctx context.Context, in AcquireInput) (infra.Host, error) {
	if a.Provider == nil {
		return infra.Host{}, fmt.Errorf("acquire host for order %s: provider %w", in.Spec.OrderID, ErrNotConfigured)
	}
	host, err := a.Provider.Acquire(ctx, in.Spec, heartbeater(ctx))
	if err != nil {
		return infra.Host{}, temporalError(fmt.Errorf("acquire host for order %s: %w", in.Spec.OrderID, err))
	}
	return host, nil
}

// BootstrapInput asks for the playground on a host.
type BootstrapInput struct {
	OrderID   string     `json:"order_id"`
	NodeCount int        `json:"node_count"`
	Host      infra.Host `json:"host"`
	// Topology is empty in orders from before topologies: the default.
	Topology order.Topology `json:"topology,omitempty"`
	// Warm builds a warm-pool playground (OrderID is its id): no runes,
	// no links, no progress reported to an order.
	Warm bool `json:"warm,omitempty"`
}

// BootstrapResult is what the customer receives, in node order: the nodes
// with their runes and links, the seed's connection strings, and where the
// links point. An order stores the nodes without their links and Links
// once (the "nodes-once" version; the links are made again when a status
// is answered, order.Deployment.Linked). The links stay in the result so
// that a workflow worker older than that version, running beside a newer
// activity worker during an upgrade, still hands out working links.
type BootstrapResult struct {
	Nodes             []order.Node `json:"nodes,omitempty"`
	Links             *order.Links `json:"links,omitempty"`
	ConnectionStrings []string     `json:"connection_strings,omitempty"`
}

// bootstrapResult is a built playground as the workflow receives it.
func bootstrapResult(pg playground.Playground) BootstrapResult {
	return BootstrapResult{Nodes: pg.Nodes, Links: &pg.Links, ConnectionStrings: pg.ConnectionStrings}
}

// Bootstrap installs and starts the playground and collects its connection strings.
func (a *Activities) Bootstrap(ctx context.Context, in BootstrapInput) (BootstrapResult, error) {
	if a.Bootstrapper == nil {
		return BootstrapResult{}, fmt.Errorf("bootstrap order %s: bootstrapper %w", in.OrderID, ErrNotConfigured)
	}
	var last string
	progress := func(step string, nodesReady int) {
		activity.RecordHeartbeat(ctx, step, nodesReady)
		key := fmt.Sprintf("%s/%d", step, nodesReady)
		if a.Progress == nil || in.Warm || key == last {
			return
		}
		last = key
		// Progress is a courtesy to the customer: losing one is harmless.
		if err := a.Progress.Progress(ctx, in.OrderID, step, nodesReady); err != nil {
			activity.GetLogger(ctx).Warn("report progress", "Error", err)
		}
	}
	// The script may be quiet for a while (image pulls): heartbeat on a
	// ticker too, so a short heartbeat timeout still means "worker gone".
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	pg, err := a.Bootstrapper.Bootstrap(ctx, playground.Request{OrderID: in.OrderID, NodeCount: in.NodeCount, Topology: in.Topology, Warm: in.Warm}, in.Host, progress)
	if err != nil {
		var named *playground.ScriptError
		if errors.As(err, &named) {
			// The script named the cause: that is the customer's reason
			// if the retries run out, retried like any bootstrap failure.
			return BootstrapResult{}, temporal.NewApplicationError(named.Reason, "BootstrapFailed")
		}
		return BootstrapResult{}, temporalError(fmt.Errorf("bootstrap order %s: %w", in.OrderID, err))
	}
	if len(pg.Nodes) != in.NodeCount {
		return BootstrapResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("bootstrap order %s: got %d nodes for %d", in.OrderID, len(pg.Nodes), in.NodeCount),
			"BootstrapIncomplete", nil)
	}
	return bootstrapResult(pg), nil
}

// MintInput finishes the warm playground an order claimed.
type MintInput struct {
	OrderID   string       `json:"order_id"` // the claiming order, for errors
	WarmID    string       `json:"warm_id"`
	NodeCount int          `json:"node_count"`
	Host      infra.Host   `json:"host"`
	Nodes     []order.Node `json:"nodes"` // as built: ids and ports, no runes
}

// MintRunes mints the claiming order's runes on a warm playground and
// makes its links. Idempotent: a retry finds the runes already minted.
func (a *Activities) MintRunes(ctx context.Context, in MintInput) (BootstrapResult, error) {
	if a.Bootstrapper == nil {
		return BootstrapResult{}, fmt.Errorf("mint runes for order %s: bootstrapper %w", in.OrderID, ErrNotConfigured)
	}
	pg, err := a.Bootstrapper.MintRunes(ctx, playground.Request{OrderID: in.WarmID, NodeCount: in.NodeCount}, in.Host, in.Nodes)
	if err != nil {
		return BootstrapResult{}, temporalError(fmt.Errorf("mint runes for order %s on warm playground %s: %w", in.OrderID, in.WarmID, err))
	}
	return bootstrapResult(pg), nil
}

// ReleaseInput gives an order's machine back.
type ReleaseInput struct {
	OrderID string `json:"order_id"`
}

// ReleaseHost deletes the order's machine. Releasing what is already gone
// succeeds, so the workflow can call it after any partial failure.
func (a *Activities) ReleaseHost(ctx context.Context, in ReleaseInput) error {
	if a.Provider == nil {
		return fmt.Errorf("release host of order %s: provider %w", in.OrderID, ErrNotConfigured)
	}
	if err := a.Provider.Release(ctx, in.OrderID, heartbeater(ctx)); err != nil {
		return temporalError(fmt.Errorf("release host of order %s: %w", in.OrderID, err))
	}
	return nil
}

// temporalError tells Temporal's retry policy what infra found: a permanent
// failure is not retried (the order fails with its reason), a rate limit is
// retried no sooner than the API asked.
func temporalError(err error) error {
	var perm *infra.PermanentError
	if errors.As(err, &perm) {
		return temporal.NewNonRetryableApplicationError(perm.Reason, "Permanent", nil)
	}
	var ra *infra.RetryAfterError
	if errors.As(err, &ra) {
		return temporal.NewApplicationErrorWithOptions(err.Error(), "RateLimited",
			temporal.ApplicationErrorOptions{NextRetryDelay: ra.Delay})
	}
	return err
}

func heartbeater(ctx context.Context) func(string) {
	return func(detail string) { activity.RecordHeartbeat(ctx, detail) }
}
