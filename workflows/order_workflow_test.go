package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/order"
)

var a *activities.Activities

const testOrder = order.ID("8d33e17d-0385-46c0-82f2-16c989f7b112")

func newEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, OrderInput) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	registerAdmission(env)
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	in := OrderInput{
		OrderID: testOrder, NodeCount: 8, Hours: 48, AmountMsat: 76_800_000,
		InvoiceExpiresAt: start.Add(300 * time.Second),
	}
	return env, in
}

// registerAdmission registers the admission activities, admitting every
// order at once; a test that queues an order mocks ActivityAdmit, one that
// claims a warm playground ActivityClaimWarm.
func registerAdmission(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivityWithOptions(func(context.Context, AdmitRequest) (Admission, error) {
		return Admission{Admitted: true}, nil
	}, activity.RegisterOptions{Name: ActivityAdmit})
	env.RegisterActivityWithOptions(func(context.Context, string) error { return nil },
		activity.RegisterOptions{Name: ActivityReleaseAdmission})
	// No warm playground unless a test offers one.
	env.RegisterActivityWithOptions(func(context.Context, ClaimRequest) (WarmClaim, error) { return WarmClaim{}, nil },
		activity.RegisterOptions{Name: ActivityClaimWarm})
}

func paidAt(env *testsuite.TestWorkflowEnvironment) Payment {
	return Payment{InvoiceStatus: "paid", PayIndex: 7, PaidAt: env.Now().Truncate(time.Second), AmountReceivedMsat: 76_800_000}
}

// execute runs the order to its end and returns its result.
func execute(t *testing.T, env *testsuite.TestWorkflowEnvironment, in OrderInput) Result {
	t.Helper()
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	var r Result
	require.NoError(t, env.GetWorkflowResult(&r))
	return r
}

func query(t *testing.T, env *testsuite.TestWorkflowEnvironment) State {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var s State
	require.NoError(t, v.Get(&s))
	return s
}

// expectOneDeployment expects exactly one successful acquire, bootstrap
// and release.
func expectOneDeployment(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{Nodes: testNodes(8), Links: &testLinks}, nil).Once()
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Return(nil).Once()
}

var testLinks = order.Links{ClamsApp: "https://app.example", ClamsProxy: "wss://proxy.example/ws", ClamsBase: "http://clams.example:80"}

// testNodes are n nodes as the bootstrap returns them: ids, ports and
// runes, no links.
func testNodes(n int) []order.Node {
	nodes := make([]order.Node, n)
	for i := range nodes {
		nodes[i] = order.Node{Index: i + 1, Alias: fmt.Sprintf("n%d", i+1), ID: fmt.Sprintf("02%064x", i+1), Host: "203.0.113.7",
			WSPort: 6001 + i, P2PPort: 7001 + i, Rune: fmt.Sprintf("rune-%d", i+1)}
	}
	return nodes
}

var testHost = infra.Host{ID: "42", Address: "203.0.113.7", SSHPort: 22, SSHUser: "root", HostKey: "ssh-ed25519 AAAA", PortBase: 6000}

