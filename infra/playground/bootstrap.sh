#!/bin/sh
# lnplaylive bootstrap: bring the playground up, fund the nodes, open the
# planned channels, confirm them, and prove that a payment routes.
# Usage: bootstrap.sh <compose project> <node count> <plan file>
# The plan (written by the worker) has one line per channel and at most one
# proof line:
#   channel <from> <to> <sat> <push_msat>
#   proof <from> <to> <sat>
# Output protocol (stdout): "PROGRESS <step> <nodes ready>", then
# "NODE <i> <node id>" per node; on a failure it can name, "FAIL <reason>".
#
# Safe to run again after a partial run, and every decision is taken from
# what the wallet and the nodes themselves report, never from this
# script's memory: `compose up` converges; a node is funded unless the
# wallet's own transactions already pay its address; a channel is opened
# unless the opener already has one with that peer; the proof invoice is
# paid once.
set -eu
P="$1"; N="$2"; PLAN="$3"; DIR=$(cd "$(dirname "$0")" && pwd)
dc() { docker compose -p "$P" -f "$DIR/compose.yml" "$@"; }
# BEGIN btc
# btc: bitcoin-cli in the bitcoind container. Bitcoin Core refuses a call
# while its work queue is full (HTTP 503, "Work queue depth exceeded") or
# while it is still loading (error -28); bitcoin-cli retries neither, so
# this does, once a second for up to a minute. Anything else fails at once.
btc() {
	_tries=0
	while :; do
		dc exec -T bitcoind bitcoin-cli -regtest -rpcuser=lnplaylive -rpcpassword=lnplaylive "$@" 2>"$DIR/btc.err" && return 0
		_rc=$?
		if [ "$_tries" -lt 60 ] && grep -qE 'Work queue depth exceeded|error code: -28' "$DIR/btc.err"; then
			_tries=$((_tries + 1))
			sleep 1
			continue
		fi
		cat "$DIR/btc.err" >&2
		return "$_rc"
	done
}
# END btc
wbtc() { btc -rpcwallet=lnplaylive "$@"; }
lnc() { _n=$1; shift; dc exec -T "cln-$_n" lightning-cli --network=regtest "$@"; }
progress() { echo "PROGRESS $1 $2"; }
fail() { echo "FAIL $*"; exit 4; }
# until_ok <tries> <cmd…>: run cmd once a second until it succeeds.
until_ok() { n=$1; shift; until "$@" >/dev/null 2>&1; do n=$((n-1)); [ "$n" -gt 0 ] || return 1; sleep 1; done; }
# wait_all <step> <tries> <check> <reason>: every node passes check (tried
# once a second), counted in the step's progress; else fail with the reason.
wait_all() {
	ready=0
	for i in $(seq 1 "$N"); do
		until_ok "$2" "$3" "$i" || fail "node $i $4"
		ready=$((ready + 1))
		progress "$1" "$ready"
	done
}
# mine <n>: n blocks, written to disk at once (gettxoutsetinfo flushes
# bitcoind's chain state), so a power cut cannot take them back.
mine() { wbtc generatetoaddress "$1" "$(cat "$DIR/miner-address")" >/dev/null && btc gettxoutsetinfo none >/dev/null; }
id_of() { sed -n "$1p" "$DIR/node-ids"; }
# planned <node>: how many channels the plan gives the node, either end.
planned() { awk -v i="$1" '$1 == "channel" && ($2 == i || $3 == i) { n++ } END { print n + 0 }' "$PLAN"; }

progress starting_containers 0
dc up -d --remove-orphans >&2

progress waiting_for_bitcoind 0
until_ok 120 btc getblockchaininfo || fail "bitcoind did not start within 2 minutes"
# load_on_startup records the wallet in bitcoind's settings, so a
# restarted bitcoind loads it again (so does the compose file's -wallet):
# without it, the miner stops for good at the first restart.
wbtc getwalletinfo >/dev/null 2>&1 ||
	btc -named loadwallet filename=lnplaylive load_on_startup=true >/dev/null 2>&1 ||
	btc -named createwallet wallet_name=lnplaylive load_on_startup=true >&2
if [ ! -s "$DIR/miner-address" ]; then
	wbtc getnewaddress miner bech32 > "$DIR/miner-address.tmp" && mv "$DIR/miner-address.tmp" "$DIR/miner-address"
