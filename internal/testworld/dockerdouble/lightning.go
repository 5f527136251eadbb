package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lnplaylive/lnplaylive/internal/testworld/bolt11"
	"github.com/lnplaylive/lnplaylive/internal/testworld/clnschema"
	"github.com/lnplaylive/lnplaylive/internal/testworld/runetest"
)

// node is one Core Lightning node of a project.
type node struct {
	Service  string            `json:"service"`
	Key      string            `json:"key"` // hex private key: the node id is its public key
	Addrs    map[string]string `json:"addrs"`
	Outputs  []*utxo           `json:"outputs"`
	Peers    map[string]bool   `json:"peers"` // by service
	Invoices []*invoice        `json:"invoices"`
	Runes    []storedRune      `json:"runes"`
	RuneUse  map[string]int64  `json:"rune_use"` // unique id → last use, unix ns
	PayIndex int               `json:"pay_index"`
}

type utxo struct {
	Txid    string `json:"txid"`
	Vout    int    `json:"vout"`
	Address string `json:"address"`
	Sat     int64  `json:"sat"`
	Spent   bool   `json:"spent"`
	// Own: the node made this transaction (change), so it knows it before
	// any block; outputs others pay it are seen only once mined.
	Own bool `json:"own"`
}

type invoice struct {
	Label       string `json:"label"`
	Bolt11      string `json:"bolt11"`
	Hash        string `json:"hash"`
	Preimage    string `json:"preimage"`
	Secret      string `json:"secret"`
	AmountMsat  int64  `json:"amount_msat"`
	Description string `json:"description"`
	ExpiresAt   int64  `json:"expires_at"`
	Created     int    `json:"created"`
	PaidAt      int64  `json:"paid_at,omitempty"`
	PayIndex    int    `json:"pay_index,omitempty"`
}

type storedRune struct {
	UniqueID     string `json:"unique_id"`
	Restrictions string `json:"restrictions"` // the rune's text after the id
	Rune         string `json:"rune"`
}

// channel is a channel between two nodes of the project.
type channel struct {
	Opener      string `json:"opener"`
	Peer        string `json:"peer"`
	Sat         int64  `json:"sat"`
	OpenerMsat  int64  `json:"opener_msat"`
	FundingTxid string `json:"funding_txid"`
	Outnum      int    `json:"outnum"`
}

func newNode(service string) *node {
	key, _ := btcec.NewPrivateKey()
	return &node{Service: service, Key: hex.EncodeToString(key.Serialize()), Addrs: map[string]string{},
		Peers: map[string]bool{}, RuneUse: map[string]int64{}}
}

func (nd *node) key() *btcec.PrivateKey {
	b, _ := hex.DecodeString(nd.Key)
	k, _ := btcec.PrivKeyFromBytes(b)
	return k
}

func (nd *node) id() string { return hex.EncodeToString(nd.key().PubKey().SerializeCompressed()) }

// lnError is a JSON-RPC error as lightning-cli prints it.
type lnError struct {
	Code    int
	Message string
}

func (e *lnError) Error() string { return e.Message }

var schemas *clnschema.Set

// lightningCLI answers one lightning-cli invocation on a node: named
// parameters with -k (values parsed as JSON where they are JSON, as
// lightning-cli does), positional ones otherwise.
func (n *net) lightningCLI(st *state, nd *node, argv []string) (string, string, int) {
	if dir, err := clnschema.Dir(); err == nil {
		schemas = clnschema.Load(dir)
	}
	flags, args := splitArgs(argv)
	named := slices.Contains(flags, "-k")
	if len(args) == 0 {
		return "", "", usage(argv)
	}
	method := args[0]
	params := map[string]json.RawMessage{}
	var positional []json.RawMessage
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if named && ok {
			params[k] = jsonValue(v)
		} else {
			positional = append(positional, jsonValue(a))
		}
	}
	if !named {
		names := positionalNames[method]
		for i, v := range positional {
			if i >= len(names) {
				return printError(method, &lnError{-32602, "too many parameters"})
			}
			params[names[i]] = v
		}
	}
	if schemas != nil {
		req, _ := json.Marshal(params)
		if err := schemas.ValidateRequest(method, req); err != nil && !errors.Is(err, os.ErrNotExist) {
			return printError(method, &lnError{-32602, "invalid params: " + err.Error()})
		}
	}
	res, err := n.call(st, nd, method, params)
	if err != nil {
		var le *lnError
		if !errors.As(err, &le) {
			le = &lnError{-1, err.Error()}
		}
		return printError(method, le)
	}
	return validated(method, res)
}

