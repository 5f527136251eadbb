package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/temporalproto"

	"github.com/lnplaylive/lnplaylive/codec"
)

// recordHistory writes a workflow's history, its payloads decoded, to
// workflows/testdata/<name>.json for the replay test, when
// LNPLAYLIVE_RECORD_HISTORIES names it (a comma-separated list, or "all";
// `make record-histories HISTORIES=…`); otherwise it does nothing. A
// history recorded before a workflow change is what proves old runs still
// replay: re-record only the ones a change adds. Decoded as `temporal
// workflow show -o json --codec-endpoint` would: the replay test has no keys.
func recordHistory(t *testing.T, s *system, workflowID, name string) {
	t.Helper()
	want := os.Getenv("LNPLAYLIVE_RECORD_HISTORIES")
	if want != "all" && !slices.Contains(strings.Split(want, ","), name) {
		return
	}
	cdc, err := codec.Load(s.codecKeys)
	if err != nil {
		t.Fatal(err)
	}
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	err = proxy.VisitPayloads(ctx, hist, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return cdc.Decode(p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("..", "workflows", "testdata", name+".json")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events of %s in %s", len(hist.Events), workflowID, out)
}
