"""Reference numbers for crates/core/src/schedule.rs tests (numpy; run: python3 tools/schedule_reference.py)."""
import numpy as np

betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
abar = np.cumprod(1 - betas)
sig = np.sqrt((1 - abar) / abar)
for t in [0, 1, 10, 100, 250, 500, 999]:
    print(f"sigma_t[{t}] = {sig[t]!r}")
i = np.arange(10)
smax, smin, rho = 80.0, 0.002, 7.0
print("karras(10) =", list((smax ** (1 / rho) + i / 9 * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho))
print("t(1.0) =", np.interp(np.log(1.0), np.log(sig), np.arange(1000)))
print("t(10.0) =", np.interp(np.log(10.0), np.log(sig), np.arange(1000)))
print("sigma(t=123.4) =", np.exp(np.interp(123.4, np.arange(1000), np.log(sig))))
