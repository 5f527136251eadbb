// Package playground defines what runs on an order's machine and how it is
// brought up: a Compose project with one regtest bitcoind (a block every 5
// seconds) and N Core Lightning nodes, the channels between them, the
// script that funds, connects and opens them and proves a payment routes,
// the customers' runes and Clams links, and the Bootstrapper that does it
// all over SSH.
//
// The nodes run with --developer for two of CLN's developer options, both
// made for regtest: --dev-fast-gossip (gossip every second instead of
// every minute, so a new channel is routable in seconds) and
// --dev-bitcoind-poll (blocks seen within a second or three, not 30; it
// slows with the node count, see PollSeconds).
package playground

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"text/template"
)

// Images are the container images, pinned by version (configuration).
type Images struct {
	Bitcoind string
	CLN      string
}

// DefaultImages are versions known to work together.
func DefaultImages() Images {
	return Images{Bitcoind: "polarlightning/bitcoind:27.0", CLN: "elementsproject/lightningd:v25.12.1"}
}

// Spec is one order's playground.
type Spec struct {
	OrderID   string
	NodeCount int
	// PortBase: node i serves its websocket on PortBase+i of the host,
	// and its Lightning p2p port on P2PPortBase+i.
	PortBase    int
	P2PPortBase int
	Images      Images
	// Sizing overrides the sizing by node count, field by field.
	Sizing Sizing
}

// Sizing is bitcoind's RPC capacity and the nodes' poll interval. A zero
// field is sized by node count.
type Sizing struct {
	RPCThreads, RPCWorkQueue, PollSeconds int
}

// Bitcoin Core 27's defaults and the poll the playground had before issue
// 21: what make bench compares with.
var DefaultsBeforeSizing = Sizing{RPCThreads: 4, RPCWorkQueue: 16, PollSeconds: 1}

