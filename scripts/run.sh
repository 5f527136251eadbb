#!/usr/bin/env bash
# `make run`: the whole system on embedded defaults. Starts the Temporal dev
# server (SQLite under ./.data, Web UI on :8233), the worker, and the
# storefront on a regtest payment node with a node to pay from (when a
# lightningd and bitcoind can be had); prints how to load the plugin into
# your own lightningd, and stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything this run keeps (Temporal's database, logs, keys, playgrounds).
data="${LNPLAYLIVE_DATA_DIR:-$PWD/.data}"
mkdir -p "$data"

export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-localhost:7233}"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
port="${TEMPORAL_ADDRESS##*:}"
ui_port="${LNPLAYLIVE_UI_PORT:-8233}"

# Payloads in Temporal are encrypted (runes never in clear): make a key once.
export LNPLAYLIVE_CODEC_KEYS_FILE="${LNPLAYLIVE_CODEC_KEYS_FILE:-$data/codec.keys}"
if [ ! -s "$LNPLAYLIVE_CODEC_KEYS_FILE" ]; then
	(umask 077; ./bin/lnplaylive codec-new-key --id dev-1 > "$LNPLAYLIVE_CODEC_KEYS_FILE")
fi

pids=() names=() logs=()
# started NAME LOG: the process just started in the background is one of
# ours, with its log: if it stops, its log's end is the cause shown.
started() { pids+=($!); names+=("$1"); logs+=("$2"); }
# cause I [STATUS]: says on the terminal why part I stopped.
cause() {
	local i=$1 status=${2:-}
	echo
	echo "*** ${names[$i]} stopped${status:+ (exit status $status)}. The end of its log, ${logs[$i]}:"
	tail -n 15 "${logs[$i]}" 2>/dev/null | sed 's/^/    /'
	echo "*** The whole log: ${logs[$i]}"
}
# await_ready I OFFSET PATTERN SECONDS: waits until part I's log, past
# OFFSET bytes, shows PATTERN; if the part stops first, shows why and exits.
await_ready() {
	local i=$1 offset=$2 pattern=$3 seconds=$4
	for _ in $(seq $((seconds * 5))); do
		tail -c +"$((offset + 1))" "${logs[$i]}" 2>/dev/null | grep -q "$pattern" && return 0
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			local status=0; wait "${pids[$i]}" || status=$?
			cause "$i" "$status"; exit 1
		fi
		sleep 0.2
	done
	echo "${names[$i]} is not ready after ${seconds}s; its log: ${logs[$i]}"
}
logsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
cleanup() {
	trap - INT TERM EXIT
	echo; echo "stopping..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

codec_addr="${LNPLAYLIVE_CODEC_ADDR:-127.0.0.1:8081}"
# Local playgrounds (no SSH, no cloud) keep their files here.
export LNPLAYLIVE_LOCAL_DIR="${LNPLAYLIVE_LOCAL_DIR:-$data/local}"

# The Web UI asks the codec server to decode payloads: readable out of the box.
./bin/temporal server start-dev --db-filename "$data/temporal.db" \
	--port "$port" --ui-port "$ui_port" --log-level warn --ui-codec-endpoint "http://$codec_addr" \
	--search-attribute OrderStatus=Keyword --search-attribute NodeCount=Int --search-attribute Hours=Int \
	--search-attribute PaidAt=Datetime --search-attribute ExpiresAt=Datetime --search-attribute OrderSource=Keyword \
	>>"$data/temporal.log" 2>&1 &
started "the Temporal dev server" "$data/temporal.log"
until ./bin/temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
	if ! kill -0 "${pids[0]}" 2>/dev/null; then status=0; wait "${pids[0]}" || status=$?; cause 0 "$status"; exit 1; fi
	sleep 0.2
done
echo "Temporal dev server: $TEMPORAL_ADDRESS (Web UI http://localhost:$ui_port, log $data/temporal.log)"

offset=$(logsize "$data/worker.log")
./bin/lnplaylive-worker 2>>"$data/worker.log" &
started "the worker" "$data/worker.log"
# Its settings are read at start: a bad one stops it within a second or
# two, and that is said here, before anything claims all is well.
await_ready $((${#pids[@]} - 1)) "$offset" '"msg":"worker running"' 60
echo "Worker running (log $data/worker.log)"
if [ -n "${LNPLAYLIVE_PROVIDER:-}${HCLOUD_TOKEN:-}${HCLOUD_TOKEN_FILE:-}${LNPLAYLIVE_HOSTS_FILE:-}" ]; then
	echo "Provider: ${LNPLAYLIVE_PROVIDER:-$([ -n "${HCLOUD_TOKEN:-}${HCLOUD_TOKEN_FILE:-}" ] && echo hetzner || echo hosts)}"
elif compose=$(docker compose version 2>&1); then
	echo "Provider: local (this machine's Docker: $compose; playgrounds under $LNPLAYLIVE_LOCAL_DIR)"
else
	compose=$(printf '%s' "${compose:-docker: command not found}" | head -n 1)
	cat <<WARN

  *** NO CAPACITY CONFIGURED: every order will be refused ("no capacity configured"). ***
  Playgrounds on this machine need Docker Engine with its Compose plugin;
  \`docker compose version\` says: $compose
    install it (https://docs.docker.com/engine/install/), then run make run again.
  Or deploy on Hetzner:       HCLOUD_TOKEN=… make run
  Or on your own hosts:       LNPLAYLIVE_HOSTS_FILE=pool.yaml make run   (docs/OPERATING.md: "Try it on your own machine")
WARN
fi
offset=$(logsize "$data/codec-server.log")
./bin/lnplaylive codec-server --addr "$codec_addr" --ui-origin "http://localhost:$ui_port" 2>>"$data/codec-server.log" &
started "the codec server" "$data/codec-server.log"
await_ready $((${#pids[@]} - 1)) "$offset" 'codec server listening' 15
echo "Codec server: http://$codec_addr (the Web UI uses it: payloads are readable there)"
# The storefront, on a regtest payment node of its own when one can be had.
web_addr="${LNPLAYLIVE_WEB_ADDR:-127.0.0.1:8090}"
dev_rpc=""
dev_why="LNPLAYLIVE_DEV_NODES=off"
if [ "${LNPLAYLIVE_DEV_NODES:-auto}" != off ]; then
	. ./scripts/devnodes.sh
	dev_nodes || dev_rpc=""
fi
if [ -n "$dev_rpc" ]; then
	LNPLAYLIVE_LIGHTNING_RPC="$dev_rpc" LNPLAYLIVE_WEB_ADDR="$web_addr" ./bin/lnplaylive-web 2>>"$data/web.log" &
	started "the storefront" "$data/web.log"
	cat <<MSG

Storefront: http://$web_addr/  (log $data/web.log)
  Buy a playground there, then pay its invoice or offer from the second node:
    bin/lnplaylive dev pay <invoice or offer>
  The payment node (with the plugin): lightning-cli --network=regtest --lightning-dir=$data/dev/seller
MSG
else
	cat <<MSG

Storefront: not started ($dev_why).
  Against your own node with the plugin loaded (below):
    LNPLAYLIVE_LIGHTNING_RPC=<lightning-dir>/regtest/lightning-rpc bin/lnplaylive-web
MSG
fi
cat <<MSG

Load the plugin into Core Lightning:

  lightningd --network=regtest --plugin=$PWD/bin/lnplaylive-plugin \\
    --lnplaylive-temporal-address=$TEMPORAL_ADDRESS --lnplaylive-temporal-namespace=$TEMPORAL_NAMESPACE \\
    --lnplaylive-codec-keys-file=$LNPLAYLIVE_CODEC_KEYS_FILE

or into a running node:

  lightning-cli -k plugin subcommand=start plugin=$PWD/bin/lnplaylive-plugin \\
    lnplaylive-temporal-address=$TEMPORAL_ADDRESS lnplaylive-codec-keys-file=$LNPLAYLIVE_CODEC_KEYS_FILE

Then: lightning-cli -k lnplaylive-createorder node_count=8 hours=48

Or, without lightningd, a playground of your own:

  bin/lnplaylive orders create --nodes 8 --hours 3 --reason demo
  bin/lnplaylive orders watch <order id>
  bin/lnplaylive orders sheet <order id> -o sheet.html

Ctrl-C stops everything started here.
MSG
# Until Ctrl-C, or until a part stops by itself: then say which, and why.
status=0
wait -n "${pids[@]}" || status=$?
for i in "${!pids[@]}"; do
	if ! kill -0 "${pids[$i]}" 2>/dev/null; then cause "$i" "$status"; break; fi
done
exit 1
