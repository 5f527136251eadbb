// Package clntest is a lightningd stand-in for tests: it serves the parts of
// lightningd's JSON-RPC socket that lnplaylive calls, with lightningd's
// semantics and error codes, and it runs a plugin binary exactly as
// lightningd does (see plugin.go).
//
// Every request it receives and every result or notification it sends is
// validated against Core Lightning's own JSON schemas (../shared/cln); a
// violation is recorded and fails the test at cleanup, so neither the plugin
// nor this stand-in can drift from the real contract unnoticed.
package clntest

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lnplaylive/lnplaylive/internal/jsonframe"
	"github.com/lnplaylive/lnplaylive/internal/testworld/bolt11"
	"github.com/lnplaylive/lnplaylive/internal/testworld/clnschema"
)

// RPCError is a JSON-RPC error as lightningd returns it.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// Node is one lightningd: an invoice database, a datastore and an RPC socket.
type Node struct {
	t       testing.TB
	Dir     string // the lightning-dir of the network (cwd of plugins)
	RPCFile string // socket name, relative to Dir
	schemas *clnschema.Set
	key     *btcec.PrivateKey
	ln      net.Listener

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every invoice change
	invoices []*invoice
	paid     []*invoice // in pay_index order, for waitanyinvoice
	// nextExpire is the earliest expires_at of an unpaid invoice (0: none),
	// so a request scans the invoices only when one is due.
	nextExpire   int64
	byLabel      map[string]*invoice
	payIndex     uint64
	createdIndex uint64
	updatedIndex uint64
	datastore    map[string]*dsEntry
	violations   []string
	calls        map[string]int
	plugins      []*Plugin
}

type invoice struct {
	label, bolt11, description string
	hash, secret, preimage     [32]byte
	amountMsat                 uint64
	expiresAt                  int64
	createdIndex, updatedIndex uint64
	status                     string
	payIndex, receivedMsat     uint64
	paidAt                     int64
}

type dsEntry struct {
	key        []string
	value      []byte
	generation uint64
}

// NewNode starts a node whose socket lives in a temporary directory.
func NewNode(t testing.TB) *Node {
	t.Helper()
	dir, err := clnschema.Dir()
	if err != nil {
		t.Fatal(err)
	}
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are limited to ~108 bytes: keep the dir short.
	base, err := os.MkdirTemp("", "ln")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{
		t: t, Dir: filepath.Join(base, "regtest"), RPCFile: "lightning-rpc",
		schemas: clnschema.Load(dir), key: key,
		changed: make(chan struct{}), byLabel: map[string]*invoice{},
		datastore: map[string]*dsEntry{}, calls: map[string]int{},
	}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n.ln, err = net.Listen("unix", filepath.Join(n.Dir, n.RPCFile))
	if err != nil {
		t.Fatal(err)
	}
	go n.serve()
	t.Cleanup(func() {
		for _, p := range n.plugins {
			p.Kill()
		}
		n.ln.Close()
		os.RemoveAll(base)
		for _, v := range n.Violations() {
			t.Errorf("lightningd stand-in: %s", v)
		}
	})
	return n
}

// NodeID is the node's public key, as getinfo reports it.
func (n *Node) NodeID() string { return hex.EncodeToString(n.key.PubKey().SerializeCompressed()) }

// Violations lists every contract violation seen so far.
func (n *Node) Violations() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.violations...)
}

func (n *Node) violation(format string, args ...any) {
	n.mu.Lock()
	n.violations = append(n.violations, fmt.Sprintf(format, args...))
	n.mu.Unlock()
}

// Calls reports how many times a method was called on the socket.
func (n *Node) Calls(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[method]
}

// Invoice is an invoice as a test sees it.
type Invoice struct {
	Label, Bolt11, Status, Description string
	AmountMsat, PayIndex               uint64
	ExpiresAt, PaidAt                  int64
}

