#!/usr/bin/env bash
# The Python package's tests: builds vmlmap (crates/python) into a fresh virtual
# environment with torch and guided-diffusion (so the torch tests run, not skip), then
# runs pytest. Needs target/release/vmlmap for the CLI-parity tests (cargo test --release
# or cargo build --release makes it). The venv lives in target/pyenv (VMLMAP_VENV to move
# it); everything comes from the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VMLMAP_VENV:-target/pyenv}"
PY="${PYTHON:-python3}"
if ! "$PY" -m venv --help >/dev/null 2>&1; then
    echo "python3 has no venv module: installing Debian's python3-venv" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "maturin>=1.9.4,<2" numpy pytest mypy torch guided-diffusion-sdk
export PYO3_PYTHON="$PWD/$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH"
"$VENV/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps ./crates/python
[ -x target/release/vmlmap ] || cargo build --release -p vmlmap-cli
export VMLMAP_BIN="$PWD/target/release/vmlmap"
cd crates/python
set +e
"$PWD/../../$VENV/bin/python" -m pytest -q -rs tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$rc"
