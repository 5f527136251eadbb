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
// --dev-bitcoind-poll=1 (blocks seen within a second, not 30).
package playground

import (
	"bytes"
	"fmt"
	"regexp"
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
}

// Project is the Compose project name: one per order, so projects of
// several orders can share a host.
func (s Spec) Project() string { return "lnplaylive-" + s.OrderID }

var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// The RPC credentials only ever travel on the project's own network:
// bitcoind's RPC port is not published on the host.
const rpcAuth = `"-rpcuser=lnplaylive", "-rpcpassword=lnplaylive"`

var composeTemplate = template.Must(template.New("compose").Parse(`# lnplaylive playground for order {{.OrderID}}; generated, do not edit.
name: {{.Project}}
services:
  bitcoind:
    image: {{.Images.Bitcoind}}
    command: ["bitcoind", "-regtest", "-server", "-txindex=1", "-fallbackfee=0.0002", "-rpcbind=0.0.0.0", "-rpcallowip=0.0.0.0/0", ` + rpcAuth + `]
    volumes: ["bitcoind:/home/bitcoin/.bitcoin"]
    restart: unless-stopped
  miner:
    image: {{.Images.Bitcoind}}
    depends_on: [bitcoind]
    entrypoint: ["sh", "-c", "while true; do bitcoin-cli -regtest -rpcconnect=bitcoind -rpcuser=lnplaylive -rpcpassword=lnplaylive -rpcwallet=lnplaylive -generate 1 >/dev/null 2>&1; sleep 5; done"]
    restart: unless-stopped
{{- range .Nodes}}
  cln-{{.}}:
    image: {{$.Images.CLN}}
    depends_on: [bitcoind]
    command: ["--network=regtest", "--bitcoin-rpcconnect=bitcoind", "--bitcoin-rpcuser=lnplaylive", "--bitcoin-rpcpassword=lnplaylive", "--alias={{$.Alias .}}", "--bind-addr=0.0.0.0:9735", "--bind-addr=ws:0.0.0.0:{{$.Port .}}", "--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1", "--log-level=info"]
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