// Invoices lists all invoices, oldest first.
func (n *Node) Invoices() []Invoice {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expireLocked()
	out := make([]Invoice, 0, len(n.invoices))
	for _, inv := range n.invoices {
		out = append(out, Invoice{inv.label, inv.bolt11, inv.status, inv.description, inv.amountMsat, inv.payIndex, inv.expiresAt, inv.paidAt})
	}
	return out
}

// Pay pays the invoice with that label as a peer would: lightningd marks it
// paid with the next pay_index, then notifies subscribed plugins.
func (n *Node) Pay(label string) error {
	n.mu.Lock()
	n.expireLocked()
	inv := n.byLabel[label]
	switch {
	case inv == nil:
		n.mu.Unlock()
		return fmt.Errorf("no invoice %q", label)
	case inv.status != "unpaid":
		n.mu.Unlock()
		return fmt.Errorf("invoice %q is %s", label, inv.status)
	}
	n.payIndex++
	n.updatedIndex++
	inv.status, inv.payIndex, inv.updatedIndex = "paid", n.payIndex, n.updatedIndex
	inv.receivedMsat, inv.paidAt = inv.amountMsat, time.Now().Unix()
	n.paid = append(n.paid, inv)
	n.notifyLocked()
	plugins := append([]*Plugin(nil), n.plugins...)
	payload := map[string]any{"msat": inv.receivedMsat, "preimage": hex.EncodeToString(inv.preimage[:]), "label": inv.label}
	n.mu.Unlock()
	for _, p := range plugins {
		p.notify("invoice_payment", payload)
	}
	return nil
}

// notifyLocked wakes every waiter; call with n.mu held.
func (n *Node) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// expireLocked applies lightningd's expiry timer lazily: an unpaid invoice
// past expires_at is expired, with a new updated_index.
func (n *Node) expireLocked() {
	now := time.Now().Unix()
	if n.nextExpire == 0 || now < n.nextExpire {
		return
	}
	changed := false
	n.nextExpire = 0
	for _, inv := range n.invoices {
		if inv.status == "unpaid" && now >= inv.expiresAt {
			n.updatedIndex++
			inv.status, inv.updatedIndex = "expired", n.updatedIndex
			changed = true
		}
		if inv.status == "unpaid" && (n.nextExpire == 0 || inv.expiresAt < n.nextExpire) {
			n.nextExpire = inv.expiresAt
		}
	}
	if changed {
		n.notifyLocked()
	}
}

