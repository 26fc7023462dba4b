#!/usr/bin/env bash
# The Kubernetes check (make test-k8s). No cluster can run here, so:
#   1. a synthetic scene (Samples/make_sample_scene.sh) and the tiny random CLIP of the test
#      fixtures are put in a folder standing for the volume; the run is planned there with paths
#      relative to it, into 3 shards (the map means nothing; its bytes are what is checked);
#   2. Deploy/kubernetes/render.sh writes the manifests from that plan;
#   3. they are validated against the Kubernetes schema (kubernetes-validate from PyPI, in a venv
#      at K8S_VENV, default out/k8s-venv; strict: unknown fields refused) for the oldest version
#      the shards Job needs (1.29: backoffLimitPerIndex) and the newest the package ships;
#   4. Tools/k8s_check.py lints what the schema does not say (Indexed, restartPolicy Never,
#      completions = parallelism = shard count, JOB_COMPLETION_INDEX, the merge on the same
#      volume), and must fail on manifests broken in each of those ways;
#   5. the volume folder is moved elsewhere (the pods see it at another path than the planner
#      did), each shard pod's command runs with JOB_COMPLETION_INDEX set and the container's env
#      (the kernel choice of the plan, pinned to baseline, comes from the manifest), then the
#      merge pod's, with the image's binary and mount path replaced by local ones
#      (Tools/k8s_check.py);
#   6. the merged outputs are compared with a single `landscribe segment` run (cmp).
# Prints PASS or FAIL per check; exits 1 when one failed.
# Usage: Tools/k8s_check.sh LANDSCRIBE_BINARY
set -euo pipefail
bin=${1:?usage: $0 LANDSCRIBE_BINARY}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
root=$(cd "$(dirname "$0")/.." && pwd)
started=$SECONDS
# shellcheck source=Tools/check_helpers.sh
source "$root/Tools/check_helpers.sh"
venv=${K8S_VENV:-$root/out/k8s-venv}
validator_version=1.37.0  # kubernetes-validate's version = the newest Kubernetes schema it ships

if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" > /dev/null 2>&1; then  # Debian's python3 makes venvs with python3-venv only
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "installing system packages: python3-venv"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv > /dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q "kubernetes-validate==$validator_version"
fi

work=$(mktemp -d /tmp/landscribe-k8s.XXXXXX)
trap 'rm -rf "$work"' EXIT
count_failures() {  # COMMAND...: runs it, adds the FAIL lines it printed
  local status=0
  "$@" > "$work/out.txt" || status=$?
  cat "$work/out.txt"
  failures=$((failures + $(grep -c '^FAIL' "$work/out.txt" || true)))
  [ "$status" = 0 ] || grep -q '^FAIL' "$work/out.txt" || { echo "FAIL: $* exited $status"; failures=$((failures + 1)); }
}

# 1. The volume and the plan, made with paths relative to the volume's root.
volume=$work/planned-here
mkdir -p "$volume/model" "$volume/out" "$volume/single"
copy_tiny_model "$volume/model"
export LANDSCRIBE_CACHE=$work/cache
"$root/Samples/make_sample_scene.sh" "$volume/scene.tif" > /dev/null
opts=(--model model --tile 256 --overlap 64 --rotations 0 --classes "building; road; tree; water; grass" --quiet)
# planned with the kernels pinned to baseline: the shard pods must get the pin from the manifest
# (the emulation gives them no LANDSCRIBE_* variable of this shell), else they refuse to run
(cd "$volume" && LANDSCRIBE_KERNELS=baseline "$bin" segment scene.tif --plan 3 --shard-dir shards -o out/map.tif \
  --probabilities out/p.tif --confidence "${opts[@]}")

# 2. The manifests.
IMAGE=registry.example.com/landscribe:test MOUNT=/data CPUS=2 LANDSCRIBE_KERNELS=baseline "$root/Deploy/kubernetes/render.sh" "$volume/shards" "$work/manifests"

# 3. The schema.
for version in 1.29.0 "$validator_version"; do
  check "kubernetes-validate --strict, Kubernetes $version: pvc.yaml, shards-job.yaml, merge-job.yaml" \
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$work/manifests/pvc.yaml" \
    "$work/manifests/shards-job.yaml" "$work/manifests/merge-job.yaml"
done

# 4. The lint, and the lint failing on broken manifests.
count_failures "$venv/bin/python" "$root/Tools/k8s_check.py" lint "$work/manifests" "$volume/shards"
broken() {  # NAME SED_SCRIPT FILE: the lint must fail on FILE changed by the script
  rm -rf "$work/broken"
  cp -r "$work/manifests" "$work/broken"
  sed -i "$2" "$work/broken/$3"
  check "the lint refuses manifests with $1" lint_fails "$work/broken"
}
lint_fails() {  # MANIFEST_DIR
  ! "$venv/bin/python" "$root/Tools/k8s_check.py" lint "$1" "$volume/shards" > /dev/null
}
broken "completionMode NonIndexed" 's/completionMode: Indexed/completionMode: NonIndexed/' shards-job.yaml
broken "restartPolicy OnFailure" 's/restartPolicy: Never/restartPolicy: OnFailure/' shards-job.yaml
broken "completions 2 for 3 shards" 's/completions: 3/completions: 2/' shards-job.yaml
broken "parallelism 2 for 3 shards" 's/parallelism: 3/parallelism: 2/' shards-job.yaml
broken "no JOB_COMPLETION_INDEX" 's/name: JOB_COMPLETION_INDEX/name: JOB_INDEX/' shards-job.yaml
broken "the merge on another volume" 's/claimName: .*/claimName: other/' merge-job.yaml
broken "the merge mounted elsewhere" 's|mountPath: .*|mountPath: /elsewhere|' merge-job.yaml
broken "a ReadWriteOnce claim" 's/ReadWriteMany/ReadWriteOnce/' pvc.yaml

# 5. The pods' commands, on the volume seen at another path than where it was planned.
mv "$volume" "$work/mounted-there"
volume=$work/mounted-there
count_failures "$venv/bin/python" "$root/Tools/k8s_check.py" emulate "$work/manifests" "$bin" "$volume"

# 6. The same bytes as a single run (made here, on the moved volume: the STAC item names the scene's full path).
(cd "$volume" && LANDSCRIBE_KERNELS=baseline "$bin" segment scene.tif -o single/map.tif --probabilities single/p.tif \
  --confidence "${opts[@]}")
check "merged outputs = single run's, byte for byte (the STAC item but for its clock times): $(file_names "$volume/single" | tr '\n' ' ')" same_files "$volume/single" "$volume/out"

finish "k8s check"
