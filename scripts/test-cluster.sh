#!/usr/bin/env bash
# A one-node SLURM cluster (munge, slurmctld, slurmd) and an sshd on 127.0.0.1, for the tests.
#   bash scripts/test-cluster.sh start    idempotent; prints where things are
#   bash scripts/test-cluster.sh stop     stops only what `start` started
#   bash scripts/test-cluster.sh env      the variables tests need (also in $DIR/env)
#   bash scripts/test-cluster.sh status   exit 0 when munged, slurmctld, slurmd and sshd all run
# Everything lives under $AUTOPIPE_CLUSTER_DIR (default /tmp/autopipe-cluster). Needs root
# (slurmd runs jobs as any user) and the Debian packages of scripts/install-deps.sh.
set -euo pipefail

DIR=${AUTOPIPE_CLUSTER_DIR:-/tmp/autopipe-cluster}
SSH_PORT=${AUTOPIPE_SSH_PORT:-2222}
MAX_ARRAY=${AUTOPIPE_MAX_ARRAY_SIZE:-10}   # small, so that chunking of job arrays is exercised
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

write_conf() {
  local node
  node=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]*//' -e 's/ UpTime.*//')
  mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log"
  cat > "$CONF.tmp" <<CONF
ClusterName=autopipe-test
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
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
MpiDefault=none
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
ReturnToService=2
MaxArraySize=$MAX_ARRAY
MinJobAge=30
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 $node
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$CONF.tmp" "$CONF"
}

start_slurm() {
  export SLURM_CONF=$CONF
  if ! alive "$DIR/slurmctld.pid"; then
    write_conf
    slurmctld -f "$CONF"
    echo slurmctld >> "$DIR/started"
  fi
  if ! alive "$DIR/slurmd.pid"; then
    slurmd -f "$CONF" -N localhost
    echo slurmd >> "$DIR/started"
  fi
  for _ in $(seq 1 60); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
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
ENV
  mv "$DIR/env.tmp" "$DIR/env"
}

case "${1:-}" in
  start)
    [ "$(id -u)" -eq 0 ] || die "needs root (slurmd and sshd); run it with sudo"
    for b in munged mungekey slurmctld slurmd sshd ssh-keygen sinfo; do
      if ! command -v "$b" >/dev/null; then
        bash "$(dirname "$0")/install-deps.sh"   # installs what is missing (Debian packages)
        break
      fi
    done
    for b in munged mungekey slurmctld slurmd sshd ssh-keygen sinfo; do
      command -v "$b" >/dev/null || die "$b is still missing after scripts/install-deps.sh"
    done
    mkdir -p "$DIR/log"
    touch "$DIR/started"
    start_munge
    start_slurm
    start_sshd
    write_env
    echo "test-cluster: up (SLURM_CONF=$CONF, sshd on 127.0.0.1:$SSH_PORT); variables in $DIR/env"
    ;;
  stop)
    [ -f "$DIR/started" ] || exit 0
    for what in $(tac "$DIR/started" | awk '!seen[$0]++'); do
      pidfile=$DIR/$what.pid
      alive "$pidfile" && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -f "$DIR/started"
    echo "test-cluster: stopped what it had started"
    ;;
  env)
    cat "$DIR/env"
    ;;
  status)
    for what in munged slurmctld slurmd sshd; do alive "$DIR/$what.pid" || exit 1; done
    [ -f "$DIR/env" ]
    ;;
  *)
    die "usage: test-cluster.sh start|stop|env|status"
    ;;
esac