// nextExpiry is when the next unpaid invoice expires (zero if none).
func (n *Node) nextExpiryLocked() time.Time {
	var next int64
	for _, inv := range n.invoices {
		if inv.status == "unpaid" && (next == 0 || inv.expiresAt < next) {
			next = inv.expiresAt
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(next, 0)
}

func (n *Node) serve() {
	for {
		conn, err := n.ln.Accept()
		if err != nil {
			return
		}
		go n.serveConn(conn)
	}
}

func (n *Node) serveConn(conn net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer conn.Close()
	var wmu sync.Mutex
	write := func(v any) {
		b, _ := json.Marshal(v)
		wmu.Lock()
		conn.Write(append(b, '\n', '\n'))
		wmu.Unlock()
	}
	in := jsonframe.NewReader(conn, 1<<20)
	for {
		msg, err := in.Next()
		if err != nil {
			if !errors.Is(err, jsonframe.ErrNotObject) && !errors.Is(err, jsonframe.ErrTooLarge) {
				return
			}
			n.violation("rpc: unframeable request: %v", err)
			continue
		}
		var req struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(msg, &req); err != nil || req.JSONRPC != "2.0" || len(req.ID) == 0 {
			n.violation("rpc: malformed request %s", msg)
			continue
		}
		go func() {
			result, rerr := n.handle(ctx, req.Method, req.Params)
			resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
			if rerr != nil {
				resp["error"] = rerr
			} else {
				resp["result"] = result
			}
			write(resp)
		}()
	}
}

// positional parameter names, in lightningd's order.
var positional = map[string][]string{
	"invoice":        {"amount_msat", "label", "description", "expiry", "fallbacks", "preimage", "exposeprivatechannels", "cltv", "deschashonly"},
	"listinvoices":   {"label", "invstring", "payment_hash", "offer_id", "index", "start", "limit"},
	"waitanyinvoice": {"lastpay_index", "timeout"},
	"waitinvoice":    {"label"},
	"delinvoice":     {"label", "status", "desconly"},
	"datastore":      {"key", "string", "hex", "mode", "generation"},
	"listdatastore":  {"key"},
	"deldatastore":   {"key", "generation"},
}

func (n *Node) handle(ctx context.Context, method string, raw json.RawMessage) (any, *RPCError) {
	n.mu.Lock()
	n.calls[method]++
	n.mu.Unlock()
	names, known := positional[method]
	if !known {
		// lightningd hands a method a plugin registered to that plugin,
		// parameters as given, and returns its answer as its own.
		if p := n.pluginFor(method); p != nil {
			if len(raw) == 0 || string(raw) == "null" {
				raw = json.RawMessage("{}")
			}
			return p.Call(ctx, method, raw)
		}
		return nil, &RPCError{Code: -32601, Message: "Unknown command '" + method + "'"}
	}
	params := map[string]json.RawMessage{}
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil || len(list) > len(names) {
			return nil, &RPCError{Code: -32602, Message: "too many parameters"}
		}
		for i, v := range list {
			if string(v) != "null" {
				params[names[i]] = v
			}
		}
	} else if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &params); err != nil {
			return nil, &RPCError{Code: -32602, Message: "params must be object or array"}
		}
	}
	obj, _ := json.Marshal(params)
	if err := n.schemas.ValidateRequest(method, obj); err != nil {
		n.violation("request: %v", err)
		return nil, &RPCError{Code: -32602, Message: err.Error()}
	}
	var result any
	var rerr *RPCError
	switch method {
	case "invoice":
		result, rerr = n.invoice(params)
	case "listinvoices":
		result, rerr = n.listInvoices(params)
	case "waitanyinvoice":
		result, rerr = n.waitAnyInvoice(ctx, params)
	case "waitinvoice":
		result, rerr = n.waitInvoice(ctx, params)
	case "delinvoice":
		result, rerr = n.delInvoice(params)
	case "datastore":
		result, rerr = n.putDatastore(params)
	case "listdatastore":
		result, rerr = n.listDatastore(params)
	case "deldatastore":
		result, rerr = n.delDatastore(params)
	}
	if rerr != nil {
		return nil, rerr
	}
	out, _ := json.Marshal(result)
	if err := n.schemas.ValidateResponse(method, out); err != nil {
		n.violation("stand-in response: %v", err)
	}
	return json.RawMessage(out), nil
}

// pluginFor is the live, enabled plugin that registered method, if any.
func (n *Node) pluginFor(method string) *Plugin {
	n.mu.Lock()
	plugins := slices.Clone(n.plugins)
	n.mu.Unlock()
	for _, p := range plugins {
		if !p.Alive() || p.Disabled != "" {
			continue
		}
		for _, m := range p.Manifest.RPCMethods {
			if m.Name == method {
				return p
			}
		}
	}
	return nil
}

