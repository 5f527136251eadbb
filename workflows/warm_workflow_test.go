package workflows

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/order"
)

func (c *capacityEnv) claimWarm(orderID string, nodes int) *WarmClaim {
	out := &WarmClaim{}
	c.env.UpdateWorkflow(UpdateClaim, fmt.Sprint("claim-", orderID, c.env.Now().UnixNano()), &testsuite.TestUpdateCallback{
		OnAccept: func() {}, OnReject: func(err error) { c.t.Errorf("claim rejected: %v", err) },
		OnComplete: func(v any, err error) {
			require.NoError(c.t, err)
			*out = v.(WarmClaim)
		},
	}, ClaimRequest{OrderID: orderID, NodeCount: nodes})
	return out
}

// warmChildren stands in for the warm playgrounds' workflows: it records
// the ones started, and every signal the pool sends them.
type warmChildren struct {
	mu      sync.Mutex
	started []WarmInput
	signals map[string][]string // warm workflow id → signal names
}

func (c *capacityEnv) mockWarm() *warmChildren {
	wc := &warmChildren{signals: map[string][]string{}}
	c.env.RegisterActivityWithOptions(func(_ context.Context, in WarmInput) error {
		wc.mu.Lock()
		defer wc.mu.Unlock()
		wc.started = append(wc.started, in)
		return nil
	}, activity.RegisterOptions{Name: ActivityStartWarm})
	c.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, name string, _ any) error {
			wc.mu.Lock()
			defer wc.mu.Unlock()
			wc.signals[workflowID] = append(wc.signals[workflowID], name)
			return nil
		})
	return wc
}

// readyAll signals the pool that every playground started so far is built.
func (c *capacityEnv) readyAll(wc *warmChildren) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	for _, in := range wc.started {
		c.env.SignalWorkflow(SignalWarmReady, ready(in))
	}
}

func ready(in WarmInput) WarmPlayground {
	return WarmPlayground{ID: in.ID, NodeCount: in.NodeCount, State: WarmReady,
		Host: infra.Host{ID: "vm-" + in.ID, Address: "203.0.113.9"}, Nodes: make([]order.Node, in.NodeCount)}
}

// K = 2 playgrounds of 8 nodes are kept warm. 20 orders claim at once:
// exactly 2 get one, each a different one; an order asking again gets its
// own; the pool refills to 2 at once, within the machine cap; a claimed
// playground's lease is freed only when it is gone.
func TestWarmPoolClaimsExclusivelyAndRefills(t *testing.T) {
	c := newCapacityEnv(t)
	wc := c.mockWarm()
	cfg := CapacityConfig{Provider: ProviderHetzner, MaxMachines: 5, Warm: WarmConfig{Targets: map[int]int{8: 2}, IdleLifetime: time.Hour}}
	var building, afterClaims, afterGone CapacityState
	claims := map[string]*WarmClaim{}
	var again *WarmClaim
	c.after(time.Second, func() { c.update(UpdateConfigure, cfg) })
	c.after(2*time.Second, func() { building = c.state() })
	c.after(3*time.Second, func() { c.readyAll(wc) })
	c.after(4*time.Second, func() {
		for i := range 20 {
			id := fmt.Sprintf("order-%02d", i)
			claims[id] = c.claimWarm(id, 8)
		}
		claims["big"] = c.claimWarm("big", 16)
	})
	c.after(5*time.Second, func() { again = c.claimWarm("order-00", 8) })
	c.after(6*time.Second, func() { afterClaims = c.state() })
	c.after(7*time.Second, func() { c.env.SignalWorkflow(SignalWarmGone, claims["order-00"].ID) })
	c.after(8*time.Second, func() { afterGone = c.state() })
	c.run(CapacityState{})

	require.Len(t, building.Warm, 2)
	require.Len(t, building.Leases, 2, "each build holds a machine")
	got := map[string]string{}
	for id, cl := range claims {
		if cl.Claimed {
			require.NotContains(t, got, cl.ID, "two orders got one playground")
			got[cl.ID] = id
			require.Len(t, cl.Nodes, 8)
			for _, n := range cl.Nodes {
				require.Empty(t, n.Rune, "no rune exists in a warm playground")
			}
		}
	}
	require.Len(t, got, 2, "exactly K claims succeed")
	require.False(t, claims["big"].Claimed, "no warm playground of 16 nodes")
	require.Equal(t, claims["order-00"].Claimed, again.Claimed)
	require.Equal(t, claims["order-00"].ID, again.ID)

	require.Len(t, afterClaims.Warm, 4, "two claimed, two refilling")
	require.Len(t, afterClaims.Leases, 4)
	require.Equal(t, 2, afterClaims.WarmStats.Claimed)
	require.Equal(t, 2, afterClaims.WarmStats.Built)
	for id := range got {
		require.Contains(t, wc.signals[WarmWorkflowID(id)], SignalWarmClaimed)
	}
	if claims["order-00"].Claimed {
		require.Len(t, afterGone.Leases, 3, "a claimed playground's lease ends with it")
	}
}

