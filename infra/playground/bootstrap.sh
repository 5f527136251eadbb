#!/bin/sh
# lnplaylive bootstrap: bring the playground up, fund and connect the nodes.
# Safe to run again after a partial run: `compose up` converges, each node's
# funding address is kept in a file and funded only if it has received
# nothing, and `connect` to a connected peer is a no-op.
# Usage: bootstrap.sh <compose project> <node count>
# Output protocol (stdout): "PROGRESS <step> <nodes ready>" and, at the end,
# "NODE <i> <node id>" per node.
set -eu
P="$1"; N="$2"; DIR=$(cd "$(dirname "$0")" && pwd)
dc() { docker compose -p "$P" -f "$DIR/compose.yml" "$@"; }
btc() { dc exec -T bitcoind bitcoin-cli -regtest -rpcuser=lnplaylive -rpcpassword=lnplaylive "$@"; }
wbtc() { btc -rpcwallet=lnplaylive "$@"; }
lnc() { i=$1; shift; dc exec -T "cln-$i" lightning-cli --network=regtest "$@"; }
progress() { echo "PROGRESS $1 $2"; }
retry() { n=0; until "$@" >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 120 ] && return 1; sleep 1; done; }

progress starting_containers 0
dc up -d --remove-orphans >&2

progress waiting_for_bitcoind 0
retry btc getblockchaininfo
wbtc getwalletinfo >/dev/null 2>&1 || btc loadwallet lnplaylive >/dev/null 2>&1 || btc createwallet lnplaylive >&2
# Coinbase outputs mature after 100 blocks; each gives 50 BTC and every node gets 1.
need=$((101 + N / 49))
height=$(btc getblockcount)
if [ "$height" -lt "$need" ]; then
	wbtc generatetoaddress $((need - height)) "$(wbtc getnewaddress)" >/dev/null
fi

progress waiting_for_nodes 0
ready=0
for i in $(seq 1 "$N"); do
	retry lnc "$i" getinfo
	ready=$((ready + 1))
	progress waiting_for_nodes "$ready"
done

progress funding_nodes "$N"
outputs=""
for i in $(seq 1 "$N"); do
	f="$DIR/fund-address-$i"
	if [ ! -s "$f" ]; then
		lnc "$i" newaddr | jq -er .bech32 > "$f.tmp" && mv "$f.tmp" "$f"
	fi
	addr=$(cat "$f")
	got=$(btc getreceivedbyaddress "$addr" 0 2>/dev/null || wbtc getreceivedbyaddress "$addr" 0)
	if [ "$got" = "0.00000000" ] || [ "$got" = "0" ]; then
		outputs="$outputs${outputs:+,}\"$addr\":1"
	fi
done
if [ -n "$outputs" ]; then
	wbtc sendmany "" "{$outputs}" >/dev/null
fi

progress connecting_nodes "$N"
first=$(lnc 1 getinfo | jq -er .id)
for i in $(seq 2 "$N"); do
	lnc "$i" connect "$first@cln-1:9735" >/dev/null
done

for i in $(seq 1 "$N"); do
	echo "NODE $i $(lnc "$i" getinfo | jq -er .id)"
done
progress done "$N"
