#!/usr/bin/env bash
# The Python side of autopipe's cluster tools, in one virtual environment (default
# /opt/autopipe/venv; a path as the first argument): pacemaker and its CLI tools (python-ace:
# pacemaker, pace_activeset, pace_yaml2yace, pace_select), the GRACE `tensorpotential` backend on
# a CPU-only TensorFlow, today's ASE and pandas, every version pinned in venv-requirements.txt.
#
# tensorpotential asks for `tensorflow[and-cuda]` on Linux, which would pull gigabytes of CUDA
# wheels: TensorFlow comes in by name as tensorflow-cpu, and tensorpotential and tf_keras (which
# asks for the `tensorflow` name) with --no-deps. numpy stays below 2.4: tensorpotential 0.6.2.1
# converts 1-element arrays with float(), which numpy 2.4 refuses.
# Idempotent: a venv whose pins all match is left alone. Uses Debian's python3 (3.11).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:-/opt/autopipe/venv}"
REQ="$HERE/venv-requirements.txt"
NODEPS=(tensorpotential==0.6.2.1 tf_keras==2.20.1)
STAMP="$VENV/.autopipe-requirements"
want="$(cat "$REQ"; printf '%s\n' "${NODEPS[@]}")"

if [ -x "$VENV/bin/pacemaker" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "install-venv: $VENV has pacemaker $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-ace"))') and every pin of $(basename "$REQ")"
  exit 0
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
echo "install-venv: making $VENV with $("$PY" --version) and installing $(wc -l < "$REQ") pinned packages (python-ace, tensorflow-cpu, ase, pandas, …) and ${NODEPS[*]} without their dependencies"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${NODEPS[@]}"
"$VENV/bin/pacemaker" --version >/dev/null 2>&1 || "$VENV/bin/python" -c 'import pyace, tensorpotential' 
printf '%s\n' "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
echo "install-venv: done ($VENV/bin/pacemaker)"
