package playground

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/internal/testworld/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/testworld/sshdtest"
	"github.com/lnplaylive/lnplaylive/order"
)

type fixture struct {
	m    *playgroundtest.Machine
	b    *Bootstrapper
	host infra.Host
}

func newFixture(t *testing.T) fixture {
	hostPriv, _ := sshdtest.NewKey(t)
	_, operator := sshdtest.NewKey(t)
	m := playgroundtest.Start(t, hostPriv, operator.PublicKey())
	hostPub, _ := ssh.NewPublicKey(hostPriv.Public())
	b := New(Config{Signer: operator, Images: DefaultImages(), RemoteDir: m.RemoteDir, ReadyMarker: m.ReadyMarker})
	host := infra.Host{ID: "1", Address: "127.0.0.1", SSHPort: m.SSHD.Port, SSHUser: "root",
		HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))), PortBase: 6000, P2PPortBase: 9735}
	return fixture{m, b, host}
}

var connRE = regexp.MustCompile(`^http://app\.clams\.tech:80/connect\?address=(0[23][0-9a-f]{64})@127\.0\.0\.1:(\d+)&type=direct&value=ws:&rune=([A-Za-z0-9_=-]+)$`)

// callsOf counts the double's calls whose argv contains every word.
func callsOf(t *testing.T, m *playgroundtest.Machine, words ...string) int {
	n := 0
	for _, c := range m.Calls(t) {
		joined := " " + strings.Join(c, " ") + " "
		all := true
		for _, w := range words {
			all = all && strings.Contains(joined, " "+w+" ")
		}
		if all {
			n++
		}
	}
	return n
}

func (f fixture) bootstrap(t *testing.T, orderID string, n int) (Playground, []string, error) {
	return f.bootstrapTopology(t, orderID, n, "")
}

func (f fixture) bootstrapTopology(t *testing.T, orderID string, n int, topo order.Topology) (Playground, []string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var steps []string
	pg, err := f.b.Bootstrap(ctx, Request{OrderID: orderID, NodeCount: n, Topology: topo}, f.host, func(step string, ready int) { steps = append(steps, fmt.Sprintf("%s:%d", step, ready)) })
	return pg, steps, err
}

// checkNodes checks every node's details and both of its links, and
// returns the node ids.
func checkNodes(t *testing.T, pg Playground, n int) []string {
	t.Helper()
	return checkNodesAt(t, pg, n, 6000, 9735)
}

// checkNodesAt is checkNodes for a host whose websocket and p2p ports
// start at wsBase+1 and p2pBase+1.
func checkNodesAt(t *testing.T, pg Playground, n, wsBase, p2pBase int) []string {
	t.Helper()
	if len(pg.Nodes) != n || len(pg.ConnectionStrings) != n {
		t.Fatalf("%d nodes and %d connection strings for %d nodes", len(pg.Nodes), len(pg.ConnectionStrings), n)
	}
	ids := make([]string, n)
	for i, node := range pg.Nodes {
		m := connRE.FindStringSubmatch(pg.ConnectionStrings[i])
		if m == nil {
			t.Fatalf("connection string %d has the wrong form", i+1)
		}
		if m[1] != node.ID || m[2] != fmt.Sprint(wsBase+1+i) || m[3] != node.Rune {
			t.Fatalf("node %d: connection string disagrees with the node's details", i+1)
		}
		if node.Index != i+1 || node.Alias != Alias(i+1) || node.Host != "127.0.0.1" || node.WSPort != wsBase+1+i || node.P2PPort != p2pBase+1+i {
			t.Fatalf("node %d: %+v", i+1, node)
		}
		ids[i] = node.ID
		u, err := url.Parse(node.ClamsURL)
		if err != nil || u.Scheme != "https" || u.Host != "app.clams.tech" || u.Path != "/wallets/add" || u.Query().Get("type") != "coreln" || u.Query().Get("label") != node.Alias {
			t.Fatalf("node %d: Clams link %v", i+1, err)
		}
		var conf struct {
			Address    string `json:"address"`
			Connection struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"connection"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(u.Query().Get("configuration")), &conf); err != nil {
			t.Fatal(err)
		}
		if conf.Address != fmt.Sprintf("%s@127.0.0.1:%d", node.ID, p2pBase+1+i) || conf.Connection.Type != "proxy" ||
			conf.Connection.Value != DefaultClamsProxy || conf.Token != node.Rune {
			t.Fatalf("node %d: Clams configuration %+v", i+1, conf.Connection)
		}
		uid := ""
		for j := 0; j < 10 && uid == ""; j++ {
			if PlaygroundProfile.Check(node.Rune, fmt.Sprint(j)) == nil {
				uid = fmt.Sprint(j)
			}
		}
		if uid == "" {
			t.Fatalf("node %d's rune does not carry the playground profile", i+1)
		}
	}
	return ids
}

