package workflows

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/order"
)

// The SDK warns above 2 KB of memo (TMPRL1103) and 512 KB of payload.
const (
	memoBound   = 1024      // half the SDK's memo warning
	pushedBound = 64 * 1024 // an eighth of its payload warning
)

// A 64-node provisioned order, stored once: its memo stays below
// memoBound and the state pushed to the plugin below pushedBound,
// encrypted as the workers write them; served, it is byte for byte what
// an order stored the old way (links and connection strings in every
// node) served.
func TestA64NodeOrdersMemoAndPushedStateStaySmall(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(keys, []byte(codec.NewKeyLine("k-1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cdc, err := codec.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	dc := cdc.DataConverter()
	nodes := make([]order.Node, 64)
	for i := range nodes {
		nodes[i] = order.Node{Index: i + 1, Alias: fmt.Sprintf("node-%d", i+1), ID: fmt.Sprintf("03%064x", i+1),
			Host: "203.0.113.77", WSPort: 6001 + i, P2PPort: 7001 + i,
			// A restricted rune as the bootstrap mints them is about 150 characters.
			Rune: strings.Repeat("R", 150)}
	}
	links := order.Links{ClamsApp: "https://app.clams.tech", ClamsProxy: "wss://api.clams.tech/ws-proxy", ClamsBase: "http://app.clams.tech:80"}
	d := &order.Deployment{PluginVersion: order.PluginVersion, VMExpirationDate: "2026-12-05T12:00:00Z", Status: order.Provisioned,
		Topology: order.TopologyMesh, Nodes: nodes,
		Extensions: []order.Extension{{N: 1, Hours: 2, AmountMsat: 3_200_000, PaidAt: "2026-12-05T09:00:00Z"}}}
	o := &orderRun{nodesOnce: true, state: State{InvoiceStatus: order.InvoicePaid, Deployment: d, Links: &links}}

	memo := &commonpb.Memo{Fields: map[string]*commonpb.Payload{}}
	for k, v := range map[string]any{MemoState: o.memoState(), MemoStateSeq: uint64(12)} {
		p, err := dc.ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		memo.Fields[k] = p
	}
	if n := proto.Size(memo); n > memoBound {
		t.Errorf("a 64-node order's memo is %d bytes; the bound is %d (the SDK warns at 2048)", n, memoBound)
	} else {
		t.Logf("memo: %d bytes", n)
	}
	pushed, err := dc.ToPayload(PushedState{OrderID: "x", Seq: 12, State: o.state})
	if err != nil {
		t.Fatal(err)
	}
	if n := proto.Size(pushed); n > pushedBound {
		t.Errorf("a 64-node order's pushed state is %d bytes; the bound is %d", n, pushedBound)
	} else {
		t.Logf("pushed state: %d bytes", n)
	}

	// Served, it is what the old stored form served.
	old := *d
	old.Nodes = make([]order.Node, 64)
	old.ConnectionStrings = make([]string, 64)
	for i, n := range nodes {
		n.ClamsURL = order.ClamsURL(links.ClamsApp, links.ClamsProxy, n.ID, n.Host, n.P2PPort, n.Rune, n.Alias)
		old.Nodes[i] = n
		old.ConnectionStrings[i] = order.ConnectionString(links.ClamsBase, n.ID, n.Host, n.WSPort, n.Rune)
	}
	want, _ := json.Marshal(State{InvoiceStatus: order.InvoicePaid, Deployment: &old})
	var pushedBack PushedState
	if err := dc.FromPayload(pushed, &pushedBack); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(pushedBack.State.Served())
	if string(got) != string(want) {
		t.Errorf("served from the stored form:\n%s\nthe old form served:\n%s", got, want)
	}
	oldSize, _ := dc.ToPayload(map[string]any{"state": State{InvoiceStatus: order.InvoicePaid, Deployment: &old}})
	t.Logf("the old form's memo would be %d bytes", proto.Size(oldSize))
}
