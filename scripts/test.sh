#!/usr/bin/env bash
# The whole test suite on the real components: installs what is missing (as root), installs
# the npm packages, builds, and runs mocha. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json

# The one-node SLURM cluster and sshd the tests use: started here unless already up, and then
# stopped again (only what this run started).
if bash scripts/test-cluster.sh status; then
  echo "test.sh: the test cluster is already up; leaving it running"
else
  bash scripts/test-cluster.sh start
  trap 'bash scripts/test-cluster.sh stop' EXIT
fi
npx mocha "$@"
