package playground

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/internal/playgroundtest"
	"github.com/lnplaylive/lnplaylive/internal/sshdtest"
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
	b := New(Config{Signer: operator, Images: DefaultImages(), ClamsBase: DefaultClamsBase, RemoteDir: m.RemoteDir, ReadyMarker: m.ReadyMarker})
	host := infra.Host{ID: "1", Address: "127.0.0.1", SSHPort: m.SSHD.Port, SSHUser: "root",
		HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))), PortBase: 6000}
	return fixture{m, b, host}
}

var connRE = regexp.MustCompile(`^http://app\.clams\.tech:80/connect\?address=(0[23][0-9a-f]{64})@127\.0\.0\.1:(\d+)&type=direct&value=ws:&rune=([A-Za-z0-9_=-]+)$`)

func (f fixture) bootstrap(t *testing.T, order string, n int) ([]string, []string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var steps []string
	conns, err := f.b.Bootstrap(ctx, order, n, f.host, func(step string, ready int) { steps = append(steps, fmt.Sprintf("%s:%d", step, ready)) })
	return conns, steps, err
}

func checkConns(t *testing.T, conns []string, n int) []string {
	t.Helper()
	if len(conns) != n {
		t.Fatalf("%d connection strings for %d nodes", len(conns), n)
	}
	ids := make([]string, n)
	for i, c := range conns {
		m := connRE.FindStringSubmatch(c)
		if m == nil {
			t.Fatalf("connection string %d has the wrong form", i+1)
		}
		if m[2] != fmt.Sprint(6001+i) {
			t.Fatalf("node %d on port %s", i+1, m[2])
		}
		u, _ := url.Parse(c)
		rune := strings.SplitN(u.RawQuery, "rune=", 2)[1]
		ids[i] = m[1]
		uid := ""
		for j := 0; j < 10 && uid == ""; j++ {
			if CheckRune(rune, fmt.Sprint(j)) == nil {
				uid = fmt.Sprint(j)
			}
		}
		if uid == "" {
			t.Fatalf("node %d's rune does not decode to the SPEC restrictions", i+1)
		}
	}
	return ids
}

func TestBootstrapOverRealSSHDFundsConnectsAndReturnsRestrictedRunes(t *testing.T) {
	f := newFixture(t)
	conns, steps, err := f.bootstrap(t, "o1", 8)
	if err != nil {
		t.Fatalf("%v\nsshd: %s", err, f.m.SSHD.Log())
	}
	ids := checkConns(t, conns, 8)
	st := f.m.State(t)
	if len(st.Funded) != 8 || st.Height < 101 {
		t.Fatalf("funded %v at height %d", st.Funded, st.Height)
	}
	for a, n := range st.Funded {
		if n != 1 || st.Received[a] != 1 {
			t.Fatalf("address %s funded %d times, %v BTC", a, n, st.Received[a])
		}
	}
	joined := strings.Join(steps, " ")
	for _, want := range []string{"uploading:0", "waiting_for_nodes:8", "funding_nodes:8", "creating_runes:8"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("progress %v lacks %s", steps, want)
		}
	}
	connects := 0
	for _, c := range f.m.Calls(t) {
		if strings.Contains(strings.Join(c, " "), " connect ") {
			connects++
		}
	}
	if connects != 7 {
		t.Fatalf("%d connects for 8 nodes", connects)
	}

	// Run again, as a retried activity would: same nodes, no second funding.
	again, _, err := f.bootstrap(t, "o1", 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkConns(t, again, 8); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatal("node ids changed on a second run")
	}
	for a, n := range f.m.State(t).Funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times after a rerun", a, n)
		}
	}
}

func TestConnectionDroppedMidBootstrapIsRetriedWithoutDoubleFunding(t *testing.T) {
	f := newFixture(t)
	f.m.Fault(t, "kill-after sendmany")
	if _, _, err := f.bootstrap(t, "o2", 4); err == nil {
		t.Fatal("the dropped connection was not reported")
	}
	conns, _, err := f.bootstrap(t, "o2", 4)
	if err != nil {
		t.Fatal(err)
	}
	checkConns(t, conns, 4)
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
	_, err := f.b.Bootstrap(ctx, "o4", 3, f.host, func(step string, _ int) {
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
	conns, _, err := f.bootstrap(t, "o4", 3)
	if err != nil {
		t.Fatal(err)
	}
	checkConns(t, conns, 3)
	for a, n := range f.m.State(t).Funded {
		if n != 1 {
			t.Fatalf("address %s funded %d times", a, n)
		}
	}
}
