package plugin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A reading past its TTL is served while one caller refreshes it: a slow
// Temporal holds up no createorder that has a reading to act on.
func TestRefreshedServesTheLastReadingWhileOneRefreshes(t *testing.T) {
	var r refreshed[int]
	var fetches atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context) (int, error) {
		n := fetches.Add(1)
		if n > 1 {
			<-release
		}
		return int(n), nil
	}
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	if v, _, err := r.get(ctx, t0, time.Second, countMaxStale, fetch); v != 1 || err != nil {
		t.Fatalf("first reading: %d, %v (it is waited for)", v, err)
	}
	// Past the TTL: twenty callers get the last reading at once, and one
	// refresh runs.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, _, err := r.get(ctx, t0.Add(2*time.Second), time.Second, countMaxStale, fetch); v != 1 || err != nil {
				t.Errorf("stale reading: %d, %v", v, err)
			}
		}()
	}
	wg.Wait()
	close(release)
	waitFor(t, "the refresh", func() bool { v, _, _ := r.last(); return v == 2 })
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (one refresh for twenty callers)", n)
	}
	// Too old to act on: the caller waits, and a failed read is an error.
	// (The registration's bound is two seconds: the queue a new customer
	// is told of is never older.)
	failing := func(context.Context) (int, error) { return 0, errors.New("temporal down") }
	if _, _, err := r.get(ctx, t0.Add(countMaxStale+3*time.Second), time.Second, countMaxStale, failing); err == nil || err.Error() != "temporal down" {
		t.Fatalf("a reading older than maxStale with Temporal down: %v", err)
	}
}

// A caller that waits for a refresh begun before it asked gets that
// refresh's reading, however long it took: never an empty one.
func TestRefreshedAnswersWhatASlowRefreshRead(t *testing.T) {
	var r refreshed[int]
	release := make(chan struct{})
	t0 := time.Unix(1000, 0)
	started := make(chan struct{})
	go func() {
		_, _, _ = r.get(context.Background(), t0, time.Second, regMaxStale, func(context.Context) (int, error) {
			close(started)
			<-release
			return 7, nil
		})
	}()
	<-started
	done := make(chan int)
	go func() {
		v, _, err := r.get(context.Background(), t0.Add(5*time.Second), time.Second, regMaxStale, func(context.Context) (int, error) { return 0, nil })
		if err != nil {
			t.Errorf("waiting for a slow refresh: %v", err)
		}
		done <- v
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if v := <-done; v != 7 {
		t.Fatalf("a caller that waited for the refresh got %d, want its reading 7", v)
	}
}
