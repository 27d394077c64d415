"""Shared helpers of the vmlmap Python tests."""

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def vmlmap_binary():
    """The `vmlmap` CLI of this checkout (built by `cargo test --release`/`cargo build
    --release`), or $VMLMAP_BIN."""
    env = os.environ.get("VMLMAP_BIN")
    if env:
        return env
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "vmlmap"
        if p.is_file():
            return str(p)
    found = shutil.which("vmlmap")
    if found:
        return found
    pytest.fail(
        "no vmlmap binary: run `cargo build --release` first or set VMLMAP_BIN"
    )
