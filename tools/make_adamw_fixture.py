"""Reference numbers for vmlmap's AdamW: torch.optim.AdamW on a least-squares problem.

Parameters W (2x3) and b (2), loss = mean((x W^T + b - y)^2) over a batch of 4; six steps
with a per-step learning rate (a linear warm-up, as vmlmap's trainer does), for two
weight decays. Writes tests/fixtures/train/adamw.json (initial values, data, and the
parameters after every step). Run: python3 tools/make_adamw_fixture.py
"""
import json
import torch

torch.manual_seed(0)
W0 = torch.randn(2, 3, dtype=torch.float64)
b0 = torch.randn(2, dtype=torch.float64)
x = torch.randn(4, 3, dtype=torch.float64)
y = torch.randn(4, 2, dtype=torch.float64)
lrs = [0.05 * min(1.0, (k + 1) / 3) for k in range(6)]
cases = []
for wd in [0.0, 0.1]:
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([W, b], lr=lrs[0], betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    after = []
    for lr in lrs:
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = ((x @ W.T + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        after.append({"W": W.detach().flatten().tolist(), "b": b.detach().tolist()})
    cases.append({"weight_decay": wd, "after": after})
out = {
    "torch": torch.__version__,
    "W0": W0.flatten().tolist(),
    "b0": b0.tolist(),
    "x": x.flatten().tolist(),
    "y": y.flatten().tolist(),
    "lrs": lrs,
    "cases": cases,
}
with open("tests/fixtures/train/adamw.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote tests/fixtures/train/adamw.json")
