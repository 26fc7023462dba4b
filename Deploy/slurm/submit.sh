#!/usr/bin/env bash
# Submits a sharded landscribe run to Slurm: the shards as one job array (shard.sbatch, one task
# per shard of the plan) and the merge (merge.sbatch) as a job that depends on the whole array
# with afterok, so it starts only when every shard succeeded and is cancelled when one failed.
#
# Usage:
#   Deploy/slurm/submit.sh SHARD_DIR
#       submits the plan already in SHARD_DIR/plan.json
#   Deploy/slurm/submit.sh SHARD_DIR segment SCENE --plan N [options] [-o OUT.tif] [--probabilities P.tif] [--confidence]
#   Deploy/slurm/submit.sh SHARD_DIR detect SCENE --plan N [options] [-o OUT.geojson]
#       plans first, here on the submit host: runs `landscribe segment|detect ... --shard-dir SHARD_DIR`
#       (the -o/--probabilities paths become the merge's outputs), then submits
# Prints "ARRAY_JOB_ID MERGE_JOB_ID" on stdout. The jobs run in the current directory (sbatch's
# default), so relative paths in the plan resolve as they did when planning; SHARD_DIR, the
# scene, the model and the outputs must be on a file system every node sees.
# Logs: SHARD_DIR/logs/shard-I.out (one per task) and SHARD_DIR/logs/merge.out.
#
# Variables:
#   LANDSCRIBE     the landscribe binary as the nodes see it (default: landscribe on PATH); also
#                  used here for planning
#   MODEL          when planning, added as --model MODEL (the plan records the model and its
#                  weights hash; the shards load it from there)
#   CPUS_PER_TASK  cores per shard (default 4); each shard runs with --threads $SLURM_CPUS_PER_TASK
#   MERGE_CPUS     cores of the merge job (default 1; the merge only streams rows)
#   ARRAY_LIMIT    run at most this many shards at once (--array=0-(N-1)%LIMIT; default: no limit)
#   MERGE_OPTIONS  options of `landscribe merge`, split at spaces (e.g. "--preview map.png --overwrite")
#   SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT, SBATCH_MEM_PER_NODE, ...: read by sbatch itself
#                  for both jobs (see `man sbatch`, INPUT ENVIRONMENT VARIABLES)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shard_dir=${1:?usage: $0 SHARD_DIR [segment|detect SCENE --plan N [options]]}
shift
landscribe=${LANDSCRIBE:-landscribe}
if [ $# -gt 0 ]; then
  case $1 in
    segment|detect) ;;
    *) echo "$0: expected segment or detect after SHARD_DIR, got '$1'" >&2; exit 64 ;;
  esac
  "$landscribe" "$@" ${MODEL:+--model "$MODEL"} --shard-dir "$shard_dir"
fi
shards=$("$here/../shard_count.sh" "$shard_dir")
mkdir -p "$shard_dir/logs"
export SHARD_DIR=$shard_dir LANDSCRIBE=$landscribe
array=$(sbatch --parsable --array="0-$((shards - 1))${ARRAY_LIMIT:+%$ARRAY_LIMIT}" \
  --cpus-per-task="${CPUS_PER_TASK:-4}" --output="$shard_dir/logs/shard-%a.out" \
  --export=ALL "$here/shard.sbatch")
array=${array%%;*}
# shellcheck disable=SC2086  # MERGE_OPTIONS is split at spaces on purpose
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --cpus-per-task="${MERGE_CPUS:-1}" --output="$shard_dir/logs/merge.out" \
  --export=ALL "$here/merge.sbatch" ${MERGE_OPTIONS:-})
merge=${merge%%;*}
echo "$array $merge"