func str(params map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := params[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	// numbers are accepted where CLN takes a label, and kept as written
	return string(raw), true
}

func u64(params map[string]json.RawMessage, name string) (uint64, bool) {
	raw, ok := params[name]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	return v, err == nil
}

func parseMsat(raw json.RawMessage) (uint64, error) {
	var n uint64
	if json.Unmarshal(raw, &n) == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	switch {
	case strings.HasSuffix(s, "msat"):
		return strconv.ParseUint(strings.TrimSuffix(s, "msat"), 10, 64)
	case strings.HasSuffix(s, "sat"):
		v, err := strconv.ParseUint(strings.TrimSuffix(s, "sat"), 10, 64)
		return v * 1000, err
	}
	return strconv.ParseUint(s, 10, 64)
}

func (n *Node) invoice(params map[string]json.RawMessage) (any, *RPCError) {
	amount, err := parseMsat(params["amount_msat"])
	if err != nil || amount == 0 {
		return nil, &RPCError{Code: -32602, Message: "amount_msat: should be a positive msat amount"}
	}
	label, _ := str(params, "label")
	desc, _ := str(params, "description")
	expiry, ok := u64(params, "expiry")
	if !ok {
		expiry = 604800
	}
	inv := &invoice{label: label, description: desc, amountMsat: amount, status: "unpaid"}
	rand.Read(inv.preimage[:])
	rand.Read(inv.secret[:])
	inv.hash = sha256.Sum256(inv.preimage[:])
	now := time.Now()
	inv.expiresAt = now.Unix() + int64(expiry)
	bolt, err := bolt11.Encode(bolt11.Invoice{
		Network: "bcrt", AmountMsat: amount, Timestamp: now, PaymentHash: inv.hash, PaymentSecret: inv.secret,
		Description: desc, Expiry: time.Duration(expiry) * time.Second, MinFinalCLTV: 5,
	}, n.key)
	if err != nil {
		return nil, &RPCError{Code: -1, Message: err.Error()}
	}
	inv.bolt11 = bolt
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.byLabel[label]; dup {
		return nil, &RPCError{Code: 900, Message: fmt.Sprintf("Duplicate label '%s'", label)}
	}
	n.createdIndex++
	inv.createdIndex = n.createdIndex
	n.invoices = append(n.invoices, inv)
	n.byLabel[label] = inv
	if n.nextExpire == 0 || inv.expiresAt < n.nextExpire {
		n.nextExpire = inv.expiresAt
	}
	n.notifyLocked()
	return map[string]any{
		"bolt11": inv.bolt11, "payment_hash": hex.EncodeToString(inv.hash[:]),
		"payment_secret": hex.EncodeToString(inv.secret[:]), "expires_at": inv.expiresAt,
		"created_index": inv.createdIndex,
		// what a fresh regtest node without channels says
		"warning_capacity": "Insufficient incoming channel capacity to pay invoice",
	}, nil
}

// entry renders an invoice as listinvoices does.
func (inv *invoice) entry() map[string]any {
	e := map[string]any{
		"label": inv.label, "bolt11": inv.bolt11, "payment_hash": hex.EncodeToString(inv.hash[:]),
		"amount_msat": inv.amountMsat, "status": inv.status, "description": inv.description,
		"expires_at": inv.expiresAt, "created_index": inv.createdIndex,
	}
	if inv.updatedIndex > 0 {
		e["updated_index"] = inv.updatedIndex
	}
	if inv.status == "paid" {
		e["pay_index"], e["amount_received_msat"], e["paid_at"] = inv.payIndex, inv.receivedMsat, inv.paidAt
		e["payment_preimage"] = hex.EncodeToString(inv.preimage[:])
	}
	return e
}

func (n *Node) listInvoices(params map[string]json.RawMessage) (any, *RPCError) {
	selectors := 0
	for _, k := range []string{"label", "invstring", "payment_hash", "offer_id"} {
		if _, ok := params[k]; ok {
			selectors++
		}
	}
	if selectors > 1 {
		return nil, &RPCError{Code: -32602, Message: "Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}"}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expireLocked()
	list := []any{}
	label, byLabel := str(params, "label")
	hash, byHash := str(params, "payment_hash")
	bolt, byBolt := str(params, "invstring")
	candidates := n.invoices
	// Paging, as lightningd does it: start and limit need an index, and
	// the list comes in that index's order.
	index, byIndex := str(params, "index")
	start, hasStart := u64(params, "start")
	limit, hasLimit := u64(params, "limit")
	if hasStart && !byIndex {
		return nil, &RPCError{Code: -32602, Message: "Can only specify {start} with {index}"}
	}
	if hasLimit && !byIndex {
		return nil, &RPCError{Code: -32602, Message: "Can only specify {limit} with {index}"}
	}
	if byIndex {
		// Other indexes fail the request schema (created, updated).
		key := func(inv *invoice) uint64 { return inv.createdIndex }
		if index == "updated" {
			key = func(inv *invoice) uint64 { return inv.updatedIndex }
		}
		var paged []*invoice
		for _, inv := range n.invoices {
			// By updated_index, an invoice never updated counts as 0:
			// lightningd lists it unless a start is given.
			if key(inv) >= start {
				paged = append(paged, inv)
			}
		}
		slices.SortFunc(paged, func(a, b *invoice) int { return cmp.Compare(key(a), key(b)) })
		if hasLimit && uint64(len(paged)) > limit {
			paged = paged[:limit]
		}
		candidates = paged
	}
	if byLabel {
		// lightningd looks labels up in an index; so does the stand-in.
		candidates = nil
		if inv := n.byLabel[label]; inv != nil {
			candidates = []*invoice{inv}
		}
	}
	for _, inv := range candidates {
		if (byLabel && inv.label != label) || (byHash && hex.EncodeToString(inv.hash[:]) != hash) || (byBolt && inv.bolt11 != bolt) {
			continue
		}
		list = append(list, inv.entry())
	}
	return map[string]any{"invoices": list}, nil
}

// wait blocks until cond (evaluated under n.mu) returns a value, ctx ends or
// the deadline passes. It also wakes at invoice expiries.
func (n *Node) wait(ctx context.Context, deadline time.Time, cond func() (any, *RPCError, bool)) (any, *RPCError) {
	for {
		n.mu.Lock()
		n.expireLocked()
		if v, err, ok := cond(); ok {
			n.mu.Unlock()
			return v, err
		}
		ch := n.changed
		wake := n.nextExpiryLocked()
		n.mu.Unlock()
		var timer <-chan time.Time
		if !deadline.IsZero() {
			timer = time.After(time.Until(deadline))
		}
		var expiry <-chan time.Time
		if !wake.IsZero() {
			expiry = time.After(time.Until(wake) + 10*time.Millisecond)
		}
		select {
		case <-ch:
		case <-expiry:
		case <-timer:
			return nil, &RPCError{Code: 904, Message: "Timed out while waiting for invoice to be paid"}
		case <-ctx.Done():
			return nil, &RPCError{Code: -1, Message: "connection closed"}
		}
	}
}

func (n *Node) waitAnyInvoice(ctx context.Context, params map[string]json.RawMessage) (any, *RPCError) {
	last, _ := u64(params, "lastpay_index")
	var deadline time.Time
	if timeout, ok := u64(params, "timeout"); ok {
		deadline = time.Now().Add(time.Duration(timeout) * time.Second)
	}
	return n.wait(ctx, deadline, func() (any, *RPCError, bool) {
		// n.paid is in pay_index order; a deleted invoice stays in it,
		// as lightningd's pay index does not reuse numbers either.
		i := sort.Search(len(n.paid), func(i int) bool { return n.paid[i].payIndex > last })
		for ; i < len(n.paid); i++ {
			if inv := n.paid[i]; inv.status == "paid" && n.byLabel[inv.label] == inv {
				return inv.entry(), nil, true
			}
		}
		return nil, nil, false
	})
}

func (n *Node) waitInvoice(ctx context.Context, params map[string]json.RawMessage) (any, *RPCError) {
	label, _ := str(params, "label")
	n.mu.Lock()
	inv := n.byLabel[label]
	n.mu.Unlock()
	if inv == nil {
		return nil, &RPCError{Code: -1, Message: "Unknown invoice"}
	}
	return n.wait(ctx, time.Time{}, func() (any, *RPCError, bool) {
		if n.byLabel[label] != inv {
			return nil, &RPCError{Code: -1, Message: "Invoice deleted during wait"}, true
		}
		switch inv.status {
		case "paid":
			return inv.entry(), nil, true
		case "expired":
			data, _ := json.Marshal(inv.entry())
			return nil, &RPCError{Code: 903, Message: "invoice expired during wait", Data: data}, true
		}
		return nil, nil, false
	})
}

func (n *Node) delInvoice(params map[string]json.RawMessage) (any, *RPCError) {
	label, _ := str(params, "label")
	status, _ := str(params, "status")
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expireLocked()
	inv := n.byLabel[label]
	if inv == nil {
		return nil, &RPCError{Code: 905, Message: "Unknown invoice"}
	}
	if inv.status != status {
		data, _ := json.Marshal(map[string]string{"current_status": inv.status, "expected_status": status})
		return nil, &RPCError{Code: 906, Message: fmt.Sprintf("Invoice status is %s not %s", inv.status, status), Data: data}
	}
	delete(n.byLabel, label)
	for i, x := range n.invoices {
		if x == inv {
			n.invoices = append(n.invoices[:i], n.invoices[i+1:]...)
			break
		}
	}
	n.notifyLocked()
	return inv.entry(), nil
}

func dsKey(params map[string]json.RawMessage) ([]string, *RPCError) {
	raw := params["key"]
	var key []string
	if json.Unmarshal(raw, &key) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return nil, &RPCError{Code: -32602, Message: "key: should be a string or array of strings"}
		}
		key = []string{one}
	}
	return key, nil
}

