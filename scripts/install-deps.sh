#!/usr/bin/env bash
# Install the real components autopipe's tests use, from Debian, only when missing:
# pw.x (Quantum ESPRESSO), LAMMPS, ASE + pandas (under /usr/bin/python3), SLURM + munge, OpenSSH,
# sqlite3, and g++ and make, which npm needs to build better-sqlite3 (SQLite itself) from source.
# Idempotent; needs root (apt-get). Node.js 20 and npm must already be there.
set -euo pipefail

PACKAGES=(quantum-espresso quantum-espresso-data lammps python3-ase python3-pandas
          slurm-wlm munge openssh-server openssh-client sqlite3 g++ make)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
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
echo "install-deps: done"
