#!/usr/bin/env python3
"""The shape of the Rust code: files over a line limit, functions over a line limit, and
two-file import circles inside each crate (module a uses module b and b uses a).

    python3 tools/code_shape.py [--file-limit 600] [--fn-limit 120]

Functions are found by their `fn` line and the closing brace at the same indentation
(rustfmt's layout); test modules count like the rest. Exit status 1 when anything is over a
limit or a circle exists, so CI or a reviewer can run it as a check.
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rust_files():
    return sorted(p for p in (ROOT / "crates").rglob("*.rs") if "target" not in p.parts)


def long_functions(path, limit):
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    fn_re = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
    for i, line in enumerate(lines):
        m = fn_re.match(line)
        if not m:
            continue
        indent = m.group(1)
        # The body ends at the first line that is `indent}` after the signature.
        for j in range(i + 1, len(lines)):
            if lines[j] == indent + "}" :
                n = j - i + 1
                if n > limit:
                    out.append((n, m.group(7), i + 1))
                break
            if lines[j].startswith(indent + "fn ") or (lines[i].rstrip().endswith(";")):
                break
    return out


def module_of(path):
    """(crate, module path) of a source file: crates/solvers/src/vml_map.rs -> (solvers, vml_map)."""
    rel = path.relative_to(ROOT / "crates")
    crate = rel.parts[0]
    parts = list(rel.parts[2:]) if len(rel.parts) > 2 and rel.parts[1] == "src" else None
    if parts is None:
        return None
    parts[-1] = parts[-1][:-3]
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return crate, "::".join(parts)


def uses(path):
    text = path.read_text(encoding="utf-8")
    found = set()
    for m in re.finditer(r"(?:use\s+|\b)(crate|super)::([\w:]+)", text):
        found.add((m.group(1), m.group(2)))
    return found


def circles():
    mods = {}
    for p in rust_files():
        k = module_of(p)
        if k:
            mods[k] = p
    edges = set()
    for (crate, mod), p in mods.items():
        for kind, target in uses(p):
            parts = target.split("::")
            if kind == "super":
                base = mod.split("::")[:-1] if not p.name == "mod.rs" else mod.split("::")[:-1]
                parts = base + parts
            # The longest known module prefix.
            for n in range(len(parts), 0, -1):
                cand = "::".join(parts[:n])
                if (crate, cand) in mods and cand != mod:
                    edges.add((crate, mod, cand))
                    break
    return sorted({tuple(sorted((a, b))) + (c,) for c, a, b in edges if (c, b, a) in edges})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file-limit", type=int, default=600)
    ap.add_argument("--fn-limit", type=int, default=120)
    a = ap.parse_args()
    bad = 0
    files = []
    fns = []
    for p in rust_files():
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > a.file_limit:
            files.append((n, p.relative_to(ROOT)))
        fns += [(n, name, p.relative_to(ROOT), line) for n, name, line in long_functions(p, a.fn_limit)]
    print(f"files over {a.file_limit} lines: {len(files)}")
    for n, p in sorted(files, reverse=True):
        print(f"  {n:5}  {p}")
    print(f"functions over {a.fn_limit} lines: {len(fns)}")
    for n, name, p, line in sorted(fns, reverse=True):
        print(f"  {n:5}  {name}  {p}:{line}")
    cs = circles()
    print(f"two-module import circles: {len(cs)}")
    for a_, b_, crate in cs:
        print(f"  {crate}: {a_} <-> {b_}")
    bad = len(files) + len(fns) + len(cs)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