// The warm pool never takes capacity a paid order waits for: with a paid
// order queued it builds nothing, and an unclaimed playground of another
// size is retired to make room.
func TestWarmPoolYieldsToPaidOrders(t *testing.T) {
	c := newCapacityEnv(t)
	wc := c.mockWarm()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := CapacityConfig{Provider: ProviderHetzner, MaxMachines: 2, Warm: WarmConfig{Targets: map[int]int{16: 1}}}
	var queued *admitOutcome
	var st CapacityState
	c.after(time.Second, func() { c.update(UpdateConfigure, cfg) })
	c.after(2*time.Second, func() { c.readyAll(wc) })
	c.after(3*time.Second, func() { c.admit("running", 8, t0.Add(time.Hour)) })
	c.after(4*time.Second, func() { queued = c.admit("waiting", 8, t0.Add(2*time.Hour)) })
	c.after(5*time.Second, func() { st = c.state() })
	c.run(CapacityState{})

	require.False(t, queued.adm.Admitted)
	wc.mu.Lock()
	defer wc.mu.Unlock()
	require.Len(t, wc.started, 1, "nothing built while a paid order waits")
	require.Contains(t, wc.signals[WarmWorkflowID(wc.started[0].ID)], SignalWarmRetire, "the idle 16-node playground makes room")
	require.Len(t, st.Queue, 1)
}

func newWarmEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, WarmInput, *warmChildren) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.RegisterActivityWithOptions(func(context.Context, string) (bool, error) { return true, nil },
		activity.RegisterOptions{Name: ActivityOrderLive})
	env.SetStartTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	in := WarmInput{ID: "warm-1", NodeCount: 8, Pool: "q-capacity", IdleLifetime: 2 * time.Hour}
	told := &warmChildren{signals: map[string][]string{}}
	env.OnSignalExternalWorkflow(mock.Anything, "q-capacity", "", mock.Anything, mock.Anything).Return(
		func(_, _, _, name string, _ any) error {
			told.mu.Lock()
			defer told.mu.Unlock()
			told.signals["pool"] = append(told.signals["pool"], name)
			return nil
		})
	env.OnActivity(a.AcquireHost, mock.Anything, mock.MatchedBy(func(in activities.AcquireInput) bool {
		return in.Spec.OrderID == "warm-1" && in.Spec.Warm && in.Spec.ExpiresAt.IsZero()
	})).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, mock.MatchedBy(func(in activities.BootstrapInput) bool { return in.Warm && in.OrderID == "warm-1" })).
		Return(activities.BootstrapResult{Nodes: make([]order.Node, 8)}, nil).Once()
	return env, in, told
}

