"""The hand-written stubs of the compiled module match it (mypy's stubtest)."""

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")


def test_stubs_match_the_compiled_module():
    allow = pathlib.Path(__file__).with_name("stubtest-allowlist.txt")
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "vmlmap._vmlmap", "--allowlist", str(allow)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