func TestPaidOrderIsDeployedServedAndReleased(t *testing.T) {
	env, in := newEnv(t)
	nodes := testNodes(8)
	served := (&order.Deployment{Nodes: nodes}).Linked(&testLinks)
	var pay Payment
	var expiresAt time.Time
	env.RegisterDelayedCallback(func() {
		s := query(t, env)
		require.Equal(t, order.InvoiceUnpaid, s.InvoiceStatus)
		require.Nil(t, s.Deployment)
		pay = paidAt(env)
		expiresAt = pay.PaidAt.Add(48 * time.Hour)
		env.SignalWorkflow(SignalPaid, pay)
	}, time.Minute)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.MatchedBy(func(in activities.AcquireInput) bool {
		return in.Spec.OrderID == testOrder.String() && in.Spec.NodeCount == 8 && in.Spec.ExpiresAt.Equal(expiresAt)
	})).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, activities.BootstrapInput{OrderID: testOrder.String(), NodeCount: 8, Host: testHost}).
		Return(activities.BootstrapResult{Nodes: nodes, Links: &testLinks}, nil).Once()
	var releasedAt time.Time
	env.OnActivity(a.ReleaseHost, mock.Anything, activities.ReleaseInput{OrderID: testOrder.String()}).
		Run(func(mock.Arguments) { releasedAt = env.Now() }).Return(nil).Once()
	// Mid-way through the paid time the order is provisioned.
	env.RegisterDelayedCallback(func() {
		s := query(t, env)
		require.Equal(t, order.InvoicePaid, s.InvoiceStatus)
		require.Equal(t, order.Provisioned, s.Deployment.Status)
		// Served with the links made from the stored nodes.
		require.Equal(t, served.ConnectionStrings, s.Deployment.ConnectionStrings)
		require.Equal(t, served.Nodes, s.Deployment.Nodes)
		require.Len(t, s.Deployment.ConnectionStrings, 8)
		require.Contains(t, s.Deployment.Nodes[0].ClamsURL, "rune-1")
		require.Nil(t, s.Links, "the query serves links, not their bases")
		require.Equal(t, order.TopologyMesh, s.Deployment.Topology)
		require.Equal(t, order.FormatTime(expiresAt), s.Deployment.VMExpirationDate)
		require.Equal(t, order.PluginVersion, s.Deployment.PluginVersion)
	}, 24*time.Hour)

	env.ExecuteWorkflow(OrderWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.True(t, res.Paid)
	require.Equal(t, order.Expired, res.Status)
	require.Equal(t, in, res.Order)
	require.True(t, pay.PaidAt.Equal(res.Payment.PaidAt))
	require.Equal(t, pay.PayIndex, res.Payment.PayIndex)
	require.False(t, releasedAt.Before(expiresAt), "released at %s, before expiry %s", releasedAt, expiresAt)
	require.Less(t, releasedAt.Sub(expiresAt), time.Minute)
	s := query(t, env)
	require.Equal(t, order.Expired, s.Deployment.Status)
	require.Empty(t, s.Deployment.ConnectionStrings, "runes stay out of an expired order's status")
	require.Empty(t, s.Deployment.Nodes, "runes stay out of an expired order's status")
	env.AssertExpectations(t)
}

func TestTheChosenTopologyReachesTheBootstrap(t *testing.T) {
	env, in := newEnv(t)
	in.Topology = order.TopologyPrism
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, activities.BootstrapInput{OrderID: testOrder.String(), NodeCount: 8, Host: testHost, Topology: order.TopologyPrism}).
		Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil).Once()
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Return(nil).Once()
	env.RegisterDelayedCallback(func() {
		require.Equal(t, order.TopologyPrism, query(t, env).Deployment.Topology)
	}, time.Hour)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	env.AssertExpectations(t)
}

func TestUnpaidInvoiceExpires(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, order.InvoiceUnpaid, query(t, env).InvoiceStatus)
	}, 299*time.Second)
	res := execute(t, env, in)
	require.False(t, res.Paid)
	s := query(t, env)
	require.Equal(t, order.InvoiceExpired, s.InvoiceStatus)
	require.Nil(t, s.Deployment)
	env.AssertNotCalled(t, "AcquireHost", mock.Anything, mock.Anything)
}

func TestLongestOrderSleepsDurablyFor504Hours(t *testing.T) {
	env, in := newEnv(t)
	in.Hours = 504
	in.AmountMsat = 200_000 * 8 * 504
	var pay Payment
	env.RegisterDelayedCallback(func() {
		pay = paidAt(env)
		pay.AmountReceivedMsat = in.AmountMsat
		env.SignalWorkflow(SignalPaid, pay)
	}, time.Second)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil)
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil)
	var releasedAt time.Time
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Run(func(mock.Arguments) { releasedAt = env.Now() }).Return(nil).Once()
	env.RegisterDelayedCallback(func() {
		require.Equal(t, order.Provisioned, query(t, env).Deployment.Status)
	}, 503*time.Hour)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	want := pay.PaidAt.Add(504 * time.Hour)
	require.False(t, releasedAt.Before(want), "released at %s, paid %s", releasedAt, pay.PaidAt)
	require.Less(t, releasedAt.Sub(want), time.Minute)
	env.AssertExpectations(t)
}

