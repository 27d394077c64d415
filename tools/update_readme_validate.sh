#!/usr/bin/env bash
# Regenerates the `validate` tables of docs/validate.md from a run of `vmlmap validate --markdown`
# (between the <!-- validate:begin --> and <!-- validate:end --> markers), so that the
# page's numbers are what the command prints. About 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
out=$(mktemp)
./target/release/vmlmap validate --markdown > "$out" 2> "$out.log"
tail -n 1 "$out.log"
python3 - "$out" "$out.log" <<'PY'
import re, sys
table = open(sys.argv[1]).read().strip()
log = open(sys.argv[2]).read().strip().splitlines()
summary = log[-1] if log else ""
readme = open("docs/validate.md").read()
block = f"<!-- validate:begin -->\n{table}\n\n`{summary}`\n<!-- validate:end -->"
new, n = re.subn(r"<!-- validate:begin -->.*?<!-- validate:end -->", lambda _: block, readme, flags=re.S)
if n != 1:
    sys.exit("docs/validate.md has no validate:begin/end markers")
open("docs/validate.md", "w").write(new)
PY
rm -f "$out" "$out.log"