// Built, ready, never claimed: retired at its idle lifetime, its machine
// released, and only then the pool told it is gone.
func TestAnUnclaimedWarmPlaygroundIsRetiredWhenIdle(t *testing.T) {
	env, in, told := newWarmEnv(t)
	var releasedAt time.Time
	env.OnActivity(a.ReleaseHost, mock.Anything, activities.ReleaseInput{OrderID: "warm-1"}).
		Run(func(mock.Arguments) { releasedAt = env.Now() }).Return(nil).Once()
	env.ExecuteWorkflow(WarmPlaygroundWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{SignalWarmReady, SignalWarmGone}, told.signals["pool"])
	require.True(t, releasedAt.Sub(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) >= 2*time.Hour)
}

// Claimed, it outlives its idle lifetime: it is the claiming order's until
// the order says it released the machine, or is found gone.
func TestAClaimedWarmPlaygroundEndsWithItsOrder(t *testing.T) {
	for _, orderGone := range []bool{false, true} {
		t.Run(fmt.Sprint("order gone ", orderGone), func(t *testing.T) {
			env, in, told := newWarmEnv(t)
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalWarmClaimed, "order-1") }, time.Minute)
			checks := 0
			env.OnActivity(ActivityOrderLive, mock.Anything, "order-1").Return(func(context.Context, string) (bool, error) {
				checks++
				return !orderGone, nil
			})
			if !orderGone {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalWarmRelease, nil) }, 5*time.Hour+30*time.Minute)
			}
			var releasedAt time.Time
			env.OnActivity(a.ReleaseHost, mock.Anything, activities.ReleaseInput{OrderID: "warm-1"}).
				Run(func(mock.Arguments) { releasedAt = env.Now() }).Return(nil).Once()
			env.ExecuteWorkflow(WarmPlaygroundWorkflow, in)
			require.NoError(t, env.GetWorkflowError())
			require.Equal(t, []string{SignalWarmReady, SignalWarmGone}, told.signals["pool"])
			took := releasedAt.Sub(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
			if orderGone {
				require.Equal(t, 1, checks)
				require.Equal(t, time.Hour+time.Minute, took.Truncate(time.Minute), "released at the first check")
			} else {
				require.Equal(t, 5, checks)
				require.Equal(t, 5*time.Hour+30*time.Minute, took.Truncate(time.Minute))
			}
		})
	}
}

// An operator lowering K (or dropping a size) gets the extra machines back
// at once: the unclaimed playgrounds beyond the new K are retired; a
// claimed one is the order's and is left alone.
func TestLoweringKRetiresTheExtraPlaygrounds(t *testing.T) {
	c := newCapacityEnv(t)
	wc := c.mockWarm()
	cfg := CapacityConfig{Provider: ProviderHetzner, Warm: WarmConfig{Targets: map[int]int{8: 2}}}
	var claimed *WarmClaim
	var st CapacityState
	c.after(time.Second, func() { c.update(UpdateConfigure, cfg) })
	c.after(2*time.Second, func() { c.readyAll(wc) })
	c.after(3*time.Second, func() { claimed = c.claimWarm("order-1", 8) })
	c.after(4*time.Second, func() { c.update(UpdateConfigure, CapacityConfig{Provider: ProviderHetzner}) })
	c.after(5*time.Second, func() { st = c.state() })
	c.run(CapacityState{})

	require.True(t, claimed.Claimed)
	wc.mu.Lock()
	defer wc.mu.Unlock()
	require.Len(t, wc.started, 3, "two, then one refill after the claim")
	retired := 0
	for _, w := range st.Warm {
		switch w.State {
		case WarmRetiring:
			retired++
			require.Contains(t, wc.signals[WarmWorkflowID(w.ID)], SignalWarmRetire)
		case WarmClaimed:
			require.Equal(t, claimed.ID, w.ID)
			require.NotContains(t, wc.signals[WarmWorkflowID(w.ID)], SignalWarmRetire)
		default:
			t.Fatalf("playground %s still %s with K = 0", w.ID, w.State)
		}
	}
	require.Equal(t, 2, retired)
}
