#!/usr/bin/env bash
# Train the three restoration models and their -large variants on one GPU machine at once:
# one process per modality (the small and large model of a modality learn in lockstep from the
# same batches), with the CPU cores shared out as data processes. Checkpoints are archived to
# "$1/weights.tgz.NN" (pieces) every minute, so a run cut short still returns its last checkpoint.
#
# Usage: bash scripts/train_restore_gpu.sh OUT_DIR MINUTES
set -euo pipefail
out=${1:?output folder}; minutes=${2:?minutes of training per model}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
common=(--device cuda --minutes "$minutes" --steps 40000 --batch-size 16 --loss log-mse --checkpoint-minutes 1)
weights=src/tem_denoise/models/weights
archive() {  # in pieces of 15 MB (reassemble with: cat weights.tgz.* | tar xz)
  tar czf "$out/archive.tmp" -C "$weights" $(cd "$weights" && ls -d restore-*) &&
    rm -f "$out"/weights.tgz.* && split -b 15M -d "$out/archive.tmp" "$out/weights.tgz." && rm "$out/archive.tmp"
}

"$python" scripts/train_restore.py restore-hrtem restore-hrtem-large --workers 6 --multislice 0.5 --physical-phase "${common[@]}" >"$out/hrtem.log" 2>&1 &
"$python" scripts/train_restore.py restore-haadf restore-haadf-large --workers 4 "${common[@]}" >"$out/haadf.log" 2>&1 &
"$python" scripts/train_restore.py restore-bf restore-bf-large --workers 4 "${common[@]}" >"$out/bf.log" 2>&1 &
while [ -n "$(jobs -r)" ]; do sleep 60; archive || true; done
wait
archive
