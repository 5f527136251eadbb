package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/order"
)

// A paid order that finds no capacity waits in the queue: its status says
// `queued` with its place and estimate, moves up as it is told, and it is
// deployed once admitted; its admission is given back after its host.
func TestAQueuedOrderShowsItsPlaceThenDeploys(t *testing.T) {
	env, in := newEnv(t)
	var pay Payment
	estimate := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	env.RegisterDelayedCallback(func() {
		pay = paidAt(env)
		env.SignalWorkflow(SignalPaid, pay)
	}, time.Minute)
	var req AdmitRequest
	env.OnActivity(ActivityAdmit, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		req = args.Get(1).(AdmitRequest)
	}).Return(Admission{Position: 2, EstimatedStart: estimate}, nil).Once()
	var first, moved State
	env.RegisterDelayedCallback(func() { first = query(t, env) }, 2*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAdmission, Admission{Position: 1}) }, 3*time.Minute)
	// A stale place (sent before the move, delivered after) is ignored.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAdmission, Admission{Position: 2}) }, 4*time.Minute)
	env.RegisterDelayedCallback(func() { moved = query(t, env) }, 5*time.Minute)
	var acquiredAt time.Time
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAdmission, Admission{Admitted: true}) }, time.Hour)
	env.OnActivity(a.AcquireHost, mock.Anything, mock.Anything).Run(func(mock.Arguments) { acquiredAt = env.Now() }).Return(testHost, nil).Once()
	env.OnActivity(a.Bootstrap, mock.Anything, mock.Anything).Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8)}, nil).Once()
	var hostReleased, admissionReleased time.Time
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Run(func(mock.Arguments) { hostReleased = env.Now() }).Return(nil).Once()
	env.OnActivity(ActivityReleaseAdmission, mock.Anything, testOrder.String()).Run(func(mock.Arguments) {
		admissionReleased = env.Now()
		require.False(t, hostReleased.IsZero(), "the host goes first")
	}).Return(nil).Once()

	r := execute(t, env, in)
	require.Equal(t, order.Expired, r.Status)
	require.Equal(t, testOrder.String(), req.OrderID)
	require.Equal(t, 8, req.NodeCount)
	require.NotEmpty(t, req.WorkflowID)
	require.True(t, req.EndsAt.Equal(pay.PaidAt.Add(48*time.Hour)), "the paid end: %v", req.EndsAt)

	require.Equal(t, order.StartingDeployment, first.Deployment.Status)
	require.Equal(t, &order.Progress{Step: order.StepQueued, NodeCount: 8, Position: 2, EstimatedStart: "2026-11-25T15:00:00Z"}, first.Deployment.Progress)
	require.Equal(t, 1, moved.Deployment.Progress.Position)
	require.Empty(t, moved.Deployment.Progress.EstimatedStart)
	require.False(t, acquiredAt.Before(pay.PaidAt.Add(59*time.Minute)), "no host before admission: %v", acquiredAt)
	require.False(t, admissionReleased.IsZero())
}

// An order still queued when its paid time ends gets nothing: no host is
// acquired, its place is given back, and it ends expired.
func TestAnOrderQueuedPastItsEndDeploysNothing(t *testing.T) {
	env, in := newEnv(t)
	in.Hours = 3
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	env.OnActivity(ActivityAdmit, mock.Anything, mock.Anything).Return(Admission{Position: 1}, nil).Once()
	env.OnActivity(a.ReleaseHost, mock.Anything, mock.Anything).Return(nil).Once()
	env.OnActivity(ActivityReleaseAdmission, mock.Anything, testOrder.String()).Return(nil).Once()

	r := execute(t, env, in)
	require.Equal(t, order.Expired, r.Status)
	s := query(t, env)
	require.Equal(t, order.Expired, s.Deployment.Status)
	require.Nil(t, s.Deployment.Progress)
	env.AssertNotCalled(t, "AcquireHost", mock.Anything, mock.Anything)
}

// A paid order that finds a warm playground of its size claims it: it
// mints its runes there and is provisioned without acquiring or building
// anything, with `source: warm` while it does; at its end it releases the
// warm playground's machine (by the warm id) and tells its workflow.
func TestAnOrderClaimsAWarmPlaygroundAndGivesItBack(t *testing.T) {
	env, in := newEnv(t)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPaid, paidAt(env)) }, time.Minute)
	claim := WarmClaim{Claimed: true, ID: "warm-7", Host: testHost, Nodes: make([]order.Node, 8)}
	env.OnActivity(ActivityClaimWarm, mock.Anything, ClaimRequest{OrderID: testOrder.String(), NodeCount: 8}).Return(claim, nil).Once()
	var minting State
	env.OnActivity(a.MintRunes, mock.Anything, mock.MatchedBy(func(m activities.MintInput) bool {
		return m.WarmID == "warm-7" && m.OrderID == testOrder.String() && m.Host == testHost && len(m.Nodes) == 8
	})).Run(func(mock.Arguments) { minting = query(t, env) }).
		Return(activities.BootstrapResult{ConnectionStrings: make([]string, 8), Nodes: make([]order.Node, 8)}, nil).Once()
	env.OnActivity(a.ReleaseHost, mock.Anything, activities.ReleaseInput{OrderID: "warm-7"}).Return(nil).Once()
	released := false
	env.OnSignalExternalWorkflow(mock.Anything, WarmWorkflowID("warm-7"), "", SignalWarmRelease, mock.Anything).
		Return(func(_, _, _, _ string, _ any) error { released = true; return nil }).Once()
	var served State
	env.RegisterDelayedCallback(func() { served = query(t, env) }, time.Hour)

	r := execute(t, env, in)
	require.Equal(t, order.Expired, r.Status)
	require.Equal(t, &order.Progress{Step: "creating_runes", NodesReady: 8, NodeCount: 8, Source: "warm"}, minting.Deployment.Progress)
	require.Equal(t, order.Provisioned, served.Deployment.Status)
	require.True(t, released, "the warm playground's workflow is told")
	env.AssertNotCalled(t, "AcquireHost", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "Bootstrap", mock.Anything, mock.Anything)
}
