#!/usr/bin/env bash
# The main job (README): label the example structures with real pw.x on this machine and
# collect the results in an ASE database. Installs what is missing first (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/out}

bash "$root/scripts/install-deps.sh"
if [ ! -d "$root/node_modules" ]; then (cd "$root" && npm ci --no-audit --no-fund); fi
(cd "$root" && npx tsc -p tsconfig.json)
autopipe() { node "$root/bin/autopipe.js" "$@"; }

mkdir -p "$out"
cd "$here"
autopipe config check autopipe.yaml > "$out/resolved-config.yaml"
autopipe qe input structures.extxyz -c autopipe.yaml -o "$out"
cd "$out"
for input in *.in; do
  echo "pw.x -in $input"
  OMP_NUM_THREADS=1 pw.x -in "$input" > "${input%.in}.out" 2> "${input%.in}.err" || true
done
autopipe qe parse *.out
autopipe db add labels.db *.out --kv iteration=0 --kv source=quickstart
autopipe db ls labels.db
autopipe db export labels.db -o labels.extxyz
echo "ASE reads the database:"
/usr/bin/python3 -m ase db labels.db
echo "results in $out"
