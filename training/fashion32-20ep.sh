#!/usr/bin/env bash
# The 20-epoch training run of the default prior (issue 13): Fashion-MNIST, the
# adm-fashion32 architecture, 37,500 steps of batch 32. Resumable: run it again and it goes on
# from the checkpoint. See training/README.md.
#
# Usage: training/fashion32-20ep.sh [CHECKPOINT] [more vmlmap train arguments, e.g. --export F]
#   CHECKPOINT  the training state (default ~/.cache/vmlmap/fashion32-20ep.state.safetensors);
#               a fresh start when it does not exist yet.
#   VMLMAP      the binary (default target/release/vmlmap).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${1:-$HOME/.cache/vmlmap/fashion32-20ep.state.safetensors}"
shift || true
vmlmap="${VMLMAP:-$here/../target/release/vmlmap}"

# The recipe. The checkpoint records it (a resume under another one goes on with a note);
# crates/train/tests/training_script.rs checks these lines against the model card's recipe.
ARGS=(
  --steps 37500 --batch 32 --lr 5e-4 --warmup 500 --lr-decay cosine --lr-final 5e-5
  --ema 0.9999 --seed 0
  --save-every 200 --eval-every 1000 --eval-images 1000
)

exec "$vmlmap" train "${ARGS[@]}" --checkpoint "$state" "$@"