func (e *dsEntry) render() map[string]any {
	m := map[string]any{"key": e.key, "generation": e.generation, "hex": hex.EncodeToString(e.value)}
	if s := string(e.value); json.Valid([]byte(strconv.Quote(s))) && strings.ToValidUTF8(s, "") == s {
		m["string"] = s
	}
	return m
}

func (n *Node) putDatastore(params map[string]json.RawMessage) (any, *RPCError) {
	key, rerr := dsKey(params)
	if rerr != nil {
		return nil, rerr
	}
	var value []byte
	if s, ok := str(params, "string"); ok {
		value = []byte(s)
	} else if h, ok := str(params, "hex"); ok {
		value, _ = hex.DecodeString(h)
	}
	mode, ok := str(params, "mode")
	if !ok {
		mode = "must-create"
	}
	id := strings.Join(key, "\x00")
	n.mu.Lock()
	defer n.mu.Unlock()
	for other := range n.datastore {
		if strings.HasPrefix(other, id+"\x00") {
			return nil, &RPCError{Code: 1205, Message: "Key has children"}
		}
	}
	e := n.datastore[id]
	switch mode {
	case "must-create":
		if e != nil {
			return nil, &RPCError{Code: 1202, Message: "Key already exists"}
		}
	case "must-replace", "must-append":
		if e == nil {
			return nil, &RPCError{Code: 1203, Message: "Key does not exist"}
		}
	}
	if gen, ok := u64(params, "generation"); ok && (e == nil || e.generation != gen) {
		return nil, &RPCError{Code: 1204, Message: "generation is different"}
	}
	if e == nil {
		e = &dsEntry{key: key}
		n.datastore[id] = e
	} else {
		e.generation++
	}
	if strings.HasSuffix(mode, "append") {
		e.value = append(e.value, value...)
	} else {
		e.value = value
	}
	return e.render(), nil
}