// positionalNames are the parameter orders of the methods the bootstrap
// calls without -k.
var positionalNames = map[string][]string{
	"getinfo": {}, "listfunds": {"spent"}, "listtransactions": {}, "listpeerchannels": {"id"}, "listchannels": {"short_channel_id", "source", "destination"},
	"connect": {"id", "host", "port"}, "pay": {"bolt11", "amount_msat"}, "showrunes": {"rune"},
	"checkrune": {"rune", "nodeid", "method", "params"}, "listinvoices": {"label"}, "newaddr": {"addresstype"},
}

func jsonValue(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func printError(method string, e *lnError) (string, string, int) {
	b, _ := json.MarshalIndent(map[string]any{"code": e.Code, "message": e.Message}, "", "   ")
	return string(b) + "\n", method, 1
}

// validated prints v only after it passes CLN's response schema.
func validated(method string, v any) (string, string, int) {
	b, _ := json.MarshalIndent(v, "", "   ")
	if schemas != nil {
		if err := schemas.ValidateResponse(method, b); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "dockerdouble: own output violates CLN schema:", err)
			return "", method, 3
		}
	}
	return string(b) + "\n", method, 0
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func (n *net) call(st *state, nd *node, method string, p map[string]json.RawMessage) (any, error) {
	switch method {
	case "getinfo":
		active, pending := 0, 0
		for _, c := range n.channelsOf(nd) {
			if n.state(c) == "CHANNELD_NORMAL" {
				active++
			} else {
				pending++
			}
		}
		return map[string]any{"id": nd.id(), "alias": nd.Service, "color": "02bf81", "num_peers": len(nd.Peers),
			"num_pending_channels": pending, "num_active_channels": active, "num_inactive_channels": 0,
			"version": "v25.12.1", "blockheight": n.Height, "network": "regtest", "fees_collected_msat": 0,
			"lightning-dir": "/root/.lightning/regtest", "address": []any{},
			"our_features": map[string]string{"init": "08a0000a8a5961", "node": "88a0000a8a5961", "channel": "", "invoice": "02000002024100"}}, nil
	case "newaddr":
		// From v26 the default is p2tr, and only what was asked for comes
		// back: a caller that parses bech32 must ask for it.
		kind := "p2tr"
		if t, ok := p["addresstype"]; ok {
			kind = str(t)
		}
		out := map[string]string{}
		if kind == "bech32" || kind == "all" {
			a := address(0)
			nd.Addrs[a] = "bech32"
			out["bech32"] = a
		}
		if kind == "p2tr" || kind == "all" {
			a := address(1)
			nd.Addrs[a] = "p2tr"
			out["p2tr"] = a
		}
		if len(out) == 0 {
			return nil, &lnError{-32602, "addresstype: should be one of bech32, p2tr, all"}
		}
		return out, nil
	case "listtransactions":
		return n.walletTransactions(nd), nil
	case "listfunds":
		return n.listFunds(nd), nil
	case "connect":
		peer, err := n.resolve(str(p["id"]), p)
		if err != nil {
			return nil, err
		}
		n.link(nd, peer)
		return map[string]any{"id": peer.id(), "features": "08a0000a8a5961", "direction": "out",
			"address": map[string]any{"type": "ipv4", "address": "172.18.0.2", "port": 9735}}, nil
	case "multifundchannel":
		return n.multifund(nd, p)
	case "listpeerchannels":
		return n.listPeerChannels(nd, str(p["id"])), nil
	case "listchannels":
		return map[string]any{"channels": n.gossip(nd)}, nil
	case "invoice":
		return n.invoice(nd, p)
	case "listinvoices":
		return n.listInvoices(nd, str(p["label"])), nil
	case "pay":
		return n.pay(nd, str(p["bolt11"]))
	case "createrune":
		return nd.createRune(p)
	case "showrunes":
		return nd.showRunes(), nil
	case "checkrune":
		return nd.checkRune(p)
	}
	return nil, &lnError{-32601, "Unknown command '" + method + "'"}
}

