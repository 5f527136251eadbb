package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

// net is one Compose project: its chain, its wallet and its nodes.
type net struct {
	Height int `json:"height"`
	// FastGossip: the nodes run with --dev-fast-gossip (gossip within a
	// second); without it, a minute.
	FastGossip bool `json:"fast_gossip"`
	Wallet     bool `json:"wallet"`
	// Owned are the wallet's addresses; Coinbase the heights of blocks
	// mined to one of them (50 BTC each, spendable after 100 more).
	Owned    map[string]bool `json:"owned"`
	Coinbase []int           `json:"coinbase"`
	SpentSat int64           `json:"spent_sat"`
	Sends    []walletSend    `json:"sends"`
	// Mined maps a txid to the height of its block and its place in it;
	// a transaction not in it is in the mempool.
	Mined   map[string][2]int `json:"mined"`
	Mempool []string          `json:"mempool"`
	// MinedAt is when each block was mined (unix ms), for gossip delays.
	MinedAt  map[int]int64    `json:"mined_at"`
	Nodes    map[string]*node `json:"nodes"`
	Channels []*channel       `json:"channels"`
}

// walletSend is one output of a wallet transaction, as listtransactions
// shows it.
type walletSend struct {
	Txid    string `json:"txid"`
	Vout    int    `json:"vout"`
	Address string `json:"address"`
	Sat     int64  `json:"sat"`
	Time    int64  `json:"time"`
}

func (st *state) net(project string) *net {
	n := st.Nets[project]
	if n == nil {
		n = &net{Owned: map[string]bool{}, Mined: map[string][2]int{}, MinedAt: map[int]int64{}, Nodes: map[string]*node{}}
		st.Nets[project] = n
	}
	return n
}

// up starts the project's services: a node per cln-<i> service of the
// compose file, with the id its key gives it.
func (n *net) up(compose string) {
	n.FastGossip = strings.Contains(compose, "--dev-fast-gossip")
	for _, line := range strings.Split(compose, "\n") {
		name, ok := strings.CutSuffix(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cln-") || strings.ContainsAny(name, " \"") {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(name, "cln-")); err != nil || n.Nodes[name] != nil {
			continue
		}
		n.Nodes[name] = newNode(name)
	}
}

func (n *net) confirmations(txid string) int {
	at, ok := n.Mined[txid]
	if !ok {
		return 0
	}
	return n.Height - at[0] + 1
}

// broadcast puts a transaction into the mempool.
func (n *net) broadcast(txid string) { n.Mempool = append(n.Mempool, txid) }

// mine adds blocks; the first takes the mempool, less what a
// "never-confirm" fault holds back.
func (n *net) mine(st *state, blocks int, to string) []string {
	hashes := make([]string, blocks)
	for b := range blocks {
		n.Height++
		n.MinedAt[n.Height] = time.Now().UnixMilli()
		if n.Owned[to] {
			n.Coinbase = append(n.Coinbase, n.Height)
		}
		var held []string
		for k, txid := range n.Mempool {
			if st.heldBack(n, txid) {
				held = append(held, txid)
				continue
			}
			n.Mined[txid] = [2]int{n.Height, k + 1}
		}
		n.Mempool = held
		sum := sha256.Sum256([]byte(fmt.Sprintf("block %d %d", n.Height, time.Now().UnixNano())))
		hashes[b] = hex.EncodeToString(sum[:])
	}
	return hashes
}

// heldBack: a "never-confirm cln-<i>" fault keeps that node's funding
// transactions out of every block.
func (st *state) heldBack(n *net, txid string) bool {
	for _, f := range st.faults {
		svc, ok := strings.CutPrefix(strings.TrimSpace(f), "never-confirm ")
		if !ok {
			continue
		}
		for _, c := range n.Channels {
			if c.FundingTxid == txid && c.Opener == svc {
				return true
			}
		}
	}
	return false
}

// spendableSat is the wallet's mature coinbase less what it sent.
func (n *net) spendableSat() int64 {
	var sat int64
	for _, h := range n.Coinbase {
		if n.Height-h >= 100 {
			sat += 50 * 100_000_000
		}
	}
	return sat - n.SpentSat
}