func TestRepeatedPaymentSignalDeploysOnce(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterDelayedCallback(func() {
		p := paidAt(env)
		env.SignalWorkflow(SignalPaid, p)
		env.SignalWorkflow(SignalPaid, p)
	}, time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Hour)
	expectOneDeployment(env)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	env.AssertExpectations(t)
	// The first payment's time decides the expiration, not the repeat's.
	require.Equal(t, order.FormatTime(in.InvoiceExpiresAt.Add(-299*time.Second).Add(48*time.Hour)), query(t, env).Deployment.VMExpirationDate)
}

func TestPaymentSignalNotReportedPaidIsRefused(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterDelayedCallback(func() {
		p := paidAt(env)
		p.InvoiceStatus = "expired"
		env.SignalWorkflow(SignalPaid, p)
		short := paidAt(env)
		short.AmountReceivedMsat = 1
		env.SignalWorkflow(SignalPaid, short)
	}, time.Minute)
	res := execute(t, env, in)
	require.False(t, res.Paid)
	require.Equal(t, order.InvoiceExpired, query(t, env).InvoiceStatus)
}

// A payment lightningd accepted just before expires_at but relayed after the
// invoice expired (Temporal was down) arrives by signal-with-start: the run
// begins after the expiry with the payment already waiting. It must deploy.
func TestPaymentRelayedAfterInvoiceExpiryStillDeploys(t *testing.T) {
	env, in := newEnv(t)
	pay := paidAt(env)
	pay.PaidAt = pay.PaidAt.Add(-time.Hour)
	in.InvoiceExpiresAt = pay.PaidAt.Add(time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, pay) }, 0)
	expectOneDeployment(env)
	res := execute(t, env, in)
	require.True(t, res.Paid)
	env.AssertExpectations(t)
	// The paid time counts from lightningd's paid_at, not from the relay.
	require.Equal(t, order.FormatTime(pay.PaidAt.Add(48*time.Hour)), query(t, env).Deployment.VMExpirationDate)
}

func TestDeploymentThatFailsForGoodReleasesHostAndReportsFailed(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Second)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).
		Return(activities.BootstrapResult{}, temporal.NewNonRetryableApplicationError("host key mismatch", "HostKeyMismatch", errors.New("x"))).Once()
	env.OnActivity(a.ReleaseHost, mock.Anything, activities.ReleaseInput{OrderID: testOrder.String()}).Return(nil).Once()
	res := execute(t, env, in)
	require.True(t, res.Paid)
	require.Equal(t, order.Failed, res.Status)
	require.NotNil(t, res.Payment, "a failed order carries its payment, for a retry")
	s := query(t, env)
	require.Equal(t, order.Failed, s.Deployment.Status)
	require.Contains(t, s.Deployment.Error, "host key mismatch")
	env.AssertExpectations(t)
}

func TestReleaseIsRetriedUntilItSucceeds(t *testing.T) {
	env, in := newEnv(t)
	in.Hours = 3
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Second)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil)
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil)
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Return(errors.New("503 from the API")).Times(6)
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Return(nil).Once()
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	env.AssertExpectations(t)
	require.Equal(t, order.Expired, query(t, env).Deployment.Status)
}

func TestBootstrapProgressShowsInTheStatus(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Second)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil)
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).After(10*time.Minute).
		Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil)
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Return(nil)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalProgress, Progress{Step: "waiting_for_nodes", NodesReady: 5})
	}, 2*time.Minute)
	var mid, after State
	env.RegisterDelayedCallback(func() { mid = query(t, env) }, 3*time.Minute)
	env.RegisterDelayedCallback(func() { after = query(t, env) }, time.Hour)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, order.StartingDeployment, mid.Deployment.Status)
	require.Equal(t, &order.Progress{Step: "waiting_for_nodes", NodesReady: 5, NodeCount: 8, Source: "cold"}, mid.Deployment.Progress)
	require.Equal(t, order.Provisioned, after.Deployment.Status)
	require.Nil(t, after.Deployment.Progress)
}

