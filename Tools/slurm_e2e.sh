#!/usr/bin/env bash
# The Slurm end-to-end check (make test-slurm): a real single-node Slurm cluster on this machine
# runs a sharded landscribe run with the deployment scripts of Deploy/slurm/ and the outputs are
# compared byte for byte with a one-machine run. Runs as root on Debian 12 without systemd:
#   - installs slurmctld slurmd slurm-client munge from Debian when missing (the install starts
#     nothing), writes a private slurm.conf in a temporary folder (this host, `hostname -s` at
#     127.0.0.1, as controller and only node, CPUs = nproc, cons_tres/CR_Core,
#     proctrack/linuxproc, task/none: the cgroup plugins do not work in containers; no
#     accounting; ports SLURM_E2E_PORT and +1, default 16817, so a Slurm already on the host is
#     left alone), starts munged (unless one answers), slurmctld -i and
#     slurmd by hand and stops each by its pid on exit;
#   - plans the synthetic sample scene (Samples/make_sample_scene.sh) into 3 shards with the tiny
#     random CLIP of the test fixtures (the map means nothing; its bytes are what is checked),
#     for segment (class map, probabilities, confidence; a preview asked of the merge) and for
#     detect (GeoJSON), submits each with Deploy/slurm/submit.sh (a job array, then the merge with
#     --dependency=afterok; segment planned by submit.sh, detect planned before) and compares
#     every merged file with a single `landscribe segment|detect` run (cmp);
#   - runs shard 1 again as a Slurm job: no file of the shard folder may change;
#   - submits a third plan whose array task 1 is pointed at a broken plan folder (LANDSCRIBE is a
#     wrapper doing that): the task fails, the merge must be cancelled (JobState not COMPLETED:
#     `sbatch --wait` would return 0 for it) and leave no output, and `landscribe merge` by hand
#     must refuse with one line naming shard 1.
# Prints PASS or FAIL per check; exits 1 when one failed.
# Usage: Tools/slurm_e2e.sh LANDSCRIBE_BINARY
set -euo pipefail
bin=${1:?usage: $0 LANDSCRIBE_BINARY}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "$0: run as root: it installs Slurm and starts slurmctld, slurmd and munged" >&2; exit 1; }
started=$SECONDS
# shellcheck source=Tools/check_helpers.sh
source "$root/Tools/check_helpers.sh"

missing=""
for p in slurmctld slurmd slurm-client munge; do dpkg -s "$p" > /dev/null 2>&1 || missing="$missing $p"; done
# Deploy/shard_count.sh reads the plan with jq or python3
command -v jq > /dev/null || command -v python3 > /dev/null || missing="$missing jq"
if [ -n "$missing" ]; then
  echo "installing system packages:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086  # one word a package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing > /dev/null
fi