func newTxid() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// address makes a real regtest segwit address (bech32 for v0, bech32m
// for v1), so that what the wallet checks is what Bitcoin Core checks.
func address(version byte) string {
	prog := make([]byte, 20)
	if version == 1 {
		prog = make([]byte, 32)
	}
	rand.Read(prog)
	conv, _ := bech32.ConvertBits(prog, 8, 5, true)
	data := append([]byte{version}, conv...)
	var s string
	if version == 0 {
		s, _ = bech32.Encode("bcrt", data)
	} else {
		s, _ = bech32.EncodeM("bcrt", data)
	}
	return s
}

// validAddress is Bitcoin Core's check of a regtest segwit address.
func validAddress(a string) bool {
	hrp, data, _, err := bech32.DecodeGeneric(a)
	return err == nil && hrp == "bcrt" && len(data) > 1
}

// rpcError prints a bitcoin-cli error as bitcoin-cli does, and exits with
// the code's magnitude.
func rpcError(method string, code int, msg string) (string, string, int) {
	fmt.Fprintf(os.Stderr, "error code: %d\nerror message:\n%s\n", code, msg)
	if code < 0 {
		code = -code
	}
	return "", method, code
}

// bitcoinCLI answers bitcoin-cli with Bitcoin Core's semantics.
func (n *net) bitcoinCLI(st *state, argv []string) (string, string, int) {
	// With one wallet loaded, bitcoin-cli reaches it with or without
	// -rpcwallet: the flags change nothing here.
	_, args := splitArgs(argv)
	if len(args) == 0 {
		return "", "", usage(argv)
	}
	m := args[0]
	walletMethods := map[string]bool{"getwalletinfo": true, "getnewaddress": true, "getreceivedbyaddress": true, "sendmany": true, "listtransactions": true}
	if walletMethods[m] && !n.Wallet {
		return rpcError(m, -18, "Requested wallet does not exist or is not loaded")
	}
	switch m {
	case "getblockchaininfo":
		return fmt.Sprintf(`{"chain":"regtest","blocks":%d}`+"\n", n.Height), m, 0
	case "getblockcount":
		return strconv.Itoa(n.Height) + "\n", m, 0
	case "gettxoutsetinfo":
		// Bitcoin Core flushes its chain state to disk first; the model has
		// nothing to flush.
		if len(args) > 1 && args[1] != "none" && args[1] != "hash_serialized_3" && args[1] != "muhash" {
			return rpcError(m, -8, fmt.Sprintf("'%s' is not a valid hash_type", args[1]))
		}
		return fmt.Sprintf(`{"height":%d,"txouts":%d}`+"\n", n.Height, len(n.Coinbase)), m, 0
	case "getwalletinfo":
		return `{"walletname":"lnplaylive"}` + "\n", m, 0
	case "loadwallet":
		if n.Wallet {
			return rpcError(m, -35, `Wallet "lnplaylive" is already loaded.`)
		}
		return rpcError(m, -18, "Wallet file verification failed. Failed to load database path. Path does not exist.")
	case "createwallet":
		if n.Wallet {
			return rpcError(m, -4, "Wallet file verification failed. Failed to create database path. Database already exists.")
		}
		n.Wallet = true
		return `{"name":"lnplaylive"}` + "\n", m, 0
	case "getnewaddress":
		a := address(0)
		n.Owned[a] = true
		return a + "\n", m, 0
	case "generatetoaddress":
		if len(args) < 3 {
			return rpcError(m, -1, "generatetoaddress nblocks address")
		}
		blocks, err := strconv.Atoi(args[1])
		if err != nil || blocks < 0 {
			return rpcError(m, -8, "Invalid nblocks")
		}
		if !validAddress(args[2]) {
			return rpcError(m, -5, "Error: Invalid address")
		}
		hashes := n.mine(st, blocks, args[2])
		b, _ := json.Marshal(hashes)
		return string(b) + "\n", m, 0
	case "getreceivedbyaddress":
		if len(args) < 2 || !validAddress(args[1]) {
			return rpcError(m, -5, "Invalid Bitcoin address")
		}
		if !n.Owned[args[1]] {
			return rpcError(m, -4, "Address not found in wallet")
		}
		return "0.00000000\n", m, 0
	case "sendmany":
		return n.sendmany(st, args)
	case "listtransactions":
		return n.listTransactions(args)
	case "sendrawtransaction":
		return n.sendRawTransaction(args)
	}
	return rpcError(m, -32601, "Method not found")
}

