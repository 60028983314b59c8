#!/usr/bin/env bash
# The main job (README): the whole active-learning loop on the local executor with real programs,
# two iterations of label (pw.x) → train (pacemaker) → explore (ASE MD with python-ace's γ) →
# select (periodic sub-cells with force masks), into an ASE database, and ends by writing
# report.html and printing its path. Installs what is missing first (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/out}

bash "$root/scripts/install-deps.sh"
if [ ! -d "$root/node_modules" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  (cd "$root" && npm ci --no-audit --no-fund)   # builds better-sqlite3 from source (about 80 s) the first time
fi
(cd "$root" && npx tsc -p tsconfig.json)
autopipe() { node "$root/bin/autopipe.js" "$@"; }

# A fresh copy of the example project, so the example folder itself stays clean.
rm -rf "$out"
mkdir -p "$out"
cp "$here/autopipe.yaml" "$here/structures.extxyz" "$here/explore.extxyz" "$here/validation.extxyz" "$out/"
autopipe config check "$out/autopipe.yaml" > /dev/null
autopipe run -C "$out"                       # submit, then poll until the loop stops; prints a summary per iteration
autopipe status -C "$out"
autopipe db ls "$out/.autopipe/autopipe.db"
echo "ASE reads the database:"
/usr/bin/python3 -m ase db "$out/.autopipe/autopipe.db"
echo "the project is in $out; task folders under $out/.autopipe/run"
report=$(autopipe report -C "$out")          # one self-contained HTML page: tables and plots of both iterations
echo "the report: $report"
