package order

import (
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
)

// ProxyTargetReply is lnplaylive-proxytarget's answer: the live order a
// node address belongs to. The attendees' websocket proxy relays only to
// such an address, until Until.
type ProxyTargetReply struct {
	InvoiceID ID     `json:"invoice_id"`
	Node      int    `json:"node"`  // the node's index in its order
	Until     string `json:"until"` // the order's vm_expiration_date
}

// ErrNotALiveNode: no provisioned, unexpired order has a node listening
// at the address asked about.
var ErrNotALiveNode = errors.New("not the Lightning port of a node of a live order")

// DefaultP2PPort is the port Clams's proxy protocol assumes when a target
// names none (Lightning's own).
const DefaultP2PPort = 9735

// ParseProxyTarget reads {"address": "host:port"} (named, or the one
// positional parameter): the target an attendee's wallet asked the proxy
// for, in Clams Remote's form (<host>[:<port>]).
func ParseProxyTarget(raw json.RawMessage) (host string, port int, err error) {
	var named struct {
		Address *string `json:"address"`
	}
	var positional []string
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if json.Unmarshal(raw, &positional) != nil || len(positional) != 1 {
			return "", 0, &ParamError{"address", "want one string, host:port"}
		}
		named.Address = &positional[0]
	default:
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if dec.Decode(&named) != nil || named.Address == nil {
			return "", 0, &ParamError{"address", "missing required parameter: host:port"}
		}
	}
	return SplitTarget(*named.Address)
}

// SplitTarget splits host[:port] as Clams's proxy reads it.
func SplitTarget(addr string) (host string, port int, err error) {
	host, p, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		host, p = addr, strconv.Itoa(DefaultP2PPort)
	}
	port, err = strconv.Atoi(p)
	if host == "" || err != nil || port < 1 || port > 65535 {
		return "", 0, &ParamError{"address", "want host:port with a port from 1 to 65535 (got " + strconv.Quote(addr) + ")"}
	}
	return host, port, nil
}