fi
# Coinbase outputs mature after 100 blocks; each gives 50 BTC and every node gets 1.
need=$((101 + N / 49))
height=$(btc getblockcount)
[ "$height" -ge "$need" ] || mine $((need - height))

progress waiting_for_nodes 0
ready=0
: > "$DIR/node-ids.tmp"
for i in $(seq 1 "$N"); do
	until_ok 120 lnc "$i" getinfo || fail "node $i did not answer within 2 minutes"
	lnc "$i" getinfo | jq -er .id >> "$DIR/node-ids.tmp"
	ready=$((ready + 1))
	progress waiting_for_nodes "$ready"
done
mv "$DIR/node-ids.tmp" "$DIR/node-ids"

progress funding_nodes 0
# Each node's funding address is kept, so a re-run asks about the same one.
# bech32 is asked for by name: newaddr's default type changes across CLN
# versions (p2tr from v26 on).
sent=$(wbtc listtransactions "*" 1000000 | jq -r '.[] | select(.category == "send" and (.abandoned | not)) | .address')
outputs=""
for i in $(seq 1 "$N"); do
	f="$DIR/fund-address-$i"
	if [ ! -s "$f" ]; then
		lnc "$i" -k newaddr addresstype=bech32 | jq -er .bech32 > "$f.tmp" && mv "$f.tmp" "$f"
	fi
	addr=$(cat "$f")
	printf '%s\n' "$sent" | grep -qxF "$addr" || outputs="$outputs${outputs:+,}\"$addr\":1"
done
[ -z "$outputs" ] || wbtc sendmany "" "{$outputs}" >/dev/null
mine 1
funded() { lnc "$1" listfunds | jq -e '([.outputs[] | select(.status == "confirmed")] | length) + (.channels | length) > 0'; }
wait_all funding_nodes 60 funded "does not see its funding after 60 s"

progress connecting_nodes 0
if ! grep -q '^channel ' "$PLAN"; then
	# No channels: connect everyone to node 1, so the nodes gossip.
	for i in $(seq 2 "$N"); do
		lnc "$i" connect "$(id_of 1)@cln-1:9735" >/dev/null || fail "node $i could not connect to node 1"
	done
	progress connecting_nodes "$N"
	for i in $(seq 1 "$N"); do echo "NODE $i $(id_of "$i")"; done
	progress done "$N"
	exit 0
fi

# open_from <node>: one funding transaction for every planned channel of
# the node that it does not already have (multifundchannel connects too).
open_from() {
	have=$(lnc "$1" listpeerchannels | jq -r '.channels[] | select(.state | test("CLOSINGD|ONCHAIN|CLOSED|AWAITING_UNILATERAL") | not) | .peer_id')
	dests=""
	while read -r kind from to sat push; do
		[ "$kind" = channel ] && [ "$from" = "$1" ] || continue
		peer=$(id_of "$to")
		printf '%s\n' "$have" | grep -qxF "$peer" && continue
		dests="$dests${dests:+,}{\"id\":\"$peer@cln-$to:9735\",\"amount\":$sat,\"push_msat\":$push}"
	done < "$PLAN"
	[ -z "$dests" ] || lnc "$1" -k multifundchannel destinations="[$dests]"
}
progress opening_channels 0
pids=""
for i in $(awk '$1 == "channel" { print $2 }' "$PLAN" | sort -un); do
	open_from "$i" > "$DIR/open-$i.log" 2>&1 &
	pids="$pids $i:$!"
done
# A funding transaction that lightningd could not broadcast (bitcoind was
# restarting and answered -28) is discarded by multifundchannel, which then
# fails, while lightningd keeps the channels waiting for it for ever. The
# transaction is signed and in the error: keep it (for a rerun), and send
# it ourselves; the open succeeded once it is sent.
opened=0
for job in $pids; do
	n=${job%%:*}
	wait "${job#*:}" && ok=1 || ok=0
	unsent=$(grep -o 'Unsent tx discarded [0-9a-f]*' "$DIR/open-$n.log" | awk '{ print $4 }' || true)
	if [ "$ok" = 0 ] && [ -n "$unsent" ]; then
		printf '%s\n' "$unsent" >> "$DIR/unsent"
		ok=1
		for tx in $unsent; do btc sendrawtransaction "$tx" >/dev/null || ok=0; done
	fi
	[ "$ok" = 1 ] || fail "node $n could not open its channels: $(tail -c 300 "$DIR/open-$n.log" | tr '\n' ' ')"
	opened=$((opened + 1))
	progress opening_channels "$opened"