// channelsIn are a project's channels in the double, by opener→peer.
func channelsIn(t *testing.T, m *playgroundtest.Machine, orderID string) map[string]playgroundtest.Channel {
	t.Helper()
	out := map[string]playgroundtest.Channel{}
	for _, c := range m.State(t).Nets["lnplaylive-"+orderID].Channels {
		k := c.Opener + ">" + c.Peer
		if _, dup := out[k]; dup {
			t.Fatalf("a second channel %s", k)
		}
		out[k] = c
	}
	return out
}

func TestBootstrapOpensTheMeshProvesARouteAndHandsOutPlaygroundRunes(t *testing.T) {
	f := newFixture(t)
	pg, steps, err := f.bootstrap(t, "o1", 8)
	if err != nil {
		t.Fatalf("%v\nsshd: %s", err, f.m.SSHD.Log())
	}
	ids := checkNodes(t, pg, 8)
	st := f.m.State(t)
	net := st.Nets["lnplaylive-o1"]
	if len(st.Funded) != 8 || net.Height < 101 {
		t.Fatalf("funded %v at height %d", st.Funded, net.Height)
	}
	for a, n := range st.Funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times", a, n)
		}
	}
	plan, _ := PlanFor(order.TopologyMesh, 8)
	chans := channelsIn(t, f.m, "o1")
	if len(chans) != len(plan.Channels) {
		t.Fatalf("%d channels open, %d planned", len(chans), len(plan.Channels))
	}
	for _, c := range plan.Channels {
		got, ok := chans[fmt.Sprintf("cln-%d>cln-%d", c.From, c.To)]
		if !ok || got.Sat != c.Sat {
			t.Fatalf("planned channel %d→%d: %+v", c.From, c.To, got)
		}
		if conf := net.Height - net.Mined[got.FundingTxid][0] + 1; net.Mined[got.FundingTxid][0] == 0 || conf < 6 {
			t.Fatalf("channel %d→%d has %d confirmations", c.From, c.To, conf)
		}
	}
	// The routing proof moved 10,000 sat from the proof's payer across
	// the network: some channel of the payer's holds less than it opened.
	moved := false
	for _, c := range chans {
		moved = moved || (c.Opener == fmt.Sprintf("cln-%d", plan.ProofFrom) && c.OpenerMsat == c.Sat*1000-c.Sat*500-ProofSat*1000)
	}
	if !moved || callsOf(t, f.m, "pay") != 1 {
		t.Fatalf("no routing proof paid from node %d (pay calls: %d)", plan.ProofFrom, callsOf(t, f.m, "pay"))
	}
	joined := strings.Join(steps, " ")
	for _, want := range []string{"uploading:0", "waiting_for_nodes:8", "funding_nodes:8", "opening_channels:8",
		"confirming_channels:8", "checking_routes:8", "creating_runes:8"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("progress %v lacks %s", steps, want)
		}
	}

	// Run again, as a retried activity would: the same nodes and runes, no
	// second funding, channel, payment or rune.
	again, _, err := f.bootstrap(t, "o1", 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkNodes(t, again, 8); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatal("node ids changed on a second run")
	}
	for i := range again.Nodes {
		if again.Nodes[i].Rune != pg.Nodes[i].Rune {
			t.Fatalf("node %d got a second rune", i+1)
		}
	}
	for a, n := range f.m.State(t).Funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times after a rerun", a, n)
		}
	}
	if again := channelsIn(t, f.m, "o1"); len(again) != len(plan.Channels) {
		t.Fatalf("%d channels after a rerun", len(again))
	}
	if callsOf(t, f.m, "pay") != 1 || callsOf(t, f.m, "createrune") != 8 {
		t.Fatalf("a rerun paid %d times and made %d runes", callsOf(t, f.m, "pay"), callsOf(t, f.m, "createrune"))
	}
}