work=$(mktemp -d /tmp/landscribe-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local status=$? pid
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do  # wait up to 10 s for each to exit (they may not be our children)
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
  done
  if [ "$status" != 0 ] && [ -d "$work/log" ]; then
    for f in "$work"/log/*; do echo "--- tail of $f"; tail -n 20 "$f"; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that the daemons are stopped then too

# --- the cluster -------------------------------------------------------------------------------
host=$(hostname -s)
port=${SLURM_E2E_PORT:-16817}
mkdir -p "$work/state" "$work/spool/$host" "$work/log"  # %n in SlurmdSpoolDir is not created for us
cat > "$work/slurm.conf" << EOF
ClusterName=landscribe-e2e
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool/%n
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
DependencyParameters=kill_invalid_depend
ReturnToService=2
MinJobAge=3600
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=e2e Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf

if munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
  echo "munged: using the one running"
else
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey > /dev/null; then mungekey --create --keyfile=/etc/munge/munge.key; else create-munge-key -f; fi
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged  # forks; its pid is in the pid file
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  pids+=("$(cat /run/munge/munged.pid)")
  munge -n | unmunge > /dev/null || { echo "FAIL: munged does not answer" >&2; exit 1; }
fi
slurmctld -D -i > "$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D > "$work/log/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 120); do
  state=$(sinfo -h -n "$host" -o %t 2> /dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || { echo "FAIL: the node is '$state', not idle, after 60 s" >&2; exit 1; }
echo "slurm: node $host idle, $(nproc) CPUs ($((SECONDS - started)) s)"

# --- helpers -----------------------------------------------------------------------------------
states() {  # JOB: the distinct JobState values of a job or of every task of an array, sorted
  scontrol show job "$1" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort -u | tr '\n' ' ' | sed 's/ $//'
}
task_state() {  # ARRAY_JOB TASK
  scontrol show job "$1_$2" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}
wait_jobs() {  # JOB...: until none is pending or running (at most 10 minutes)
  local job s busy
  for _ in $(seq 600); do
    busy=""
    for job; do
      s=$(states "$job")
      # a job whose dependency can never be met is done, whether or not Slurm cancelled it
      scontrol show job "$job" 2> /dev/null | grep -q 'Reason=DependencyNeverSatisfied' && continue
      case " $s " in
        "  " | *PENDING* | *RUNNING* | *CONFIGURING* | *COMPLETING* | *SUSPENDED* | *REQUEUE*) busy=1 ;;
      esac
    done
    [ -z "$busy" ] && return 0
    sleep 1
  done
  echo "jobs $* still not finished after 10 minutes" >&2
  return 1
}
one_line_naming_shard_1() {  # FILE: exactly one line, naming shard 1 (as 1 or 0001)
  [ "$(wc -l < "$1")" = 1 ] && grep -Eq '(^|[^0-9])0*1([^0-9]|$)' "$1"
}

# --- the run -----------------------------------------------------------------------------------
mkdir -p "$work/model" "$work/single" "$work/merged" "$work/failed"
copy_tiny_model "$work/model"
export LANDSCRIBE_CACHE=$work/cache
"$root/Samples/make_sample_scene.sh" "$work/scene.tif" > /dev/null
opts=(--model "$work/model" --tile 256 --overlap 64 --rotations 0 --classes "building; road; tree; water; grass" --quiet)
cd "$work"

submit="$root/Deploy/slurm/submit.sh"
export CPUS_PER_TASK=1
# segment: submit.sh plans, and passes the merge an option (a preview)
jobs=$(LANDSCRIBE=$bin MERGE_OPTIONS="--preview $work/merged/map.png" "$submit" "$work/seg" segment "$work/scene.tif" --plan 3 \
  -o "$work/merged/map.tif" --probabilities "$work/merged/p.tif" --confidence "${opts[@]}")
read -r seg_array seg_merge <<< "$jobs"
# detect: a plan made before, submitted as it is
"$bin" detect "$work/scene.tif" --plan 3 --shard-dir "$work/det" -o "$work/merged/objects.geojson" "${opts[@]}"
jobs=$(LANDSCRIBE=$bin "$submit" "$work/det")
read -r det_array det_merge <<< "$jobs"
mkdir "$work/broken"
printf '{"shards": [' > "$work/broken/plan.json"
cat > "$work/flaky-landscribe" << EOF
#!/bin/sh
# landscribe, except that array task 1 is pointed at a broken plan folder
if [ "\$1" = shard ] && [ "\${SLURM_ARRAY_TASK_ID:-}" = 1 ]; then shift 2; exec "$bin" shard "$work/broken" "\$@"; fi
exec "$bin" "\$@"
EOF
chmod +x "$work/flaky-landscribe"
jobs=$(LANDSCRIBE=$work/flaky-landscribe "$submit" "$work/fail" segment "$work/scene.tif" --plan 3 \
  -o "$work/failed/map.tif" --probabilities "$work/failed/p.tif" "${opts[@]}")
read -r fail_array fail_merge <<< "$jobs"
echo "submitted: segment array $seg_array + merge $seg_merge, detect array $det_array + merge $det_merge, failing array $fail_array + merge $fail_merge"

t0=$SECONDS
"$bin" segment "$work/scene.tif" -o "$work/single/map.tif" --probabilities "$work/single/p.tif" --confidence \
  --preview "$work/single/map.png" "${opts[@]}"
"$bin" detect "$work/scene.tif" -o "$work/single/objects.geojson" "${opts[@]}"
echo "single runs: $((SECONDS - t0)) s"

t0=$SECONDS
wait_jobs "$seg_array" "$seg_merge" "$det_array" "$det_merge" "$fail_array" "$fail_merge"
echo "slurm jobs: $((SECONDS - t0)) s more"
check "segment: 3 array tasks completed ($(states "$seg_array"))" [ "$(states "$seg_array")" = COMPLETED ]
check "segment: the dependent merge completed ($(states "$seg_merge"))" [ "$(states "$seg_merge")" = COMPLETED ]
check "detect: 3 array tasks completed ($(states "$det_array"))" [ "$(states "$det_array")" = COMPLETED ]
check "detect: the dependent merge completed ($(states "$det_merge"))" [ "$(states "$det_merge")" = COMPLETED ]
check "merged outputs = single run's, byte for byte (the STAC item but for its clock times): $(file_names "$work/single" | tr '\n' ' ')" \
  same_files "$work/single" "$work/merged"

# A shard run again (as a requeued or duplicated task would be) changes nothing.
cp -a "$work/seg" "$work/seg-before"
rm -rf "$work/seg-before/logs"
again=$(SHARD_DIR=$work/seg LANDSCRIBE=$bin sbatch --parsable --array=1 --cpus-per-task=1 \
  --output="$work/log/again-%a.out" --export=ALL "$root/Deploy/slurm/shard.sbatch")
again=${again%%;*}
wait_jobs "$again"
check "shard 1 run again: completed ($(states "$again"))" [ "$(states "$again")" = COMPLETED ]
check "shard 1 run again: every file of the shard folder unchanged" diff -r -x logs "$work/seg-before" "$work/seg"

# A failing shard cancels the merge.
check "failing plan: array task 1 failed ($(task_state "$fail_array" 1))" [ "$(task_state "$fail_array" 1)" = FAILED ]
check "failing plan: tasks 0 and 2 completed" [ "$(task_state "$fail_array" 0) $(task_state "$fail_array" 2)" = "COMPLETED COMPLETED" ]
check "failing plan: the dependent merge did not run ($(states "$fail_merge"))" [ "$(states "$fail_merge")" != COMPLETED ]
check "failing plan: the failed task's log is one line: $(head -c 300 "$work/fail/logs/shard-1.out")" [ "$(wc -l < "$work/fail/logs/shard-1.out")" = 1 ]
check "failing plan: no merged output" [ -z "$(ls -A "$work/failed")" ]
set +e
"$bin" merge "$work/fail" 2> "$work/merge-refused.txt"
status=$?
set -e
check "failing plan: landscribe merge by hand exits 1 (got $status)" [ "$status" = 1 ]
check "failing plan: its message is one line naming shard 1: $(head -c 300 "$work/merge-refused.txt")" one_line_naming_shard_1 "$work/merge-refused.txt"
check "failing plan: still no merged output" [ -z "$(ls -A "$work/failed")" ]

finish "slurm e2e"
