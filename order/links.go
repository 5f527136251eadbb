package order

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Links is where an order's nodes are opened: Clams Remote's app and its
// websocket proxy, and the seed's Clams 1.x front end. An order stores it
// once; each node's links are made from it and the node (ClamsURL,
// ConnectionString) whenever a status is answered, so a rune is stored
// once, in its node.
type Links struct {
	ClamsApp   string `json:"clams_app"`
	ClamsProxy string `json:"clams_proxy"`
	ClamsBase  string `json:"clams_base"`
}

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

// retiredClamsProxies are proxies Clams has taken down, with the one that
// replaced each: orders store where their links point, and a live order
// (up to 504 hours) may have stored one before it went.
var retiredClamsProxies = map[string]string{
	// Removed in Remote 2.5.1 (2024-12-09); 2.6.1 (2025-08-09) brought
	// CLAMS_WS_PROXY back at this address.
	"wss://api.clams.tech/ws-proxy": "wss://proxy.clams.tech",
}

// CurrentClamsProxy is proxy, or what replaced it if Clams retired it.
func CurrentClamsProxy(proxy string) string {
	if now, ok := retiredClamsProxies[strings.TrimRight(proxy, "/")]; ok {
		return now
	}
	return proxy
}

// ClamsURL is the Clams Remote 2.x link that adds a node as a wallet,
// connecting through the proxy to its p2p port. larp=true asks for
// Remote's workshop mode (made for lnplay, Remote PR #253): a session with
// a fixed passphrase and one wallet, so an attendee lands on the wallet
// instead of a "create a secure passphrase" page.
func ClamsURL(app, proxy, nodeID, host string, p2pPort int, rune, label string) string {
	conf, _ := json.Marshal(clamsConfiguration{
		Address:    nodeID + "@" + net.JoinHostPort(host, strconv.Itoa(p2pPort)),
		Connection: clamsConnection{Type: "proxy", Value: CurrentClamsProxy(proxy)},
		Token:      rune,
	})
	q := url.Values{"type": {"coreln"}, "configuration": {string(conf)}, "label": {label}, "larp": {"true"}}
	// url.Values sorts its keys; Clams reads them by name.
	return strings.TrimRight(app, "/") + "/wallets/add?" + q.Encode()
}

// ConnectionString is the seed's Clams 1.x link for one node (SPEC §6's
// connection_strings, kept for front ends written against it).
func ConnectionString(base, nodeID, address string, wsPort int, rune string) string {
	return fmt.Sprintf("%s/connect?address=%s@%s:%d&type=direct&value=ws:&rune=%s",
		strings.TrimRight(base, "/"), nodeID, address, wsPort, rune)
}

// Linked is d as it is served: each node's Clams link and the seed's
// connection_strings made from the stored nodes and l. A deployment stored
// before links were derived (l nil) already carries them, and is returned
// as it is; so is one without nodes. d is not modified.
func (d *Deployment) Linked(l *Links) *Deployment {
	if d == nil || l == nil || len(d.Nodes) == 0 {
		return d
	}
	out := *d
	out.Nodes = make([]Node, len(d.Nodes))
	out.ConnectionStrings = make([]string, len(d.Nodes))
	for i, n := range d.Nodes {
		n.ClamsURL = ClamsURL(l.ClamsApp, l.ClamsProxy, n.ID, n.Host, n.P2PPort, n.Rune, n.Alias)
		out.Nodes[i] = n
		out.ConnectionStrings[i] = ConnectionString(l.ClamsBase, n.ID, n.Host, n.WSPort, n.Rune)
	}
	return &out
}

// Unlinked is d as it is stored: the nodes without their links (made again
// by Linked). d is not modified.
func (d *Deployment) Unlinked() *Deployment {
	if d == nil {
		return nil
	}
	out := *d
	out.ConnectionStrings = nil
	if d.Nodes != nil {
		out.Nodes = make([]Node, len(d.Nodes))
		for i, n := range d.Nodes {
			n.ClamsURL = ""
			out.Nodes[i] = n
		}
	}
	return &out
}
