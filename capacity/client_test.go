package capacity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
	"github.com/lnplaylive/lnplaylive/workflows"
)

func keys(t *testing.T, id string) *codec.Codec {
	t.Helper()
	path := filepath.Join(t.TempDir(), id+".keys")
	if err := os.WriteFile(path, []byte(codec.NewKeyLine(id)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := codec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The codec check judges from what always exists once a worker ran: the
// capacity workflow's start input, written with the worker's keys. A
// workflow whose memo holds nothing (no provider registered yet) is still
// judged.
func TestCheckCodecJudgesFromTheCapacityWorkflowsStart(t *testing.T) {
	srv := devserver.Start(t)
	workers := keys(t, "w-1")
	c, err := client.Dial(client.Options{HostPort: srv.Address(), DataConverter: workers.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := Client{Temporal: c, TaskQueue: "codec-check"}
	if err := check.CheckCodec(context.Background(), nil); !errors.Is(err, ErrNoWorkerYet) {
		t.Fatalf("no capacity workflow: %v, want ErrNoWorkerYet", err)
	}
	// Started as the first worker starts it, on a queue nobody serves: no
	// task ever runs, so no memo is ever written.
	if _, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.CapacityWorkflowID("codec-check"), TaskQueue: "codec-check"},
		workflows.CapacityWorkflow, workflows.CapacityState{}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cdc  *codec.Codec
		want error
	}{
		"no keys": {nil, codec.ErrCannotRead}, "other keys": {keys(t, "x-1"), codec.ErrCannotRead}, "the workers' keys": {workers, nil},
	} {
		if err := check.CheckCodec(context.Background(), tc.cdc); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