// resolve finds a peer from "id@host:port" (or id plus host and port)
// the way the project's network does: host cln-<j> on port 9735 is node j,
// and its key must be the id asked for.
func (n *net) resolve(target string, p map[string]json.RawMessage) (*node, error) {
	id, hostport, ok := strings.Cut(target, "@")
	if !ok && p["host"] != nil {
		hostport, ok = str(p["host"])+":"+str(p["port"]), true
	}
	for _, nd := range n.Nodes {
		if nd.id() != id {
			continue
		}
		if !ok {
			return nd, nil
		}
		host, port, _ := strings.Cut(hostport, ":")
		if host == nd.Service && (port == "" || port == "9735") {
			return nd, nil
		}
		return nil, &lnError{401, fmt.Sprintf("All addresses failed: %s: Connection refused", hostport)}
	}
	if !ok {
		return nil, &lnError{401, "Unable to connect, no address known for peer"}
	}
	return nil, &lnError{401, fmt.Sprintf("All addresses failed: %s: Cryptographic handshake: peer closed connection (wrong key?)", hostport)}
}

func (n *net) link(a, b *node) { a.Peers[b.Service], b.Peers[a.Service] = true, true }

func (n *net) channelsOf(nd *node) []*channel {
	var out []*channel
	for _, c := range n.Channels {
		if c.Opener == nd.Service || c.Peer == nd.Service {
			out = append(out, c)
		}
	}
	return out
}

// state: usable after CLN's default 3 confirmations.
func (n *net) state(c *channel) string {
	if n.confirmations(c.FundingTxid) >= 3 {
		return "CHANNELD_NORMAL"
	}
	return "CHANNELD_AWAITING_LOCKIN"
}

func (n *net) scid(c *channel) string {
	at := n.Mined[c.FundingTxid]
	return fmt.Sprintf("%dx%dx%d", at[0], at[1], c.Outnum)
}

func channelID(c *channel) string {
	sum := sha256.Sum256([]byte(c.FundingTxid + strconv.Itoa(c.Outnum)))
	return hex.EncodeToString(sum[:])
}

func (n *net) confirmedSat(nd *node) int64 {
	var sat int64
	for _, u := range nd.Outputs {
		if !u.Spent && n.confirmations(u.Txid) >= 1 {
			sat += u.Sat
		}
	}
	return sat
}

func (n *net) listFunds(nd *node) any {
	outputs := []map[string]any{}
	for _, u := range nd.Outputs {
		conf := n.confirmations(u.Txid)
		if u.Spent || (conf == 0 && !u.Own) {
			continue
		}
		o := map[string]any{"txid": u.Txid, "output": u.Vout, "amount_msat": u.Sat * 1000, "address": u.Address,
			"scriptpubkey": "0014" + strings.Repeat("00", 20), "status": "unconfirmed", "reserved": false}
		if conf > 0 {
			o["status"], o["blockheight"] = "confirmed", n.Mined[u.Txid][0]
		}
		outputs = append(outputs, o)
	}
	channels := []map[string]any{}
	for _, c := range n.channelsOf(nd) {
		peer, ours := n.ends(nd, c)
		ch := map[string]any{"peer_id": n.Nodes[peer].id(), "our_amount_msat": ours, "amount_msat": c.Sat * 1000,
			"funding_txid": c.FundingTxid, "funding_output": c.Outnum, "connected": true, "state": n.state(c), "channel_id": channelID(c)}
		if n.confirmations(c.FundingTxid) > 0 {
			ch["short_channel_id"] = n.scid(c)
		}
		channels = append(channels, ch)
	}
	return map[string]any{"outputs": outputs, "channels": channels}
}

