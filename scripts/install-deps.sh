#!/usr/bin/env bash
# Install the real components autopipe's tests use, from Debian, only when missing:
# pw.x (Quantum ESPRESSO), LAMMPS, ASE + pandas (under /usr/bin/python3), SLURM + munge, slurmdbd +
# MariaDB (the test cluster's accounting: QOS and submit limits), OpenSSH,
# sqlite3, Chromium and a sans-serif font (the report's browser test: headless, screenshots),
# and g++ and make, which npm needs to build better-sqlite3 (SQLite itself) from source;
# then pacemaker (python-ace), its TensorFlow backend and today's ASE in a virtual environment
# (AUTOPIPE_VENV, default /opt/autopipe/venv) from the Python package registry, pinned in
# scripts/venv-requirements.txt; then LAMMPS with ML-PACE and MPI (scripts/install-lammps.sh,
# AUTOPIPE_LAMMPS, default /opt/autopipe/lammps), built from source with cmake and Open MPI. Idempotent; needs root (apt-get). Node.js 20 and npm must
# already be there.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${AUTOPIPE_VENV:-/opt/autopipe/venv}"

PACKAGES=(quantum-espresso quantum-espresso-data lammps python3-ase python3-pandas
          slurm-wlm slurmdbd mariadb-server munge openssh-server openssh-client sqlite3 chromium fonts-liberation fonts-dejavu-core
          g++ make python3-venv cmake libopenmpi-dev openmpi-bin curl ca-certificates)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

install_venv() {
  bash "$HERE/install-venv.sh" "$VENV"
  # LAMMPS with ML-PACE (built once per machine, about 3 minutes on 2 cores; cached)
  bash "$HERE/install-lammps.sh"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
  install_venv
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: these Debian packages are missing: ${missing[*]}" >&2
  echo "install-deps: run as root (sudo bash scripts/install-deps.sh), or install them yourself with" >&2
  echo "  apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: Debian packages done"
install_venv
