# Sourced by run.sh: a regtest payment node with the lnplaylive plugin, and
# a second node with a channel to it to pay from, on a real bitcoind, so a
# newcomer can buy a playground in the browser on one machine. Uses the
# builds LNPLAYLIVE_REAL_CLN and LNPLAYLIVE_REAL_BITCOIND point at (as the
# tests do), or lightningd and bitcoind on PATH; the project ships neither.
# Sets dev_rpc (the payment node's rpc-file) on success.

dev_find() { # the first executable among the arguments
	for p in "$@"; do if [ -n "$p" ] && [ -x "$p" ]; then echo "$p"; return 0; fi; done
	return 1
}

dev_nodes() {
	local ln cli btcd bcli dev base
	local cln="${LNPLAYLIVE_REAL_CLN:-}" bitcoin="${LNPLAYLIVE_REAL_BITCOIND:-}"
	dev_why="no lightningd and bitcoind found: point LNPLAYLIVE_REAL_CLN and LNPLAYLIVE_REAL_BITCOIND at builds (docs/TESTING.md), or put lightningd and bitcoind on PATH"
	ln=$(dev_find "${cln:+$cln/lightningd/lightningd}" "$(command -v lightningd || true)") || return 1
	cli=$(dev_find "${cln:+$cln/cli/lightning-cli}" "$(command -v lightning-cli || true)") || return 1
	btcd=$(dev_find "${bitcoin:+$bitcoin/bin/bitcoind}" "$(command -v bitcoind || true)") || return 1
	bcli=$(dev_find "$(dirname "$btcd")/bitcoin-cli") || return 1
	dev_why="the dev nodes failed to start: see the lines above"
	dev="$data/dev"
	base="${LNPLAYLIVE_DEV_PORT_BASE:-18940}"
	mkdir -p "$dev/bitcoin" "$dev/seller" "$dev/payer"
	local btc=("$bcli" -regtest -datadir="$dev/bitcoin" -rpcport=$((base + 3)))
	"$btcd" -regtest -datadir="$dev/bitcoin" -rpcport=$((base + 3)) -port=$((base + 4)) -listen=0 -fallbackfee=0.0002 \
		-server=1 -printtoconsole=0 >>"$dev/bitcoin.log" 2>&1 &
	started "the dev bitcoind" "$dev/bitcoin.log"
	for _ in $(seq 100); do "${btc[@]}" getblockchaininfo >/dev/null 2>&1 && break; sleep 0.2; done
	"${btc[@]}" getblockchaininfo >/dev/null 2>&1 || { echo "dev nodes: bitcoind did not start; see $dev/bitcoin.log"; return 1; }
	"${btc[@]}" loadwallet dev >/dev/null 2>&1 || "${btc[@]}" createwallet dev >/dev/null 2>&1 || true
	local mine; mine=$("${btc[@]}" getnewaddress)
	[ "$("${btc[@]}" getblockcount)" -ge 101 ] || "${btc[@]}" generatetoaddress 101 "$mine" >/dev/null

	local common=(--network=regtest --bitcoin-cli="$bcli" --bitcoin-datadir="$dev/bitcoin" --bitcoin-rpcport=$((base + 3))
		--developer --dev-bitcoind-poll=1 --log-level=info)
	"$ln" "${common[@]}" --lightning-dir="$dev/seller" --bind-addr=127.0.0.1:$((base + 1)) --log-file="$dev/seller/log" \
		--alias=lnplaylive-seller --plugin="$PWD/bin/lnplaylive-plugin" \
		--lnplaylive-temporal-address="$TEMPORAL_ADDRESS" --lnplaylive-temporal-namespace="$TEMPORAL_NAMESPACE" \
		--lnplaylive-codec-keys-file="$LNPLAYLIVE_CODEC_KEYS_FILE" >>"$dev/seller.out" 2>&1 &
	started "the payment node" "$dev/seller/log"
	"$ln" "${common[@]}" --lightning-dir="$dev/payer" --bind-addr=127.0.0.1:$((base + 2)) --log-file="$dev/payer/log" \
		--alias=lnplaylive-payer >>"$dev/payer.out" 2>&1 &
	started "the paying node" "$dev/payer/log"
	local seller=("$cli" --network=regtest --lightning-dir="$dev/seller") payer=("$cli" --network=regtest --lightning-dir="$dev/payer")
	for _ in $(seq 150); do "${seller[@]}" getinfo >/dev/null 2>&1 && "${payer[@]}" getinfo >/dev/null 2>&1 && break; sleep 0.2; done
	"${seller[@]}" getinfo >/dev/null 2>&1 || { echo "dev nodes: the payment node did not start; see $dev/seller/log"; return 1; }
	"${payer[@]}" getinfo >/dev/null 2>&1 || { echo "dev nodes: the paying node did not start; see $dev/payer/log"; return 1; }
	if [ "$("${payer[@]}" listpeerchannels | jq '[.channels[] | select(.state == "CHANNELD_NORMAL")] | length')" = 0 ]; then
		echo "Dev nodes: funding the paying node and opening its channel (once; about half a minute)..."
		"${btc[@]}" sendtoaddress "$("${payer[@]}" newaddr bech32 | jq -r .bech32)" 1 >/dev/null
		"${btc[@]}" generatetoaddress 6 "$mine" >/dev/null
		for _ in $(seq 150); do [ "$("${payer[@]}" listfunds | jq '[.outputs[] | select(.status == "confirmed")] | length')" -gt 0 ] && break; sleep 0.2; done
		local sid; sid=$("${seller[@]}" getinfo | jq -r .id)
		"${payer[@]}" connect "$sid@127.0.0.1:$((base + 1))" >/dev/null
		"${payer[@]}" fundchannel "$sid" 5000000 >/dev/null || { echo "dev nodes: fundchannel failed; see $dev/payer/log"; return 1; }
		"${btc[@]}" generatetoaddress 6 "$mine" >/dev/null
		for _ in $(seq 300); do
			[ "$("${payer[@]}" listpeerchannels | jq '[.channels[] | select(.state == "CHANNELD_NORMAL")] | length')" -gt 0 ] && break; sleep 0.2
		done
	fi
	# A block every 30 s, as a chain would: invoices and channels see time pass.
	( while sleep 30; do "${btc[@]}" generatetoaddress 1 "$mine" >/dev/null 2>&1 || true; done ) &
	started "the dev miner" "$dev/bitcoin.log"
	dev_rpc="$dev/seller/regtest/lightning-rpc"
}
