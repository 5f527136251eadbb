package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/lnplaylive/lnplaylive/workflows"
)

// pushes reads an order's history: the status queue its pushes went to,
// and how many the plugin completed.
func (s *system) pushes(id string) (queue string, scheduled, completed int) {
	s.t.Helper()
	it := s.client().GetWorkflowHistory(context.Background(), "lnplaylive-"+id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	pushIDs := map[int64]bool{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == workflows.ActivityPushStatus {
			queue = a.GetTaskQueue().GetName()
			pushIDs[ev.GetEventId()] = true
			scheduled++
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && pushIDs[a.GetScheduledEventId()] {
			completed++
		}
	}
	return queue, scheduled, completed
}

// A paid order pushes its states to the plugin that created it, on a queue
// that plugin keeps across restarts; the plugin serves them.
func TestPaidOrderPushesItsStatusToThePlugin(t *testing.T) {
	s := newSystem(t, options{})
	a := string(s.createOrder(map[string]any{"node_count": 8, "hours": 48}).BOLT11InvoiceID)
	if err := s.node.Pay("lnplaylive-" + a); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(a, 20*time.Second, paidAndDeploying)
	var queue string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		q, scheduled, completed := s.pushes(a)
		if scheduled > 0 && completed == scheduled {
			queue = q
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushes: %d scheduled, %d completed by the plugin", scheduled, completed)
		}
	}
	if !strings.HasPrefix(queue, "lnplaylive-status-") {
		t.Fatalf("pushed to queue %q", queue)
	}

	// Restarted, the plugin serves the same queue: pushes that wait for it
	// reach the new process.
	s.plugin.Kill()
	s.startPlugin()
	b := string(s.createOrder(map[string]any{"node_count": 8, "hours": 48}).BOLT11InvoiceID)
	if err := s.node.Pay("lnplaylive-" + b); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(b, 20*time.Second, paidAndDeploying)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		q, scheduled, completed := s.pushes(b)
		if scheduled > 0 && completed == scheduled {
			if q != queue {
				t.Fatalf("after a restart the plugin's queue is %q, was %q", q, queue)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart: %d pushes scheduled, %d completed", scheduled, completed)
		}
	}
}