func TestOperatorExtendsThenTearsDown(t *testing.T) {
	env, in := newEnv(t)
	in.Hours = 3
	var pay Payment
	env.RegisterDelayedCallback(func() { pay = paidAt(env); env.SignalWorkflow(SignalPaid, pay) }, time.Second)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil)
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil)
	var releasedAt time.Time
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Run(func(mock.Arguments) { releasedAt = env.Now() }).Return(nil).Once()
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalExtend, Extend{Hours: 0}) // refused
		env.SignalWorkflow(SignalExtend, Extend{Hours: 2, Reason: "workshop overran"})
	}, time.Hour)
	var afterExtend State
	env.RegisterDelayedCallback(func() { afterExtend = query(t, env) }, 4*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalTeardown, nil) }, 4*time.Hour+time.Minute)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, order.Provisioned, afterExtend.Deployment.Status, "still served after the original 3 hours")
	require.Equal(t, order.FormatTime(pay.PaidAt.Add(5*time.Hour)), afterExtend.Deployment.VMExpirationDate)
	require.WithinDuration(t, pay.PaidAt.Add(4*time.Hour+time.Minute), releasedAt, time.Minute, "teardown releases at once")
	require.Equal(t, order.Expired, query(t, env).Deployment.Status)
}

func TestRetryStartsAlreadyPaid(t *testing.T) {
	env, in := newEnv(t)
	pay := paidAt(env)
	pay.PaidAt = pay.PaidAt.Add(-time.Hour)
	in.Prepaid = &pay
	in.InvoiceExpiresAt = pay.PaidAt // long expired: the retry does not wait for it
	expectOneDeployment(env)
	res := execute(t, env, in)
	require.True(t, res.Paid)
	require.Equal(t, order.FormatTime(pay.PaidAt.Add(48*time.Hour)), query(t, env).Deployment.VMExpirationDate)
	env.AssertExpectations(t)
}

// Replaying lightningd's payments into an empty Temporal (a lost database)
// must not deploy orders whose time is long over.
func TestPaymentWhosePaidTimeIsOverDeploysNothing(t *testing.T) {
	env, in := newEnv(t)
	pay := paidAt(env)
	pay.PaidAt = pay.PaidAt.Add(-49 * time.Hour)
	in.InvoiceExpiresAt = pay.PaidAt.Add(5 * time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, pay) }, 0)
	res := execute(t, env, in)
	require.True(t, res.Paid)
	require.Equal(t, order.Expired, res.Status)
	require.Equal(t, order.Expired, query(t, env).Deployment.Status)
	env.AssertNotCalled(t, "AcquireHost", mock.Anything, mock.Anything)
}

// An order whose invoice had a pool slot reserved frees it when the invoice
// expires unpaid, rather than holding it until the reservation lapses.
func TestAnUnpaidOrderFreesItsReservedSlot(t *testing.T) {
	env, in := newEnv(t)
	in.Reserved = true
	env.OnActivity(a.ReleaseHost, mock.Anything, activities.ReleaseInput{OrderID: testOrder.String()}).Return(nil).Once()
	r := execute(t, env, in)
	require.False(t, r.Paid)
	env.AssertExpectations(t)
}

// An operator-issued order runs like a paid one and says who issued it.
func TestAnOperatorIssuedOrderIsDeployedWithoutAnInvoice(t *testing.T) {
	env, in := newEnv(t)
	now := env.Now().Truncate(time.Second)
	in.AmountMsat = 0
	in.Issued = &Issue{By: "alice", Reason: "workshop", At: now}
	in.Prepaid = &Payment{InvoiceStatus: "paid", PaidAt: now}
	expectOneDeployment(env)
	var during State
	env.RegisterDelayedCallback(func() { during = query(t, env) }, time.Hour)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, order.Provisioned, during.Deployment.Status)
	require.Equal(t, "workshop", during.Issued.Reason)
	require.Equal(t, order.FormatTime(now.Add(48*time.Hour)), during.Deployment.VMExpirationDate)
	env.AssertExpectations(t)
}

