#!/usr/bin/env bash
# Writes the Kubernetes manifests of a planned landscribe run from the templates beside this
# script: OUT_DIR/pvc.yaml (the shared ReadWriteMany volume), OUT_DIR/shards-job.yaml (an Indexed
# Job, completions = parallelism = the plan's shard count) and OUT_DIR/merge-job.yaml.
# Usage: Deploy/kubernetes/render.sh PLAN_DIR OUT_DIR
#   PLAN_DIR  the plan folder (PLAN_DIR/plan.json, from `landscribe segment|detect SCENE --plan N
#             --shard-dir PLAN_DIR ...`); only its shard count is read here
# Variables (plain words; no quotes or backslashes):
#   IMAGE          the container image with landscribe and its libraries (required; a placeholder
#                  until you build one: e.g. registry.example.com/landscribe:0.9)
#   LANDSCRIBE     the binary in the image (default: landscribe, on the image's PATH)
#   MOUNT          where the volume is mounted in every pod, also their working directory
#                  (default /data): relative paths in the plan resolve from the volume's root
#   SHARD_DIR      the plan folder as the pods see it (default: MOUNT/ + PLAN_DIR's name)
#   NAME           prefix of the Jobs' names: NAME-shards, NAME-merge (default landscribe)
#   CLAIM          the PersistentVolumeClaim's name (default NAME-data)
#   STORAGE        the volume's size (default 100Gi); STORAGE_CLASS its class (default: the
#                  cluster's default class; it must offer ReadWriteMany)
#   CPUS           cores per shard pod, also its --threads (default 4); MEMORY per pod (default 8Gi)
#   BACKOFF        retries of each failed index (backoffLimitPerIndex, default 2)
#   MERGE_OPTIONS  options of `landscribe merge`, split at spaces (e.g. "--preview /data/map.png")
#   LANDSCRIBE_BACKEND, LANDSCRIBE_KERNELS, OPENBLAS_CORETYPE: when set (as they were when
#                  planning), set alike in the shard pods, so that every node computes with the
#                  plan's kernel choice (a shard refuses another); left out when not set
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plan_dir=${1:?usage: $0 PLAN_DIR OUT_DIR}
out_dir=${2:?usage: $0 PLAN_DIR OUT_DIR}
: "${IMAGE:?set IMAGE to the landscribe container image (e.g. IMAGE=registry.example.com/landscribe:0.9)}"
shards=$("$here/../shard_count.sh" "$plan_dir")
name=${NAME:-landscribe}
mount=${MOUNT:-/data}
shard_dir=${SHARD_DIR:-$mount/$(basename "$(cd "$plan_dir" && pwd)")}
merge_args=""
# shellcheck disable=SC2086  # MERGE_OPTIONS is split at spaces on purpose
for word in ${MERGE_OPTIONS:-}; do merge_args="$merge_args, \"$word\""; done
values=(NAME="$name" CLAIM="${CLAIM:-$name-data}" IMAGE="$IMAGE" LANDSCRIBE="${LANDSCRIBE:-landscribe}"
  MOUNT="$mount" SHARD_DIR="$shard_dir" SHARDS="$shards" CPUS="${CPUS:-4}" MEMORY="${MEMORY:-8Gi}"
  BACKOFF="${BACKOFF:-2}" STORAGE="${STORAGE:-100Gi}" STORAGE_CLASS="${STORAGE_CLASS:-}" MERGE_OPTIONS="${MERGE_OPTIONS:-}"
  LANDSCRIBE_BACKEND="${LANDSCRIBE_BACKEND:-}" LANDSCRIBE_KERNELS="${LANDSCRIBE_KERNELS:-}" OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-}")
script=(-e "s|@MERGE_ARGS@|$merge_args|")
for pair in "${values[@]}"; do
  key=${pair%%=*} value=${pair#*=}
  case $value in *[\"\\\|\&]* | *$'\n'*)
    echo "$0: $key: quotes, backslashes, '|', '&' and newlines are not allowed: $value" >&2; exit 1 ;;
  esac
  script+=(-e "s|@$key@|$value|g")
done
for optional in STORAGE_CLASS LANDSCRIBE_BACKEND LANDSCRIBE_KERNELS OPENBLAS_CORETYPE; do
  [ -n "${!optional:-}" ] || script=(-e "/@$optional@/d" "${script[@]}")
done
mkdir -p "$out_dir"
for template in pvc shards-job merge-job; do
  sed "${script[@]}" "$here/$template.yaml.in" > "$out_dir/$template.yaml"
done
echo "wrote $out_dir/pvc.yaml, shards-job.yaml ($shards shards) and merge-job.yaml"
