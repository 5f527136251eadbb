package playground

import "github.com/lnplaylive/lnplaylive/order"

// Clams Remote's addresses (its src/lib/constants.ts); configuration, so an
// operator can point at a self-hosted Remote or proxy.
const (
	// DefaultClamsApp serves Clams Remote 2.x.
	DefaultClamsApp = "https://app.clams.tech"
	// DefaultClamsProxy is Clams's websocket proxy (Remote 2.6.1's
	// CLAMS_WS_PROXY). A page served over https cannot open ws:, so the app
	// reaches a node through it, and the proxy speaks to the node's
	// Lightning p2p port: no certificate needed. The one before it,
	// wss://api.clams.tech/ws-proxy, was removed in Remote 2.5.1
	// (2024-12-09); order.CurrentClamsProxy maps it for orders that stored it.
	DefaultClamsProxy = "wss://proxy.clams.tech"
	// DefaultClamsBase is the seed's Clams 1.x front end (SPEC §6's
	// connection_strings).
	DefaultClamsBase = "http://app.clams.tech:80"
)

// ClamsURL is order.ClamsURL: the Clams Remote 2.x link of a node.
func ClamsURL(app, proxy, nodeID, host string, p2pPort int, rune, label string) string {
	return order.ClamsURL(app, proxy, nodeID, host, p2pPort, rune, label)
}

// Links is the configuration's link bases, stored once per order.
func (c Config) Links() order.Links {
	return order.Links{ClamsApp: c.ClamsApp, ClamsProxy: c.ClamsProxy, ClamsBase: c.ClamsBase}
}
