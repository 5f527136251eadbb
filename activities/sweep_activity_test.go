package activities

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/lnplaylive/lnplaylive/infra"
)

type fakeProvider struct {
	leases   []infra.Lease
	released []string
}

func (f *fakeProvider) Acquire(context.Context, infra.Spec, func(string)) (infra.Host, error) {
	return infra.Host{}, errors.New("not used")
}
func (f *fakeProvider) Release(_ context.Context, id string, _ func(string)) error {
	f.released = append(f.released, id)
	return nil
}
func (f *fakeProvider) List(context.Context) ([]infra.Lease, error) { return f.leases, nil }

type fakeOrders map[string]bool

var extendedUntil = time.Now().Add(time.Hour)

func (f fakeOrders) Lookup(_ context.Context, id string) (bool, time.Time, error) {
	if id == "broken" {
		return false, time.Time{}, errors.New("temporal unavailable")
	}
	if id == "extended" {
		return true, extendedUntil, nil
	}
	return f[id], time.Time{}, nil
}

// sweep runs the Sweep activity with a 10-minute grace.
func sweep(t *testing.T, a *Activities) SweepResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity("Sweep", SweepInput{Grace: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var res SweepResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSweepDeletesOnlyWhatNoLiveOrderOwns(t *testing.T) {
	now := time.Now()
	p := &fakeProvider{leases: []infra.Lease{
		{ID: "1", OrderID: "live", ExpiresAt: now.Add(time.Hour)},
		{ID: "2", OrderID: "ended", ExpiresAt: now.Add(time.Hour)},
		{ID: "3", OrderID: "unknown"},
		{ID: "4", OrderID: "live-but-late", ExpiresAt: now.Add(-11 * time.Minute)},
		{ID: "5", OrderID: "live-just-expired", ExpiresAt: now.Add(-time.Minute)},
		{ID: "6", OrderID: ""},
		// its label says long expired, but an operator extended the order
		{ID: "7", OrderID: "extended", ExpiresAt: now.Add(-time.Hour)},
	}}
	res := sweep(t, &Activities{Provider: p, Orders: fakeOrders{"live": true, "live-but-late": true, "live-just-expired": true}})
	want := []string{"ended", "unknown", "live-but-late"}
	if !slices.Equal(p.released, want) || !slices.Equal(res.Deleted, want) || res.Checked != 7 {
		t.Fatalf("released %v, result %+v", p.released, res)
	}
}

func TestSweepNeverDeletesOnAGuess(t *testing.T) {
	p := &fakeProvider{leases: []infra.Lease{{ID: "1", OrderID: "broken"}, {ID: "2", OrderID: "ended"}}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&Activities{Provider: p, Orders: fakeOrders{}})
	if _, err := env.ExecuteActivity("Sweep", SweepInput{Grace: 10 * time.Minute}); err == nil {
		t.Fatal("a lookup error did not stop the sweep")
	}
	if len(p.released) != 0 {
		t.Fatalf("released %v", p.released)
	}
}

type fakeAdmissions struct {
	holders []string
	freed   []string
}

func (f *fakeAdmissions) Holders(context.Context) ([]string, error) { return f.holders, nil }
func (f *fakeAdmissions) Release(_ context.Context, id string) error {
	f.freed = append(f.freed, id)
	return nil
}

// An order terminated by hand while it held a lease without a machine (a
// queued or just-admitted Hetzner order) gives its admission back at the
// next sweep; live orders keep theirs.
func TestSweepFreesTheAdmissionsOfOrdersNotLive(t *testing.T) {
	adm := &fakeAdmissions{holders: []string{"live", "terminated", "queued-terminated"}}
	res := sweep(t, &Activities{Provider: &fakeProvider{}, Orders: fakeOrders{"live": true}, Admissions: adm})
	want := []string{"terminated", "queued-terminated"}
	if !slices.Equal(adm.freed, want) || !slices.Equal(res.Freed, want) {
		t.Fatalf("freed %v, result %+v", adm.freed, res)
	}
}
