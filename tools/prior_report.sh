#!/usr/bin/env bash
# Everything the model card reports about a Fashion-MNIST prior, for one model file:
#   held-out denoising loss on all 10,000 test images (vmlmap models eval),
#   16 unconditional samples (vmlmap sample),
#   VML-MAP and the pseudo-inverse on the 20 shipped images, 3 tasks x 2 noise levels
#   (vmlmap demo --images 20; summary.md has the per-task means),
#   and, with FASHION100=DIR (made by tools/make_fashion_test_images.py ... --per-class 10
#   --offset 2), VML-MAP on those 100 further images (benches/prior100.toml -> OUT/prior100).
# Compare two reports image by image with tools/compare_priors.py.
# Run it for the old and the new prior to fill the card's side-by-side tables:
#   tools/prior_report.sh assets/models/fashion32.safetensors prior-old
#   tools/prior_report.sh /path/to/new.safetensors prior-new
# About 40 minutes per model on 2 cores (the 10,000-image evaluation is most of it).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 MODEL OUT_DIR" >&2
  exit 2
fi
MODEL=$1
OUT=$2
VMLMAP=${VMLMAP:-target/release/vmlmap}
[ -f "$MODEL" ] || [ "$MODEL" = default ] || { echo "$0: model $MODEL: no such file" >&2; exit 2; }
[ -x "$VMLMAP" ] || { echo "$0: $VMLMAP: not built (cargo build --release)" >&2; exit 2; }
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
[ -f "$OUT/model.sha256" ] || sha256sum "$MODEL" > "$OUT/model.sha256"
if [ ! -f "$OUT/heldout.json" ]; then
  log "held-out loss on the 10,000 test images"
  "$VMLMAP" models eval "$MODEL" --json > "$OUT/heldout.json.part"
  mv "$OUT/heldout.json.part" "$OUT/heldout.json"
fi
if [ ! -f "$OUT/samples.png" ]; then
  log "16 samples"
  "$VMLMAP" sample --model "$MODEL" --count 16 --output "$OUT/samples.png"
fi
if [ ! -f "$OUT/demo20/summary.md" ]; then
  log "VML-MAP and pinv on the 20 shipped images"
  "$VMLMAP" demo --model "$MODEL" --images 20 --solvers pinv,tikhonov,vml-map --out "$OUT/demo20" --force
fi
if [ -n "${FASHION100:-}" ] && [ ! -f "$OUT/prior100/report.md" ]; then
  log "VML-MAP on the 100 further images in $FASHION100"
  "$VMLMAP" bench --config benches/prior100.toml --images "$FASHION100" --model "$MODEL" \
    --out "$OUT/prior100" --resume
fi
log "done: $OUT (heldout.json, samples.png, demo20/summary.md${FASHION100:+, prior100/report.md})"
