package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/order"
)

// extPayment is extension n of testOrder, paid now.
func extPayment(env interface{ Now() time.Time }, n, hours int) ExtensionPayment {
	return ExtensionPayment{N: n, Label: order.ExtensionLabel(testOrder, n), Hours: hours, PayIndex: uint64(10 + n),
		PaidAt: env.Now().Truncate(time.Second), AmountReceivedMsat: uint64(200_000 * 8 * hours), MaxHours: 504}
}

func TestAPaidExtensionMovesTheEndOncePerLabel(t *testing.T) {
	env, in := newEnv(t)
	var pay Payment
	env.RegisterDelayedCallback(func() { pay = paidAt(env); env.SignalWorkflow(SignalPaid, pay) }, time.Minute)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil).Once()
	var releasedAt time.Time
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Run(func(mock.Arguments) { releasedAt = env.Now() }).Return(nil).Once()
	// Extension 1 (3 h) is relayed three times; extension 2 (5 h) once.
	env.RegisterDelayedCallback(func() {
		p := extPayment(env, 1, 3)
		env.SignalWorkflow(SignalExtensionPaid, p)
		env.SignalWorkflow(SignalExtensionPaid, p)
	}, 10*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalExtensionPaid, extPayment(env, 1, 3))
		env.SignalWorkflow(SignalExtensionPaid, extPayment(env, 2, 5))
	}, 40*time.Hour)
	env.RegisterDelayedCallback(func() {
		s := query(t, env)
		require.Equal(t, order.Provisioned, s.Deployment.Status)
		require.Equal(t, order.FormatTime(pay.PaidAt.Add(56*time.Hour)), s.Deployment.VMExpirationDate)
		require.Len(t, s.Deployment.Extensions, 2)
		require.Equal(t, order.Extension{N: 1, Hours: 3, AmountMsat: 200_000 * 8 * 3,
			PaidAt: order.FormatTime(pay.PaidAt.Add(10*time.Hour - time.Minute))}, s.Deployment.Extensions[0])
		require.Equal(t, 5, s.Deployment.Extensions[1].Hours)
		require.Empty(t, s.Deployment.UnservedPayments)
	}, 49*time.Hour)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	end := pay.PaidAt.Add(56 * time.Hour)
	require.False(t, releasedAt.Before(end), "released at %s, before the extended end %s", releasedAt, end)
	require.Less(t, releasedAt.Sub(end), time.Minute)
	env.AssertExpectations(t)
}

// An extension relayed once the order's host is being released (paid just
// before the end, the relay late) extends nothing: it is recorded for
// refund. (Relayed before the end and handled with the end's timer, when
// the worker was down at the old end, it is served: the fault suite kills
// a real worker over the old end for that.)
func TestAnExtensionRelayedDuringTheReleaseIsUnserved(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterWorkflow(UnservedPaymentWorkflow)
	var pay Payment
	env.RegisterDelayedCallback(func() { pay = paidAt(env); env.SignalWorkflow(SignalPaid, pay) }, time.Minute)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil).Once()
	var early ExtensionPayment
	env.RegisterDelayedCallback(func() { early = extPayment(env, 1, 4) }, 47*time.Hour)
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Run(func(mock.Arguments) {
		env.SignalWorkflow(SignalExtensionPaid, early)
	}).Return(nil).Once()
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	s := query(t, env)
	require.Equal(t, order.Expired, s.Deployment.Status)
	require.Empty(t, s.Deployment.Extensions)
	require.Equal(t, []order.UnservedPayment{{Label: early.Label, AmountMsat: early.AmountReceivedMsat,
		PaidAt: order.FormatTime(early.PaidAt), Reason: order.UnservedOrderEnded}}, s.Deployment.UnservedPayments)
	require.Equal(t, order.FormatTime(pay.PaidAt.Add(48*time.Hour)), s.Deployment.VMExpirationDate)
	env.AssertExpectations(t)
}

func TestAnExtensionPastTheCapOrAfterTheEndIsRecordedUnserved(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterWorkflow(UnservedPaymentWorkflow)
	var records []UnservedRecord
	var ids []string
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var rec UnservedRecord
		require.NoError(t, args.Get(&rec))
		records, ids = append(records, rec), append(ids, info.WorkflowExecution.ID)
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	expectOneDeployment(env)
	// 48 + 456 = 504 is the cap; 1 more is over it.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalExtensionPaid, extPayment(env, 1, 456)) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalExtensionPaid, extPayment(env, 2, 1)) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		s := query(t, env)
		require.Len(t, s.Deployment.Extensions, 1)
		require.Len(t, s.Deployment.UnservedPayments, 1)
		require.Equal(t, order.UnservedOverCap, s.Deployment.UnservedPayments[0].Reason)
		require.Equal(t, order.ExtensionLabel(testOrder, 2), s.Deployment.UnservedPayments[0].Label)
		// Paid after the end: a payment made later than the order's end
		// (the relay brings lightningd's paid_at) buys nothing.
		late := extPayment(env, 3, 2)
		late.PaidAt = env.Now().Add(600 * time.Hour)
		env.SignalWorkflow(SignalExtensionPaid, late)
	}, 3*time.Hour)
	env.ExecuteWorkflow(OrderWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	s := query(t, env)
	require.Len(t, s.Deployment.UnservedPayments, 2)
	require.Equal(t, order.UnservedOrderEnded, s.Deployment.UnservedPayments[1].Reason)
	require.Equal(t, uint64(200_000*8*2), s.Deployment.UnservedPayments[1].AmountMsat)
	require.Len(t, records, 2, "each unserved payment has its record for the operator")
	require.Equal(t, order.ExtensionLabel(testOrder, 3), records[1].Label)
	require.Equal(t, order.UnservedOrderEnded, records[1].Reason)
	require.Equal(t, "lnplaylive-unserved-"+string(testOrder)+"-ext-2", ids[0], "one record per label")
	env.AssertExpectations(t)
}