func TestPrismAndNoneTopologies(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.bootstrapTopology(t, "prism", 8, order.TopologyPrism); err != nil {
		t.Fatalf("%v\nsshd: %s", err, f.m.SSHD.Log())
	}
	chans := channelsIn(t, f.m, "prism")
	if len(chans) != 7 || chans["cln-1>cln-2"].Sat != ChannelSat {
		t.Fatalf("prism channels %v", chans)
	}
	for j := 3; j <= 8; j++ {
		if _, ok := chans[fmt.Sprintf("cln-2>cln-%d", j)]; !ok {
			t.Fatalf("no channel 2→%d", j)
		}
	}
	pg, _, err := f.bootstrapTopology(t, "none", 8, order.TopologyNone)
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, pg, 8)
	if len(channelsIn(t, f.m, "none")) != 0 {
		t.Fatal("channels opened for topology none")
	}
}

func TestANodeThatNeverConfirmsItsChannelsFailsWithItsName(t *testing.T) {
	f := newFixture(t)
	f.m.Fault(t, "never-confirm cln-3")
	_, _, err := f.bootstrap(t, "stuck", 8)
	var named *ScriptError
	if !errors.As(err, &named) || !strings.Contains(named.Reason, "node 3 (Carol)") || !strings.Contains(named.Reason, "not confirmed") {
		t.Fatalf("got %v", err)
	}
}

func TestConnectionDroppedMidBootstrapIsRetriedWithoutDoubleFunding(t *testing.T) {
	f := newFixture(t)
	f.m.Fault(t, "kill-after sendmany")
	if _, _, err := f.bootstrap(t, "o2", 4); err == nil {
		t.Fatal("the dropped connection was not reported")
	}
	pg, _, err := f.bootstrap(t, "o2", 4)
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, pg, 4)
	st := f.m.State(t)
	if len(st.Funded) != 4 {
		t.Fatalf("funded %v", st.Funded)
	}
	for a, n := range st.Funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times", a, n)
		}
	}
}

func TestConnectionDroppedMidChannelOpeningOpensNoSecondChannel(t *testing.T) {
	f := newFixture(t)
	f.m.Fault(t, "kill-after multifundchannel")
	if _, _, err := f.bootstrap(t, "o5", 8); err == nil {
		t.Fatal("the dropped connection was not reported")
	}
	pg, _, err := f.bootstrap(t, "o5", 8)
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, pg, 8)
	plan, _ := PlanFor("", 8)
	if got := channelsIn(t, f.m, "o5"); len(got) != len(plan.Channels) {
		t.Fatalf("%d channels, %d planned", len(got), len(plan.Channels))
	}
}

// bitcoind killed right after each node broadcast its funding (Docker
// brings it back, without the mempool it never wrote): the bootstrap sends
// the funding transactions again from lightningd's own record, and every
// planned channel confirms, none twice, in one run.
func TestBitcoindKilledAfterTheFundingBroadcastStillConfirmsEveryChannel(t *testing.T) {
	f := newFixture(t)
	plan, _ := PlanFor("", 8)
	openers := map[string]bool{}
	for _, c := range plan.Channels {
		openers[fmt.Sprint(c.From)] = true
	}
	for range openers {
		f.m.Fault(t, "lose-mempool-after multifundchannel")
	}
	pg, _, err := f.bootstrap(t, "o-mempool", 8)
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, pg, 8)
	got := channelsIn(t, f.m, "o-mempool")
	if len(got) != len(plan.Channels) {
		t.Fatalf("%d channels, %d planned", len(got), len(plan.Channels))
	}
	resent := 0
	for _, c := range f.m.Calls(t) {
		if slices.Contains(c, "sendrawtransaction") {
			resent++
		}
	}
	if resent == 0 {
		t.Fatal("nothing was broadcast again, yet every funding was lost")
	}
	t.Logf("%d funding broadcasts repeated by the bootstrap", resent)
}

