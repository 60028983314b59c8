#!/usr/bin/env bash
# A one-node SLURM cluster with accounting (munge, MariaDB, slurmdbd, slurmctld, slurmd) and an
# sshd on 127.0.0.1, for the tests.
#   bash scripts/test-cluster.sh start    idempotent; prints where things are; a cluster started by
#                                         an older version of this script is restarted with today's slurm.conf
#   bash scripts/test-cluster.sh stop     stops only what `start` started
#   bash scripts/test-cluster.sh env      the variables tests need (also in $DIR/env)
#   bash scripts/test-cluster.sh status   exit 0 when every daemon runs with today's slurm.conf
# Everything lives under $AUTOPIPE_CLUSTER_DIR (default /tmp/autopipe-cluster). Needs root
# (slurmd runs jobs as any user) and the Debian packages of scripts/install-deps.sh.
# Accounting is real, as on a site's cluster: associations and limits are enforced, the users
# the tests run as belong to account `autopipe`, and QOS `capped` (MaxSubmitJobsPerUser=$QOS_MAX_SUBMIT)
# is what a queue-limit test asks for with --qos=capped; every other job runs under `normal`.
# Two instances can run side by side: give the second its own folder, ports and node name.
set -euo pipefail

DIR=${AUTOPIPE_CLUSTER_DIR:-/tmp/autopipe-cluster}
SSH_PORT=${AUTOPIPE_SSH_PORT:-2222}
CTLD_PORT=${AUTOPIPE_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${AUTOPIPE_SLURMD_PORT:-6818}
DBD_PORT=${AUTOPIPE_SLURMDBD_PORT:-6819}
DB_PORT=${AUTOPIPE_DB_PORT:-6820}           # MariaDB on 127.0.0.1 only, for slurmdbd
NODE=${AUTOPIPE_NODE_NAME:-localhost}
MAX_ARRAY=${AUTOPIPE_MAX_ARRAY_SIZE:-10}   # small, so that chunking of job arrays is exercised
QOS_MAX_SUBMIT=3                           # QOS capped: jobs (array tasks) one user may have queued or running
CLUSTER=autopipe-test
CONF=$DIR/slurm.conf

die() { echo "test-cluster: $*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  alive "$DIR/munged.pid" && return
  mkdir -p "$DIR/munge"
  chmod 755 "$DIR" "$DIR/munge"      # munged refuses a socket folder without o+x
  [ -f "$DIR/munge.key" ] || mungekey -c -k "$DIR/munge.key"
  chmod 400 "$DIR/munge.key"
  munged -S "$DIR/munge/munge.socket.2" --key-file="$DIR/munge.key" --log-file="$DIR/munged.log" \
    --pid-file="$DIR/munged.pid" --seed-file="$DIR/munged.seed" --force
  echo munged >> "$DIR/started"
}

# MariaDB for slurmdbd: its own data folder and socket, TCP on 127.0.0.1 only, run as root.
start_mariadb() {
  alive "$DIR/mariadb.pid" && return
  mkdir -p "$DIR/mysql" "$DIR/log"
  if [ ! -d "$DIR/mysql/data/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket \
      --skip-test-db > "$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed; see $DIR/log/mariadb-install.log"
  fi
  setsid mariadbd --no-defaults --user=root --datadir="$DIR/mysql/data" --socket="$DIR/mysql/mysqld.sock" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$DIR/mariadb.pid" \
    --log-error="$DIR/log/mariadb.log" --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 \
    < /dev/null > /dev/null 2>&1 &
  echo mariadb >> "$DIR/started"
  for _ in $(seq 1 120); do
    [ -S "$DIR/mysql/mysqld.sock" ] && alive "$DIR/mariadb.pid" && break
    sleep 0.25
  done
  alive "$DIR/mariadb.pid" || die "MariaDB did not start; see $DIR/log/mariadb.log"
  [ -f "$DIR/mysql/slurm.pass" ] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DIR/mysql/slurm.pass"; chmod 600 "$DIR/mysql/slurm.pass"; }
  mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -u root <<SQL || die "cannot create slurmdbd's database user; see $DIR/log/mariadb.log"
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$(cat "$DIR/mysql/slurm.pass")';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
}

start_slurmdbd() {
  export SLURM_CONF=$CONF
  alive "$DIR/slurmdbd.pid" && return
  # slurmdbd reads slurmdbd.conf beside slurm.conf, and refuses one that others can read
  cat > "$DIR/slurmdbd.conf.tmp" <<DBD
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$DIR/mysql/slurm.pass")
StorageLoc=slurm_acct_db
DBD
  chmod 600 "$DIR/slurmdbd.conf.tmp"
  mv "$DIR/slurmdbd.conf.tmp" "$DIR/slurmdbd.conf"
  slurmdbd
  echo slurmdbd >> "$DIR/started"
  local end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ]; do
    sacctmgr -n show cluster >/dev/null 2>&1 && return
    sleep 0.25
  done
  die "slurmdbd does not answer; see $DIR/log/slurmdbd.log"
}

# The cluster, account `autopipe`, the users the tests run as (here and over ssh) and QOS capped.
# `add` of what exists says so and exits 1: the check at the end is what counts.
add_associations() {
  export SLURM_CONF=$CONF
  local users
  users=$(printf '%s\n' "$(id -un)" root | sort -u | paste -sd, -)
  sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
  sacctmgr -i add qos capped MaxSubmitJobsPerUser="$QOS_MAX_SUBMIT" >/dev/null 2>&1 ||
    sacctmgr -i modify qos capped set MaxSubmitJobsPerUser="$QOS_MAX_SUBMIT" >/dev/null 2>&1 || true
  sacctmgr -i add account autopipe Cluster="$CLUSTER" Description=tests Organization=autopipe >/dev/null 2>&1 || true
  sacctmgr -i add user "$users" Account=autopipe Cluster="$CLUSTER" DefaultAccount=autopipe >/dev/null 2>&1 || true
  sacctmgr -i modify user "$users" set QOS=normal,capped DefaultQOS=normal >/dev/null 2>&1 || true
  for u in ${users//,/ }; do
    sacctmgr -n -P show assoc cluster="$CLUSTER" user="$u" format=qos | grep -q capped ||
      die "sacctmgr did not give user $u account autopipe with QOS capped; see $DIR/log/slurmdbd.log"
  done
}

write_conf() {
  local node
  node=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]*//' -e 's/ UpTime.*//')
  mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log"
  cat > "$CONF.tmp" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$DIR/munge/munge.socket.2
AccountingStorageEnforce=associations,limits,qos
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
MpiDefault=none
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
ReturnToService=2
MaxArraySize=$MAX_ARRAY
MinJobAge=30
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 $node
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
}

stop_one() {
  local pidfile=$DIR/$1.pid
  alive "$pidfile" || return 0
  kill "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || true
  for _ in $(seq 1 40); do alive "$pidfile" || return 0; sleep 0.25; done
}

# slurm.conf first (slurmdbd.conf sits beside it; sacctmgr finds slurmdbd through it). A cluster
# running with an older one (e.g. without accounting) is stopped and started again with today's.
update_conf() {
  write_conf
  if ! cmp -s "$CONF.tmp" "$CONF"; then
    stop_one slurmd
    stop_one slurmctld
  fi
  mv "$CONF.tmp" "$CONF"
}

start_slurm() {
  export SLURM_CONF=$CONF
  if ! alive "$DIR/slurmctld.pid"; then
    slurmctld -f "$CONF"
    echo slurmctld >> "$DIR/started"
  fi
  if ! alive "$DIR/slurmd.pid"; then
    slurmd -f "$CONF" -N "$NODE"
    echo slurmd >> "$DIR/started"
  fi
  for _ in $(seq 1 60); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
    case "$state" in idle*|mix*|alloc*) return ;; esac
    sleep 0.5
  done
  die "the node did not come up (state '${state:-none}'); see $DIR/log/slurmctld.log and slurmd.log"
}

