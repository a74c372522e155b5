#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for `bench run executor=slurm` and its test.
#
# Needs root and Debian's slurm-wlm and munge (apt-get install slurm-wlm munge). Writes a minimal
# /etc/slurm/slurm.conf (one node, `localhost`, with this machine's CPUs and memory from `slurmd -C`; one
# partition, `debug`), creates the munge key if missing, then starts munged, slurmctld and slurmd directly
# (containers have no systemd) and waits until `sinfo` shows the node idle. Rerun-safe: daemons already
# answering are left running; the config is rewritten only when it changed (then the daemons restart).
# No accounting database: `sacct` cannot answer, so bench follows jobs through their result files and
# `squeue` (bench/runner/slurm.py). Exits non-zero, with the daemon's log tail, when one does not come up.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
LOGS=/var/log/slurm
STATE=/var/lib/slurm
say() { echo "slurm_single_node: $*" >&2; }
fail() {  # fail MESSAGE [LOG]: the message, the log's tail, exit 1
  say "$1"
  if [ -n "${2:-}" ] && [ -f "$2" ]; then tail -n 20 "$2" >&2; fi
  exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (it writes /etc/slurm and starts system daemons)"
for tool in munged slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null || fail "$tool not found; install Debian's slurm-wlm and munge: apt-get install -y slurm-wlm munge"
done

# munge: every Slurm message is signed with this key
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
if ! (munge -n </dev/null | unmunge) >/dev/null 2>&1; then
  runuser -u munge -- munged || fail "munged did not start" /var/log/munge/munged.log
  for _ in $(seq 20); do (munge -n </dev/null | unmunge) >/dev/null 2>&1 && break; sleep 0.5; done
  (munge -n </dev/null | unmunge) >/dev/null 2>&1 || fail "munged does not answer" /var/log/munge/munged.log
fi

# slurm.conf: this machine as the one node (memory is not a consumable resource, so jobs without --mem share it)
node=$(slurmd -C | head -n 1)
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node")
memory=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
[ -n "$cpus" ] && [ -n "$memory" ] || fail "could not read CPUs and memory from 'slurmd -C': $node"
wanted=$(cat <<EOF
# Written by scripts/slurm_single_node.sh: a one-node cluster on this machine.
ClusterName=bench
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
)
install -d -m 0755 /etc/slurm "$LOGS" "$STATE/slurmctld" "$STATE/slurmd"
if [ "$(cat "$CONF" 2>/dev/null)" != "$wanted" ]; then
  printf '%s\n' "$wanted" >"$CONF"
  for daemon in slurmd slurmctld; do  # restart on the new config
    pid=$(cat "/run/$daemon.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
  done
fi

running() { kill -0 "$(cat "/run/$1.pid" 2>/dev/null)" 2>/dev/null; }
running slurmctld || slurmctld || fail "slurmctld did not start" "$LOGS/slurmctld.log"
for _ in $(seq 30); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
scontrol ping 2>/dev/null | grep -q UP || fail "slurmctld does not answer (scontrol ping)" "$LOGS/slurmctld.log"
running slurmd || slurmd -N localhost || fail "slurmd did not start" "$LOGS/slurmd.log"

for _ in $(seq 60); do
  state=$(sinfo -h -N -n localhost -o %t 2>/dev/null || true)
  case "$state" in
    idle|mix|alloc) say "node localhost $state ($cpus CPUs, $memory MB), partition debug"; exit 0 ;;
    drain*|down*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;;
  esac
  sleep 1
done
fail "the node is not idle after 60 s (sinfo: ${state:-no answer})" "$LOGS/slurmd.log"