// Every change of the customer-visible state is published to the memo, in
// order and without repeats, so the plugin can read it with one describe.
func TestTheStateIsPublishedToTheMemoOnEveryChange(t *testing.T) {
	env, in := newEnv(t)
	expectOneDeployment(env)
	var published []State
	env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		st, ok := args.Get(0).(map[string]any)[MemoState].(State)
		require.True(t, ok, "memo %v", args.Get(0))
		// A deep copy: the workflow keeps changing its own state.
		b, err := json.Marshal(st)
		require.NoError(t, err)
		var snapshot State
		require.NoError(t, json.Unmarshal(b, &snapshot))
		published = append(published, snapshot)
	}).Return(nil)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())

	var steps []string
	for i, st := range published {
		step := string(st.InvoiceStatus)
		if d := st.Deployment; d != nil {
			step = string(d.Status)
			if d.Progress != nil {
				step += "/" + d.Progress.Step
			}
		}
		steps = append(steps, step)
		if i > 0 {
			require.NotEqual(t, published[i-1], st, "a repeat was published")
		}
	}
	require.Equal(t, []string{"unpaid", "starting_deployment", "starting_deployment/acquiring_host",
		"starting_deployment/bootstrapping", "provisioned", "expired"}, steps)
	// The memo leaves a provisioned order's nodes to the query (its
	// runes and links would be far above the memo's 2 KB warning).
	require.True(t, published[4].NodesByQuery)
	require.Empty(t, published[4].Deployment.Nodes)
	require.Empty(t, published[4].Deployment.ConnectionStrings)
	require.Empty(t, published[5].Deployment.ConnectionStrings, "connection strings are withdrawn at expiry")
}

// Started with StartAttributes (as the plugin starts orders), the first
// task writes neither search attributes nor the memo: the starter did.
func TestAnOrderStartedWithItsAttributesDoesNotWriteThemAgain(t *testing.T) {
	env, in := newEnv(t)
	attrs, memo := StartAttributes(in)
	require.NoError(t, env.SetTypedSearchAttributesOnStart(attrs))
	require.NoError(t, env.SetMemoOnStart(memo))
	var published []string
	env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		st := args.Get(0).(map[string]any)[MemoState].(State)
		published = append(published, string(st.InvoiceStatus))
	}).Return(nil)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	// Unpaid until the invoice expired: the only change is invoice_expired.
	require.Equal(t, []string{"expired"}, published)
}

// An order created by a plugin with a status queue pushes each paid state
// there, numbered, and numbers its memo the same way.
func TestPaidStatesArePushedToThePluginInOrder(t *testing.T) {
	env, in := newEnv(t)
	in.StatusQueue = "lnplaylive-status-test"
	var mu sync.Mutex
	var pushed []PushedState
	env.RegisterActivityWithOptions(func(_ context.Context, p PushedState) error {
		mu.Lock()
		defer mu.Unlock()
		pushed = append(pushed, p)
		return nil
	}, activity.RegisterOptions{Name: ActivityPushStatus})
	expectOneDeployment(env)
	var memoSeqs []uint64
	env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		memo := args.Get(0).(map[string]any)
		seq, ok := memo[MemoStateSeq].(uint64)
		if memo[MemoState].(State).Deployment == nil {
			require.False(t, ok, "an unpaid state is numbered: %v", memo)
			return
		}
		require.True(t, ok, "memo %v has no state number", memo)
		memoSeqs = append(memoSeqs, seq)
	}).Return(nil)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())

	// The unpaid state is published unnumbered and not pushed: the plugin
	// answers unpaid orders from lightningd.
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, memoSeqs)
	// Pushes are not awaited, so they may arrive in any order: the
	// plugin goes by Seq.
	sort.Slice(pushed, func(i, j int) bool { return pushed[i].Seq < pushed[j].Seq })
	var steps []string
	for i, p := range pushed {
		require.Equal(t, testOrder, p.OrderID)
		require.Equal(t, uint64(i+1), p.Seq, "pushes are numbered as the memo is")
		require.NotNil(t, p.State.Deployment, "only paid states are pushed")
		steps = append(steps, string(p.State.Deployment.Status))
	}
	require.Equal(t, []string{"starting_deployment", "starting_deployment", "starting_deployment", "provisioned", "expired"}, steps)
}

// Without a status queue (operator orders, older plugins) nothing is pushed.
func TestNoStatusQueueNoPush(t *testing.T) {
	env, in := newEnv(t)
	pushes := 0
	env.RegisterActivityWithOptions(func(context.Context, PushedState) error { pushes++; return nil },
		activity.RegisterOptions{Name: ActivityPushStatus})
	expectOneDeployment(env)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	require.Zero(t, pushes)
}