start_sshd() {
  alive "$DIR/sshd.pid" && return
  mkdir -p /run/sshd "$DIR/ssh"
  [ -f "$DIR/ssh/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh/host_ed25519"
  [ -f "$DIR/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C autopipe-test -f "$DIR/ssh/id_ed25519"
  cp "$DIR/ssh/id_ed25519.pub" "$DIR/ssh/authorized_keys"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$DIR/ssh/host_ed25519.pub")" > "$DIR/ssh/known_hosts"
  cat > "$DIR/ssh/sshd_config" <<SSHD
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $DIR/ssh/host_ed25519
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
SetEnv SLURM_CONF=$CONF
SSHD
  /usr/sbin/sshd -f "$DIR/ssh/sshd_config" -E "$DIR/log/sshd.log"
  echo sshd >> "$DIR/started"
  for _ in $(seq 1 40); do alive "$DIR/sshd.pid" && return; sleep 0.25; done
  die "sshd did not start; see $DIR/log/sshd.log"
}

write_env() {
  cat > "$DIR/env.tmp" <<ENV
export SLURM_CONF=$CONF
export AUTOPIPE_CLUSTER_DIR=$DIR
export AUTOPIPE_SSH_HOST=127.0.0.1
export AUTOPIPE_SSH_PORT=$SSH_PORT
export AUTOPIPE_SSH_USER=$(id -un)
export AUTOPIPE_SSH_KEY=$DIR/ssh/id_ed25519
export AUTOPIPE_SSH_KNOWN_HOSTS=$DIR/ssh/known_hosts
export AUTOPIPE_SLURMCTLD_PORT=$CTLD_PORT
export AUTOPIPE_SLURMD_PORT=$SLURMD_PORT
export AUTOPIPE_SLURMDBD_PORT=$DBD_PORT
export AUTOPIPE_DB_PORT=$DB_PORT
export AUTOPIPE_NODE_NAME=$NODE
export AUTOPIPE_TEST_QOS=capped
export AUTOPIPE_TEST_QOS_MAX_SUBMIT=$QOS_MAX_SUBMIT
ENV
  mv "$DIR/env.tmp" "$DIR/env"
}

case "${1:-}" in
  start)
    [ "$(id -u)" -eq 0 ] || die "needs root (slurmd and sshd); run it with sudo"
    for b in munged mungekey mariadbd mariadb-install-db slurmdbd sacctmgr slurmctld slurmd sshd ssh-keygen sinfo; do
      if ! command -v "$b" >/dev/null; then
        bash "$(dirname "$0")/install-deps.sh"   # installs what is missing (Debian packages)
        break
      fi
    done
    for b in munged mungekey mariadbd mariadb-install-db slurmdbd sacctmgr slurmctld slurmd sshd ssh-keygen sinfo; do
      command -v "$b" >/dev/null || die "$b is still missing after scripts/install-deps.sh"
    done
    mkdir -p "$DIR/log"
    touch "$DIR/started"
    start_munge
    update_conf
    start_mariadb
    start_slurmdbd
    add_associations
    start_slurm
    start_sshd
    write_env
    echo "test-cluster: up (SLURM_CONF=$CONF, sshd on 127.0.0.1:$SSH_PORT); variables in $DIR/env"
    ;;
  stop)
    [ -f "$DIR/started" ] || exit 0
    for what in $(tac "$DIR/started" | awk '!seen[$0]++'); do
      pidfile=$DIR/$what.pid
      alive "$pidfile" && kill "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || true
    done
    rm -f "$DIR/started"
    echo "test-cluster: stopped what it had started"
    ;;
  env)
    cat "$DIR/env"
    ;;
  status)
    for what in munged mariadb slurmdbd slurmctld slurmd sshd; do alive "$DIR/$what.pid" || exit 1; done
    [ -f "$DIR/env" ]
    write_conf
    cmp -s "$CONF.tmp" "$CONF"   # started by an older version of this script: `start` brings it up to date
    ;;
  *)
    die "usage: test-cluster.sh start|stop|env|status"
    ;;
esac