// sendRawTransaction takes a transaction (in the model's raw form) into
// the mempool, with Bitcoin Core's refusals for one it already has.
func (n *net) sendRawTransaction(args []string) (string, string, int) {
	const m = "sendrawtransaction"
	if len(args) < 2 {
		return rpcError(m, -1, "sendrawtransaction \"hexstring\" ( maxfeerate maxburnamount )")
	}
	txid, ok := strings.CutPrefix(args[1], "02000000")
	if !ok || len(txid) != 64 {
		return rpcError(m, -22, "TX decode failed. Make sure the tx has at least one input.")
	}
	if _, mined := n.Mined[txid]; mined {
		return rpcError(m, -27, "Transaction outputs already in utxo set")
	}
	if slices.Contains(n.Mempool, txid) {
		return rpcError(m, -26, "txn-already-in-mempool")
	}
	n.broadcast(txid)
	return txid + "\n", m, 0
}

// loseMempool is bitcoind killed and started again by Docker's restart
// policy: Bitcoin Core writes mempool.dat only on a clean stop, so a kill
// loses every unconfirmed transaction (a clean restart keeps them).
func (st *state) loseMempool() {
	for _, n := range st.Nets {
		n.Mempool = nil
	}
}

func (n *net) sendmany(st *state, args []string) (string, string, int) {
	const m = "sendmany"
	var outs map[string]json.Number
	if len(args) < 3 || json.Unmarshal([]byte(args[2]), &outs) != nil || len(outs) == 0 {
		return rpcError(m, -8, "Invalid parameter, amounts")
	}
	addrs := make([]string, 0, len(outs))
	var total int64
	for a, v := range outs {
		if !validAddress(a) {
			return rpcError(m, -5, "Invalid Bitcoin address: "+a)
		}
		btc, err := v.Float64()
		if err != nil || btc <= 0 {
			return rpcError(m, -3, "Invalid amount for send")
		}
		total += int64(btc*1e8 + 0.5)
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	fee := int64(200 * (len(addrs) + 1))
	if total+fee > n.spendableSat() {
		return rpcError(m, -6, "Insufficient funds")
	}
	txid := newTxid()
	n.broadcast(txid)
	n.SpentSat += total + fee
	for k, a := range addrs {
		btc, _ := outs[a].Float64()
		sat := int64(btc*1e8 + 0.5)
		n.Sends = append(n.Sends, walletSend{Txid: txid, Vout: k, Address: a, Sat: sat, Time: time.Now().Unix()})
		st.Funded[a]++
		// A node's wallet learns of the output only from a block.
		for _, nd := range n.Nodes {
			if nd.Addrs[a] != "" {
				nd.Outputs = append(nd.Outputs, &utxo{Txid: txid, Vout: k, Address: a, Sat: sat})
			}
		}
	}
	return txid + "\n", m, 0
}

// listTransactions shows the wallet's sends and its coinbases, oldest
// first, the last count of them.
func (n *net) listTransactions(args []string) (string, string, int) {
	count := 10
	if len(args) >= 3 {
		c, err := strconv.Atoi(args[2])
		if err != nil || c < 0 {
			return rpcError("listtransactions", -8, "Negative count")
		}
		count = c
	}
	var out []map[string]any
	for _, h := range n.Coinbase {
		cat := "immature"
		if n.Height-h >= 100 {
			cat = "generate"
		}
		out = append(out, map[string]any{"category": cat, "amount": 50.0, "confirmations": n.Height - h + 1, "generated": true, "vout": 0})
	}
	for _, s := range n.Sends {
		out = append(out, map[string]any{"address": s.Address, "category": "send", "amount": -float64(s.Sat) / 1e8,
			"vout": s.Vout, "fee": -0.00000200, "confirmations": n.confirmations(s.Txid), "txid": s.Txid,
			"time": s.Time, "timereceived": s.Time, "abandoned": false, "bip125-replaceable": "no"})
	}
	if len(out) > count {
		out = out[len(out)-count:]
	}
	if out == nil {
		out = []map[string]any{}
	}
	b, _ := json.Marshal(out)
	return string(b) + "\n", "listtransactions", 0
}