func or(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// Project is the Compose project name: one per order, so projects of
// several orders can share a host.
func (s Spec) Project() string { return "lnplaylive-" + s.OrderID }

var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// The RPC credentials only ever travel on the project's own network:
// bitcoind's RPC port is not published on the host.
const rpcAuth = `"-rpcuser=lnplaylive", "-rpcpassword=lnplaylive"`

// minerLoop mines a block every 5 seconds, for ever, and has bitcoind
// write its chain state to disk after each (gettxoutsetinfo flushes it):
// Bitcoin Core otherwise flushes about hourly, and a host that loses power
// comes back with bitcoind at the last flush, far behind its nodes, which
// then refuse to start ("bitcoind has gone backwards"). A failure is logged
// (docker logs), once per distinct message, never swallowed; a wallet that
// is not loaded (bitcoind restarted before -wallet could load it, or the
// bootstrap has not made it yet) is loaded, so the miner recovers by
// itself. `$$` is Compose's escape for a literal `$`.
const minerLoop = `cli() { bitcoin-cli -regtest -rpcconnect=bitcoind -rpcuser=lnplaylive -rpcpassword=lnplaylive "$$@"; }; ` +
	`last=; while true; do ` +
	`if out=$$(cli -rpcwallet=lnplaylive -generate 1 2>&1); then last=; cli gettxoutsetinfo none >/dev/null 2>&1; else ` +
	`[ "$$out" = "$$last" ] || echo "miner: $$(date -u +%FT%TZ) $$out" >&2; last=$$out; ` +
	`case "$$out" in *"not loaded"*|*"does not exist"*) cli -named loadwallet filename=lnplaylive load_on_startup=true >/dev/null 2>&1 || true ;; esac; ` +
	`fi; sleep 5; done`

// Every service runs with `init: true`: a PID 1 that forwards SIGTERM, so
// `docker stop` (and `compose down`) takes as long as the service needs,
// not the 10 s grace period. The miner's `sh -c` loop needs it (on the real
// engine: 10.1 s to stop without, 0.2 s with); for the CLN services, which
// run lightningd itself as their entrypoint (it handles SIGTERM as PID 1),
// it changes nothing (0.3 s either way), and it would again if the image's
// own entrypoint came back (bash as PID 1 with no trap). lightningd is the
// entrypoint because the image's prepends --network=bitcoin, which only a
// later --network overrides.
var composeTemplate = template.Must(template.New("compose").Parse(`# lnplaylive playground for order {{.OrderID}}; generated, do not edit.
name: {{.Project}}
services:
  bitcoind:
    image: {{.Images.Bitcoind}}
    init: true
    # -wallet loads the miner's wallet on every start (Bitcoin Core skips
    # it, with a warning, until the bootstrap has made it). RPC threads and
    # work queue are sized for {{.NodeCount}} polling nodes.
    command: ["bitcoind", "-regtest", "-server", "-txindex=1", "-fallbackfee=0.0002", "-rpcbind=0.0.0.0", "-rpcallowip=0.0.0.0/0", ` + rpcAuth + `, "-wallet=lnplaylive", "-rpcthreads={{.RPCThreads}}", "-rpcworkqueue={{.RPCWorkQueue}}"]
    volumes: ["bitcoind:/home/bitcoin/.bitcoin"]
    restart: unless-stopped
  miner:
    image: {{.Images.Bitcoind}}
    depends_on: [bitcoind]
    init: true
    entrypoint: ["sh", "-c", {{.MinerLoop}}]
    restart: unless-stopped
{{- range .Nodes}}
  cln-{{.}}:
    image: {{$.Images.CLN}}
    depends_on: [bitcoind]
    init: true
    entrypoint: ["lightningd"]
    command: ["--network=regtest", "--bitcoin-rpcconnect=bitcoind", "--bitcoin-rpcuser=lnplaylive", "--bitcoin-rpcpassword=lnplaylive", "--alias={{$.Alias .}}", "--bind-addr=0.0.0.0:9735", "--announce-addr=dns:cln-{{.}}:9735", "--bind-addr=ws:0.0.0.0:{{$.Port .}}", "--developer", "--dev-fast-gossip", "--dev-bitcoind-poll={{$.PollSeconds}}", "--log-level=info"]
    ports: ["{{$.Port .}}:{{$.Port .}}", "{{$.P2PPort .}}:9735"]
    volumes: ["cln-{{.}}:/root/.lightning"]
    restart: unless-stopped
{{- end}}
volumes:
  bitcoind: {}
{{- range .Nodes}}
  cln-{{.}}: {}
{{- end}}
`))

// MinerLoop is the miner's script, quoted for the compose file.
func (s Spec) MinerLoop() string { return strconv.Quote(minerLoop) }

// Every node's bcli plugin polls bitcoind each --dev-bitcoind-poll seconds:
// a tip poll and a fee poll (getmempoolinfo and four estimatesmartfee),
// each a new bitcoin-cli, up to four at once. Bitcoin Core 27 serves 4
// RPC threads and queues 16 calls; a full queue answers HTTP 503, which
// neither bitcoin-cli nor lightningd's start-up check retries. So the
// queue holds every node's burst, the threads grow with the nodes, and
// the poll slows above 24 nodes. make bench measures it (issue 21).

// RPCThreads is bitcoind's -rpcthreads for the spec's node count.
func (s Spec) RPCThreads() int { return or(s.Sizing.RPCThreads, max(4, s.NodeCount/4)) }

// RPCWorkQueue is bitcoind's -rpcworkqueue: every node's four parallel
// calls at once, twice over.
func (s Spec) RPCWorkQueue() int { return or(s.Sizing.RPCWorkQueue, max(16, 8*s.NodeCount)) }

// PollSeconds is the nodes' --dev-bitcoind-poll.
func (s Spec) PollSeconds() int { return or(s.Sizing.PollSeconds, 1+s.NodeCount/24) }

// Nodes lists 1..NodeCount for the template.
func (s Spec) Nodes() []int {
	n := make([]int, s.NodeCount)
	for i := range n {
		n[i] = i + 1
	}
	return n
}

// Port is node i's websocket port on the host.
func (s Spec) Port(i int) int { return s.PortBase + i }

// P2PPort is node i's Lightning p2p port on the host.
func (s Spec) P2PPort(i int) int { return s.P2PPortBase + i }

// Alias is node i's friendly name.
func (s Spec) Alias(i int) string { return Alias(i) }

// ComposeFile renders the project's compose.yml.
func (s Spec) ComposeFile() ([]byte, error) {
	if !projectName.MatchString(s.Project()) || s.NodeCount < 1 || s.NodeCount > len(aliases) ||
		s.PortBase < 1 || s.PortBase+s.NodeCount > 65535 || s.P2PPortBase < 1 || s.P2PPortBase+s.NodeCount > 65535 ||
		(s.PortBase < s.P2PPortBase+s.NodeCount && s.P2PPortBase < s.PortBase+s.NodeCount) {
		return nil, fmt.Errorf("playground: invalid spec %+v", s)
	}
	var b bytes.Buffer
	if err := composeTemplate.Execute(&b, s); err != nil {
		return nil, fmt.Errorf("playground: render compose file: %w", err)
	}
	return b.Bytes(), nil
}