// ends is the other end of c and what nd holds in it.
func (n *net) ends(nd *node, c *channel) (string, int64) {
	if c.Opener == nd.Service {
		return c.Peer, c.OpenerMsat
	}
	return c.Opener, c.Sat*1000 - c.OpenerMsat
}

type destination struct {
	ID       string `json:"id"`
	Amount   int64  `json:"amount"`
	PushMsat int64  `json:"push_msat"`
}

// multifund opens one channel per destination in one funding transaction,
// from confirmed funds, as CLN does; CLN happily opens a second channel to
// a peer it already has one with, and so does this.
func (n *net) multifund(nd *node, p map[string]json.RawMessage) (any, error) {
	var dests []destination
	if err := json.Unmarshal(p["destinations"], &dests); err != nil || len(dests) == 0 {
		return nil, &lnError{-32602, "destinations: should be a non-empty array of {id, amount}"}
	}
	seen := map[string]bool{}
	peers := make([]*node, len(dests))
	var total int64
	for k, d := range dests {
		peer, err := n.resolve(d.ID, nil)
		if err != nil {
			return nil, err
		}
		if peer == nd {
			return nil, &lnError{-32602, "destinations: cannot open a channel to ourselves"}
		}
		if seen[peer.Service] {
			return nil, &lnError{-32602, "Duplicate destination: " + peer.id()}
		}
		seen[peer.Service] = true
		if d.Amount < 10_000 {
			return nil, &lnError{-32602, fmt.Sprintf("amount %d is below the minimum channel size", d.Amount)}
		}
		if d.PushMsat < 0 || d.PushMsat > d.Amount*1000 {
			return nil, &lnError{-32602, "push_msat is more than the channel"}
		}
		peers[k] = peer
		total += d.Amount
	}
	fee := int64(300 * (len(dests) + 2))
	have := n.confirmedSat(nd)
	if total+fee > have {
		return nil, &lnError{301, fmt.Sprintf("Could not afford %dsat using all %d available UTXOs: %dsat short", total+fee, len(nd.Outputs), total+fee-have)}
	}
	txid := newTxid()
	for _, u := range nd.Outputs {
		if !u.Spent && n.confirmations(u.Txid) >= 1 {
			u.Spent = true
		}
	}
	change := address(0)
	nd.Addrs[change] = "bech32"
	nd.Outputs = append(nd.Outputs, &utxo{Txid: txid, Vout: len(dests), Address: change, Sat: have - total - fee, Own: true})
	var ids []map[string]any
	for k, d := range dests {
		c := &channel{Opener: nd.Service, Peer: peers[k].Service, Sat: d.Amount, OpenerMsat: d.Amount*1000 - d.PushMsat, FundingTxid: txid, Outnum: k}
		n.Channels = append(n.Channels, c)
		n.link(nd, peers[k])
		ids = append(ids, map[string]any{"id": peers[k].id(), "channel_id": channelID(c), "outnum": k,
			"channel_type": map[string]any{"bits": []int{12, 22}, "names": []string{"static_remotekey/even", "anchors/even"}}})
	}
	n.broadcast(txid)
	return map[string]any{"tx": modelRawTx(txid), "txid": txid, "channel_ids": ids}, nil
}

// walletTransactions is lightningd's wallet record of the funding
// transactions the node made, raw as multifundchannel returned them: what
// is there to broadcast again when bitcoind lost them.
func (n *net) walletTransactions(nd *node) any {
	txs := []map[string]any{}
	seen := map[string]bool{}
	for _, c := range n.Channels {
		if c.Opener != nd.Service || seen[c.FundingTxid] {
			continue
		}
		seen[c.FundingTxid] = true
		at := n.Mined[c.FundingTxid]
		txs = append(txs, map[string]any{"hash": c.FundingTxid, "rawtx": modelRawTx(c.FundingTxid), "blockheight": at[0], "txindex": at[1],
			"locktime": 0, "version": 2, "inputs": []any{}, "outputs": []any{}})
	}
	return map[string]any{"transactions": txs}
}

