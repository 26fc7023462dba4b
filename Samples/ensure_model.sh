#!/usr/bin/env bash
# make demo's model step: a folder or a cached model id is used as it is; a model id that is not
# cached is fetched (landscribe model fetch, with its progress line) when the network allows,
# otherwise this says how to get it and fails.
# Usage: Samples/ensure_model.sh LANDSCRIBE_BINARY MODEL
set -uo pipefail
bin=${1:?usage: $0 LANDSCRIBE_BINARY MODEL}
model=${2:?usage: $0 LANDSCRIBE_BINARY MODEL}
if [ -d "$model" ] || "$bin" model inspect "$model" > /dev/null 2>&1; then
  exit 0
fi
echo "model $model is not in the cache: fetching it (landscribe model fetch $model)"
if "$bin" model fetch "$model"; then
  exit 0
fi
cat >&2 <<MSG
make demo: could not fetch $model (no internet access here?). Either
  - run 'landscribe model fetch $model' on a machine with internet and copy the cache folder
    (\${LANDSCRIBE_CACHE:-~/.cache/landscribe}) here, or
  - copy a Hugging Face layout folder (config.json, model.safetensors, vocab.json, merges.txt)
    and run 'make demo MODEL=/path/to/folder'.
MSG
exit 1
