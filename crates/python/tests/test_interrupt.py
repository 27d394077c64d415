"""Ctrl-C during a long restore raises KeyboardInterrupt promptly and the interpreter
goes on; the run stops at its next network evaluation."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np, vmlmap
    x = np.zeros((8, 1, 32, 32), np.float32)
    y, meta = vmlmap.degrade(x, "sr4", sigma_y=0.05)
    model = {model}
    print("started", flush=True)
    t = time.perf_counter()
    try:
        vmlmap.restore(y, meta=meta, solver="dps", steps=1000, model=model)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        # the interpreter is fine: another (short) restore works
        vmlmap.restore(y[:1], meta=meta, solver="pinv")
        print("alive", flush=True)
    """
)

SLOW_PYTHON_DENOISER = """(lambda: type("Slow", (), dict(
    shape=(1, 32, 32),
    denoise=lambda self, x, s: (time.sleep(0.05), x * 0.5)[1],
    vjp=lambda self, x, s, v: (time.sleep(0.05), (x * 0.5, v * 0.5))[1],
))())()"""


@pytest.mark.parametrize("model", ['"default"', SLOW_PYTHON_DENOISER], ids=["native", "python"])
def test_ctrl_c_raises_keyboard_interrupt(model):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(model=model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert child.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    line = child.stdout.readline().strip()
    latency = time.perf_counter() - sent
    out, err = child.communicate(timeout=120)
    print(f"KeyboardInterrupt {latency:.3f} s after SIGINT")
    assert line == "interrupted", (line, out, err)
    assert "alive" in out
    assert child.returncode == 0, err