// modelRawTx is the model's stand-in for a signed transaction: a version
// prefix and the txid, which bitcoind's sendrawtransaction reads back.
func modelRawTx(txid string) string { return "02000000" + txid }

func (n *net) listPeerChannels(nd *node, only string) any {
	out := []map[string]any{}
	for _, c := range n.channelsOf(nd) {
		peer, ours := n.ends(nd, c)
		pid := n.Nodes[peer].id()
		if only != "" && only != pid {
			continue
		}
		opener := "remote"
		if c.Opener == nd.Service {
			opener = "local"
		}
		ch := map[string]any{"peer_id": pid, "peer_connected": true, "state": n.state(c), "opener": opener,
			"features": []string{"option_static_remotekey", "option_anchors"}, "channel_id": channelID(c),
			"funding_txid": c.FundingTxid, "funding_outnum": c.Outnum, "total_msat": c.Sat * 1000,
			"to_us_msat": ours, "spendable_msat": ours, "receivable_msat": c.Sat*1000 - ours}
		if n.confirmations(c.FundingTxid) > 0 {
			// BOLT 7: direction 0 belongs to the lesser node id.
			ch["short_channel_id"], ch["direction"] = n.scid(c), 0
			if nd.id() > pid {
				ch["direction"] = 1
			}
		}
		out = append(out, ch)
	}
	return map[string]any{"channels": out}
}

// announced: public after 6 confirmations, and then gossiped within a
// second with --dev-fast-gossip, a minute without.
func (n *net) announced(c *channel) bool {
	conf := n.confirmations(c.FundingTxid)
	if conf < 6 {
		return false
	}
	delay := time.Minute
	if n.FastGossip {
		delay = time.Second
	}
	at := n.MinedAt[n.Mined[c.FundingTxid][0]+5]
	return time.Since(time.UnixMilli(at)) >= delay
}

// gossip is what nd knows of the network: every announced channel it can
// hear of through its peers (gossip travels over peer connections).
func (n *net) gossip(nd *node) []map[string]any {
	reach := map[string]bool{nd.Service: true}
	queue := []string{nd.Service}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for v := range n.Nodes[u].Peers {
			if !reach[v] {
				reach[v] = true
				queue = append(queue, v)
			}
		}
	}
	out := []map[string]any{}
	for _, c := range n.Channels {
		if !reach[c.Opener] || !n.announced(c) {
			continue
		}
		a, b := n.Nodes[c.Opener].id(), n.Nodes[c.Peer].id()
		if a > b {
			a, b = b, a
		}
		for dir, ends := range [][2]string{{a, b}, {b, a}} {
			out = append(out, map[string]any{"source": ends[0], "destination": ends[1], "short_channel_id": n.scid(c),
				"direction": dir, "public": true, "amount_msat": c.Sat * 1000, "message_flags": 1, "channel_flags": dir,
				"active": true, "last_update": time.Now().Unix(), "base_fee_millisatoshi": 1, "fee_per_millionth": 10,
				"delay": 6, "htlc_minimum_msat": 0, "htlc_maximum_msat": c.Sat * 990, "features": ""})
		}
	}
	return out
}

