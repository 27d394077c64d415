"""VMLMAP_SIMD at import: a kernel set by name, or a clear error naming the value."""
import os
import subprocess
import sys


def _import_with(value):
    env = dict(os.environ, VMLMAP_SIMD=value)
    return subprocess.run([sys.executable, "-c", "import vmlmap; print('ok')"],
                          capture_output=True, text=True, env=env)


def test_an_unknown_kernel_set_is_an_error_naming_it():
    out = _import_with("avx1024")
    assert out.returncode != 0
    assert "VMLMAP_SIMD=avx1024" in out.stderr
    assert "unknown kernel set" in out.stderr


def test_the_portable_kernels_and_auto_import():
    for value in ("baseline", "auto"):
        out = _import_with(value)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "ok"