done

# Three confirmations make a channel usable, six make it public; mine
# six, then more while waiting (the miner adds one every 5 s besides).
progress confirming_channels 0
mine 6
normal() { [ "$(lnc "$1" listpeerchannels | jq '[.channels[] | select(.state == "CHANNELD_NORMAL")] | length')" -ge "$(planned "$1")" ]; }
# rebroadcast: the funding transactions of channels that still wait for
# lock-in are sent to bitcoind again by the nodes that funded them, from
# lightningd's own wallet record (listtransactions keeps every transaction
# it made, raw); and those kept from failed broadcasts. A bitcoind killed
# after the broadcast (Docker's restart policy brings it back) has lost
# its mempool, and nobody else sends them again. One bitcoind already has
# is refused, harmlessly. It prints how many bitcoind took.
rebroadcast() {
	{
		for j in $(awk '$1 == "channel" { print $2 }' "$PLAN" | sort -un); do
			waiting=$(lnc "$j" listpeerchannels | jq -c '[.channels[] | select(.opener == "local" and (.state | test("AWAITING_LOCKIN"))) | .funding_txid]')
			[ "$waiting" != "[]" ] || continue
			lnc "$j" listtransactions | jq -r --argjson w "$waiting" '.transactions[] | select(.hash as $h | $w | index($h)) | .rawtx'
		done
		[ ! -s "$DIR/unsent" ] || cat "$DIR/unsent"
	} | while read -r tx; do btc sendrawtransaction "$tx" 2>/dev/null || true; done | grep -c . || true
}
ready=0
for i in $(seq 1 "$N"); do
	tries=0
	until normal "$i"; do
		tries=$((tries + 1))
		if [ "$tries" -ge 60 ]; then
			late=$(lnc "$i" listpeerchannels | jq -r '[.channels[] | select(.state != "CHANNELD_NORMAL") | .state] | join(", ")')
			fail "node $i: channels not confirmed after 60 s and $((6 + tries / 5)) blocks (${late:-none opened})"
		fi
		if [ $((tries % 5)) -eq 0 ]; then
			# A funding sent again needs its six blocks to be public, as
			# the first ones had.
			if [ "$(rebroadcast)" -gt 0 ]; then mine 6; else mine 1; fi
		fi
		sleep 1
	done
	ready=$((ready + 1))
	progress confirming_channels "$ready"
done

# Every node must know every channel (both directions) before any payment
# can find its route: gossip, which --dev-fast-gossip sends every second.
progress checking_routes 0
want=$((2 * $(grep -c '^channel ' "$PLAN")))
gossiped() { [ "$(lnc "$1" listchannels | jq '[.channels[] | select(.active)] | length')" -ge "$want" ]; }
wait_all checking_routes 120 gossiped "learnt fewer than $want channel directions by gossip in 2 minutes"

# The proof: one real payment between the two nodes farthest apart.
if proof=$(grep '^proof ' "$PLAN"); then
	set -- $proof
	from=$2; to=$3; msat=$(($4 * 1000)); label=lnplaylive-route-check
	inv=$(lnc "$to" -k listinvoices label=$label | jq -c '.invoices[0] // empty')
	if [ -z "$inv" ]; then
		inv=$(lnc "$to" -k invoice amount_msat=$msat label=$label description="lnplaylive routing check" | jq -c '{bolt11, status: "unpaid"}')
	fi
	if [ "$(printf '%s' "$inv" | jq -r .status)" != paid ]; then
		bolt11=$(printf '%s' "$inv" | jq -er .bolt11)
		tries=0
		until out=$(lnc "$from" pay "$bolt11" 2>&1); do
			tries=$((tries + 1))
			[ "$tries" -lt 10 ] || fail "node $from could not pay node $to: $(printf '%s' "$out" | jq -r '.message? // empty' 2>/dev/null || true) $(printf '%s' "$out" | tail -c 200 | tr '\n' ' ')"
			sleep 2
		done
	fi
	progress checking_routes "$N"
fi

for i in $(seq 1 "$N"); do echo "NODE $i $(id_of "$i")"; done
progress done "$N"