func (n *net) invoice(nd *node, p map[string]json.RawMessage) (any, error) {
	label := str(p["label"])
	for _, inv := range nd.Invoices {
		if inv.Label == label {
			return nil, &lnError{900, fmt.Sprintf("Duplicate label '%s'", label)}
		}
	}
	msat, err := strconv.ParseInt(str(p["amount_msat"]), 10, 64)
	if err != nil || msat <= 0 {
		return nil, &lnError{-32602, "amount_msat: should be a millisatoshi amount"}
	}
	preimage, secret := newTxid(), newTxid()
	pre, _ := hex.DecodeString(preimage)
	hash := sha256.Sum256(pre)
	inv := bolt11.Invoice{Network: "bcrt", AmountMsat: uint64(msat), Timestamp: time.Now(), PaymentHash: hash,
		Description: str(p["description"]), Expiry: 7 * 24 * time.Hour}
	sec, _ := hex.DecodeString(secret)
	copy(inv.PaymentSecret[:], sec)
	b11, err := bolt11.Encode(inv, nd.key())
	if err != nil {
		return nil, err
	}
	rec := &invoice{Label: label, Bolt11: b11, Hash: hex.EncodeToString(hash[:]), Preimage: preimage, Secret: secret,
		AmountMsat: msat, Description: inv.Description, ExpiresAt: inv.Timestamp.Add(inv.Expiry).Unix(), Created: len(nd.Invoices) + 1}
	nd.Invoices = append(nd.Invoices, rec)
	return map[string]any{"bolt11": b11, "payment_hash": rec.Hash, "payment_secret": secret, "expires_at": rec.ExpiresAt, "created_index": rec.Created}, nil
}

func (n *net) listInvoices(nd *node, label string) any {
	out := []map[string]any{}
	for _, inv := range nd.Invoices {
		if label != "" && inv.Label != label {
			continue
		}
		e := map[string]any{"label": inv.Label, "bolt11": inv.Bolt11, "payment_hash": inv.Hash, "amount_msat": inv.AmountMsat,
			"status": "unpaid", "description": inv.Description, "expires_at": inv.ExpiresAt, "created_index": inv.Created}
		if inv.PaidAt != 0 {
			e["status"], e["pay_index"], e["amount_received_msat"], e["paid_at"], e["payment_preimage"], e["updated_index"] =
				"paid", inv.PayIndex, inv.AmountMsat, inv.PaidAt, inv.Preimage, inv.PayIndex
		}
		out = append(out, e)
	}
	return map[string]any{"invoices": out}
}

// pay routes over what the payer knows (its own channels and the gossip it
// has heard), on the fewest hops whose balances can carry the amount, and
// moves the balances; no route is CLN's 205.
func (n *net) pay(nd *node, b11 string) (any, error) {
	inv, err := bolt11.Decode(b11)
	if err != nil {
		return nil, &lnError{-32602, "bolt11: Invalid bolt11: " + err.Error()}
	}
	payee := hex.EncodeToString(inv.Payee.SerializeCompressed())
	var dst *node
	var rec *invoice
	for _, cand := range n.Nodes {
		if cand.id() == payee {
			dst = cand
			for _, r := range cand.Invoices {
				if r.Hash == hex.EncodeToString(inv.PaymentHash[:]) {
					rec = r
				}
			}
		}
	}
	if dst == nd {
		return nil, &lnError{-32602, "This payment is destined for ourselves. Self-payments are not supported"}
	}
	if dst == nil || rec == nil {
		return nil, &lnError{205, "Could not find a route: unknown destination " + payee}
	}
	result := func() map[string]any {
		return map[string]any{"destination": payee, "payment_hash": rec.Hash, "created_at": float64(time.Now().Unix()),
			"parts": 1, "amount_msat": rec.AmountMsat, "amount_sent_msat": rec.AmountMsat, "payment_preimage": rec.Preimage, "status": "complete"}
	}
	if rec != nil && rec.PaidAt != 0 {
		return result(), nil
	}
	known := map[*channel]bool{}
	for _, c := range n.channelsOf(nd) {
		known[c] = n.state(c) == "CHANNELD_NORMAL"
	}
	for _, g := range n.gossip(nd) {
		for _, c := range n.Channels {
			if n.confirmations(c.FundingTxid) > 0 && n.scid(c) == g["short_channel_id"] {
				known[c] = true
			}
		}
	}
	msat := int64(inv.AmountMsat)
	prev := map[string]*channel{nd.Service: nil}
	queue := []string{nd.Service}
	for len(queue) > 0 && prev[dst.Service] == nil {
		u := queue[0]
		queue = queue[1:]
		for c, ok := range known {
			if !ok {
				continue
			}
			if c.Opener != u && c.Peer != u {
				continue
			}
			v, canSend := n.ends(n.Nodes[u], c)
			if _, seen := prev[v]; seen || canSend < msat {
				continue
			}
			prev[v] = c
			queue = append(queue, v)
		}
	}
	if prev[dst.Service] == nil {
		return nil, &lnError{205, fmt.Sprintf("Could not find a route to %s for %dmsat with enough capacity", payee, msat)}
	}
	for v := dst.Service; v != nd.Service; {
		c := prev[v]
		if c.Peer == v {
			c.OpenerMsat -= msat
			v = c.Opener
		} else {
			c.OpenerMsat += msat
			v = c.Peer
		}
	}
	dst.PayIndex++
	rec.PaidAt, rec.PayIndex = time.Now().Unix(), dst.PayIndex
	return result(), nil
}