func (n *Node) listDatastore(params map[string]json.RawMessage) (any, *RPCError) {
	var key []string
	if _, ok := params["key"]; ok {
		var rerr *RPCError
		if key, rerr = dsKey(params); rerr != nil {
			return nil, rerr
		}
	}
	id := strings.Join(key, "\x00")
	n.mu.Lock()
	defer n.mu.Unlock()
	list := []any{}
	ids := make([]string, 0, len(n.datastore))
	for k := range n.datastore {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	for _, k := range ids {
		if k == id || len(key) == 0 || strings.HasPrefix(k, id+"\x00") {
			list = append(list, n.datastore[k].render())
		}
	}
	return map[string]any{"datastore": list}, nil
}

func (n *Node) delDatastore(params map[string]json.RawMessage) (any, *RPCError) {
	key, rerr := dsKey(params)
	if rerr != nil {
		return nil, rerr
	}
	id := strings.Join(key, "\x00")
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.datastore[id]
	if e == nil {
		return nil, &RPCError{Code: 1200, Message: "Key does not exist"}
	}
	if gen, ok := u64(params, "generation"); ok && e.generation != gen {
		return nil, &RPCError{Code: 1201, Message: "generation is different"}
	}
	delete(n.datastore, id)
	return e.render(), nil
}
