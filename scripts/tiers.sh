#!/usr/bin/env bash
# Prints which tiers of real-build tests ran, one line per package and
# tier, from the records internal/testworld/realcln leaves in the folder
# given (`make test` passes .data/tiers).
set -euo pipefail
dir="${1:?usage: tiers.sh <folder>}"
echo "== Real-build tiers =="
shopt -s nullglob
records=("$dir"/*)
if [ ${#records[@]} -eq 0 ]; then
	echo "no test asked for a real build"
	exit 0
fi
# Each record: outcome <TAB> package <TAB> tier.
cat "${records[@]}" | sort -t $'\t' -k2,2 -k3,3 | while IFS=$'\t' read -r outcome pkg tier; do
	printf '%-32s %-20s %s\n' "$pkg" "$tier:" "$outcome"
done
