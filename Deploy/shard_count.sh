#!/usr/bin/env bash
# Prints the number of shards of a plan: the length of "shards" in PLAN_DIR/plan.json (written by
# `landscribe segment|detect SCENE --plan N --shard-dir PLAN_DIR`). Reads the JSON with jq when
# it is installed, else with python3; one of them must be there.
# Usage: Deploy/shard_count.sh PLAN_DIR
set -euo pipefail
plan=${1:?usage: $0 PLAN_DIR}/plan.json
[ -f "$plan" ] || { echo "$0: no plan: $plan (make one with landscribe segment SCENE --plan N --shard-dir DIR)" >&2; exit 1; }
if command -v jq > /dev/null; then
  n=$(jq -e '.shards | length' "$plan") || { echo "$0: $plan: no \"shards\" list" >&2; exit 1; }
elif command -v python3 > /dev/null; then
  n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["shards"]))' "$plan" 2> /dev/null) \
    || { echo "$0: $plan: not a plan (no \"shards\" list)" >&2; exit 1; }
else
  echo "$0: needs jq or python3 to read $plan" >&2; exit 1
fi
[ "$n" -ge 1 ] 2> /dev/null || { echo "$0: $plan: no shards" >&2; exit 1; }
echo "$n"
