package playground

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Clams Remote's addresses (its src/lib/constants.ts); configuration, so an
// operator can point at a self-hosted Remote or proxy.
const (
	// DefaultClamsApp serves Clams Remote 2.x.
	DefaultClamsApp = "https://app.clams.tech"
	// DefaultClamsProxy is Clams's websocket proxy. A page served over
	// https cannot open ws:, so the app reaches a node through it, and the
	// proxy speaks to the node's Lightning p2p port: no certificate needed.
	DefaultClamsProxy = "wss://api.clams.tech/ws-proxy"
	// DefaultClamsBase is the seed's Clams 1.x front end (SPEC §6's
	// connection_strings).
	DefaultClamsBase = "http://app.clams.tech:80"
)

// clamsConfiguration is the coreln wallet configuration Clams Remote's
// /wallets/add reads (SPEC §6), in its field order.
type clamsConfiguration struct {
	Address    string          `json:"address"`
	Connection clamsConnection `json:"connection"`
	Token      string          `json:"token"`
}

type clamsConnection struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ClamsURL is the Clams Remote 2.x link that adds a node as a wallet,
// connecting through the proxy to its p2p port.
func ClamsURL(app, proxy, nodeID, host string, p2pPort int, rune, label string) string {
	conf, _ := json.Marshal(clamsConfiguration{
		Address:    nodeID + "@" + net.JoinHostPort(host, strconv.Itoa(p2pPort)),
		Connection: clamsConnection{Type: "proxy", Value: proxy},
		Token:      rune,
	})
	q := url.Values{"type": {"coreln"}, "configuration": {string(conf)}, "label": {label}}
	// url.Values sorts its keys; Clams reads them by name.
	return strings.TrimRight(app, "/") + "/wallets/add?" + q.Encode()
}

// ConnectionString is the seed's Clams 1.x link for one node (SPEC §6's
// connection_strings, kept for front ends written against it).
func ConnectionString(base, nodeID, address string, wsPort int, rune string) string {
	return fmt.Sprintf("%s/connect?address=%s@%s:%d&type=direct&value=ws:&rune=%s",
		strings.TrimRight(base, "/"), nodeID, address, wsPort, rune)
}