// The double's runes are authenticated with a per-node HMAC: what matters
// here is what they allow, decided by CLN's condition language.
func (nd *node) runeOf(text string) string {
	mac := hmac.New(sha256.New, []byte(nd.Key))
	mac.Write([]byte(text))
	return base64.URLEncoding.EncodeToString(append(mac.Sum(nil), text...))
}

func (nd *node) createRune(p map[string]json.RawMessage) (any, error) {
	var lists [][]string
	if err := json.Unmarshal(p["restrictions"], &lists); err != nil {
		return nil, &lnError{-32602, "restrictions: should be an array of arrays of strings"}
	}
	if _, err := runetest.FromJSON(lists); err != nil {
		return nil, &lnError{-32602, "restrictions: " + err.Error()}
	}
	parts := make([]string, len(lists))
	for i, alts := range lists {
		parts[i] = strings.Join(alts, "|")
	}
	uid := strconv.Itoa(len(nd.Runes))
	text := "=" + uid
	if len(parts) > 0 {
		text += "&" + strings.Join(parts, "&")
	}
	r := storedRune{UniqueID: uid, Restrictions: strings.Join(parts, "&"), Rune: nd.runeOf(text)}
	nd.Runes = append(nd.Runes, r)
	return map[string]any{"rune": r.Rune, "unique_id": uid}, nil
}

func (nd *node) showRunes() any {
	out := []map[string]any{}
	for _, r := range nd.Runes {
		_, restr, _ := runetest.Parse("=" + r.UniqueID + "&" + r.Restrictions)
		var rs []map[string]any
		for _, alts := range restr {
			var as []map[string]any
			for _, a := range alts {
				as = append(as, map[string]any{"fieldname": a.Field, "value": a.Value, "condition": string(a.Op), "english": a.String()})
			}
			rs = append(rs, map[string]any{"alternatives": as, "english": r.Restrictions})
		}
		if rs == nil {
			rs = []map[string]any{}
		}
		out = append(out, map[string]any{"rune": r.Rune, "unique_id": r.UniqueID, "restrictions": rs,
			"restrictions_as_english": r.Restrictions})
	}
	return map[string]any{"runes": out}
}

// checkRune: a rune this node did not make is refused; one it made is
// judged by its restrictions, rate limits included.
func (nd *node) checkRune(p map[string]json.RawMessage) (any, error) {
	raw, err := base64.URLEncoding.DecodeString(str(p["rune"]))
	if err != nil || len(raw) <= 32 || nd.runeOf(string(raw[32:])) != str(p["rune"]) {
		return nil, &lnError{1501, "Not authorized: Not derived from master"}
	}
	uid, restr, err := runetest.Parse(string(raw[32:]))
	if err != nil {
		return nil, &lnError{1501, "Not authorized: " + err.Error()}
	}
	params := p["params"]
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage(`{}`)
	}
	usage := runetest.Usage{}
	for k, ns := range nd.RuneUse {
		usage[k] = time.Unix(0, ns)
	}
	if err := runetest.Check(uid, restr, runetest.Call{Method: str(p["method"]), Params: params, PeerID: str(p["nodeid"]), Now: time.Now()}, usage); err != nil {
		return nil, &lnError{1502, err.Error()}
	}
	nd.RuneUse[uid] = usage[uid].UnixNano()
	return map[string]any{"valid": true}, nil
}