func TestWrongHostKeyIsRefused(t *testing.T) {
	f := newFixture(t)
	other, _ := sshdtest.NewKey(t)
	pub, _ := ssh.NewPublicKey(other.Public())
	f.host.HostKey = string(ssh.MarshalAuthorizedKey(pub))
	_, _, err := f.bootstrap(t, "o3", 2)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("got %v", err)
	}
	if len(f.m.Calls(t)) != 0 {
		t.Fatal("commands ran on a host with the wrong key")
	}
}

// dropAfter is a connection that dies after n bytes were written: the SSH
// transport breaks in the middle of whatever was being sent.
type dropAfter struct {
	net.Conn
	left *atomic.Int64
}

func (d dropAfter) Write(p []byte) (int, error) {
	if d.left.Add(-int64(len(p))) < 0 {
		d.Conn.Close()
		return 0, errors.New("connection dropped by the test")
	}
	return d.Conn.Write(p)
}

func TestConnectionDroppedMidUploadIsRetriedToTheSameResult(t *testing.T) {
	f := newFixture(t)
	var budget atomic.Int64
	budget.Store(1 << 40) // unlimited until the upload starts
	drop := true
	f.b.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !drop {
			return c, err
		}
		return dropAfter{c, &budget}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var steps []string
	_, err := f.b.Bootstrap(ctx, Request{OrderID: "o4", NodeCount: 3}, f.host, func(step string, _ int) {
		steps = append(steps, step)
		if step == "uploading" {
			budget.Store(1500) // the connection dies within the first file
		}
	})
	if err == nil || !strings.Contains(err.Error(), "sftp") {
		t.Fatalf("the drop in the upload was not reported as such: %v (steps %v)", err, steps)
	}
	if strings.Contains(strings.Join(steps, " "), "starting_containers") {
		t.Fatalf("the script ran after a failed upload: %v", steps)
	}
	// Nothing half-written stands under the final names.
	for _, name := range []string{"compose.yml", "bootstrap.sh"} {
		if _, err := os.Stat(filepath.Join(f.m.RemoteDir, "o4", name)); err == nil {
			t.Fatalf("%s is in place after a failed upload", name)
		}
	}
	drop = false
	pg, _, err := f.bootstrap(t, "o4", 3)
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, pg, 3)
	for a, n := range f.m.State(t).Funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times", a, n)
		}
	}
}

// A host whose first boot failed to install Docker is named at once, with
// the cause its first boot wrote, instead of being waited on until the
// activity times out.
func TestBootstrapNamesAHostWhoseRuntimeFailedToInstall(t *testing.T) {
	f := newFixture(t)
	if err := os.Remove(f.m.ReadyMarker); err != nil {
		t.Fatal(err)
	}
	cause := "installing Docker 28.2.2 failed: see /var/log/lnplaylive-docker-install.log"
	if err := os.WriteFile(infra.FailedMarker(f.m.ReadyMarker), []byte(cause+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, steps, err := f.bootstrap(t, "broken", 8)
	var re *RuntimeError
	if !errors.As(err, &re) || re.Cause != cause || !strings.Contains(err.Error(), "replace the host") {
		t.Fatalf("got %v (steps %v)", err, steps)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("named after %s", took)
	}
	if n := callsOf(t, f.m, "up"); n != 0 {
		t.Fatalf("compose up ran %d times on a host without a runtime", n)
	}
}
