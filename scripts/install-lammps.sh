#!/usr/bin/env bash
# LAMMPS with ML-PACE (pair_style pace and pace/extrapolation, pacemaker's active-learning engine),
# MANYBODY (EAM, for tests) and MPI, built from sources these machines reach:
#   - LAMMPS 4 Feb 2025, Debian 13's source package lammps=20250204+dfsg.1-2 (a deb-src entry
#     for trixie is added; Debian 12's lammps has no ML-PACE);
#   - the ACE evaluator that ML-PACE links, from python-ace's sdist at the venv's own version
#     (scripts/venv-requirements.txt), so that lmp and pyace read the same potential files.
#     LAMMPS's CMake would download lammps-user-pace from GitHub; scripts/lammps/pace/ builds
#     the same library from the sdist instead and is handed over with -DLOCAL_ML-PACE.
# Installs to AUTOPIPE_LAMMPS (default /opt/autopipe/lammps): bin/lmp. Idempotent: a build whose
# stamp (both versions and this script's recipe) matches is left alone, so CI builds it once per
# machine (about 5 minutes on 2 cores). Needs root for apt-get; cmake, g++, make and
# libopenmpi-dev come from install-deps.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${AUTOPIPE_LAMMPS:-/opt/autopipe/lammps}"
LAMMPS_DEB=20250204+dfsg.1-2
LAMMPS_ORIG=lammps_20250204+dfsg.1.orig.tar.xz
LAMMPS_SHA256=3671165bd52fad36734e0a9136c5bc5ecb225e03988f8c89aa13366a8b53b1c7
PYACE="$(sed -n 's/^python-ace==//p' "$HERE/venv-requirements.txt")"
PYACE_SDIST="python_ace-$PYACE.tar.gz"
JOBS="${AUTOPIPE_BUILD_JOBS:-$(nproc)}"
STAMP="$PREFIX/.autopipe-build"
# what makes the binary: a change here (or in lammps/pace/) rebuilds, other edits to this script do not
CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DBUILD_MPI=on -DBUILD_OMP=on -DPKG_MANYBODY=on -DPKG_ML-PACE=on
  -DBUILD_TOOLS=off -DBUILD_LAMMPS_GUI=off -DWITH_JPEG=off -DWITH_PNG=off -DWITH_FFMPEG=off -DWITH_GZIP=on
  -DDOWNLOAD_POTENTIALS=off)
want="lammps $LAMMPS_DEB python-ace $PYACE cmake $(printf '%s\n' "${CMAKE_FLAGS[@]}" | cat - "$HERE/lammps/pace/CMakeLists.txt" | sha256sum | cut -c1-16)"

if [ -x "$PREFIX/bin/lmp" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "install-lammps: $PREFIX/bin/lmp is built ($want)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-lammps: $PREFIX/bin/lmp is missing or out of date; run as root: sudo bash scripts/install-lammps.sh" >&2
  exit 1
fi

WORK="$(mktemp -d /tmp/autopipe-lammps-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
started=$(date +%s)

# LAMMPS: only the orig tarball is needed (Debian's patches concern its packaging). apt-get
# fetches it by checksum from the trixie Sources index; the .dsc is sometimes missing from the
# mirror, so apt-get's exit status is not the judge, the tarball's SHA-256 is.
SRC_LIST=/etc/apt/sources.list.d/autopipe-lammps-src.sources
cat > "$SRC_LIST" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt-get update -qq -o Dir::Etc::sourcelist="$SRC_LIST" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
apt-get source -qq --download-only "lammps=$LAMMPS_DEB" >/dev/null 2>&1 || true
if ! echo "$LAMMPS_SHA256  $LAMMPS_ORIG" | sha256sum -c --status 2>/dev/null; then
  echo "install-lammps: could not fetch $LAMMPS_ORIG (Debian 13 source package lammps=$LAMMPS_DEB) with its expected SHA-256" >&2
  echo "install-lammps: check that deb.debian.org is reachable and $SRC_LIST is read by apt-get" >&2
  exit 1
fi
tar xJf "$LAMMPS_ORIG"

# python-ace's sdist from the Python package registry (pip download --no-binary fails in its
# metadata step, which builds the whole package): its file address from the simple index
url="$(curl -fsS "https://pypi.org/simple/python-ace/" -H 'Accept: text/html' | grep -o "https://[^\"]*/$PYACE_SDIST#sha256=[0-9a-f]*" | head -1)"
if [ -z "$url" ]; then
  echo "install-lammps: $PYACE_SDIST is not in the Python package registry's index for python-ace" >&2
  exit 1
fi
curl -fsS -o "$PYACE_SDIST" "${url%%#*}"
echo "${url##*sha256=}  $PYACE_SDIST" | sha256sum -c --status || { echo "install-lammps: $PYACE_SDIST does not match its index SHA-256" >&2; exit 1; }
tar xzf "$PYACE_SDIST"

echo "install-lammps: building LAMMPS 4Feb2025 with ML-PACE (python-ace $PYACE), MANYBODY and MPI on $JOBS cores"
cmake -S lammps-4Feb2025/cmake -B build "${CMAKE_FLAGS[@]}" -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DLOCAL_ML-PACE="$HERE/lammps/pace" -DPYACE_LIB="$WORK/python_ace-$PYACE/lib/ace" > cmake.log 2>&1 || { tail -30 cmake.log >&2; exit 1; }
cmake --build build -j "$JOBS" > build.log 2>&1 || { grep -m20 -B2 -A8 'error' build.log >&2; exit 1; }

mkdir -p "$PREFIX/bin"
install -m 755 build/lmp "$PREFIX/bin/lmp.tmp" && mv "$PREFIX/bin/lmp.tmp" "$PREFIX/bin/lmp"
packages="$("$PREFIX/bin/lmp" -h | sed -n '/^Installed packages:/,/^List of individual/{/^Installed\|^List/!p}' | tr -s ' \n' ' ')"
for p in ML-PACE MANYBODY; do
  case "$packages" in *" $p "*) ;; *) echo "install-lammps: the built lmp lacks $p: $packages" >&2; exit 1;; esac
done
printf '%s\n' "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
echo "install-lammps: done in $(( $(date +%s) - started )) s: $PREFIX/bin/lmp ($packages)"
