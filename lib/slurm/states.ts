/**
 * SLURM's job states mapped onto the few that autopipe acts on. A state SLURM adds later, or
 * one we never saw, maps to 'unknown', never to a finished one: completion is decided by the
 * task's own sentinel files, SLURM's state only explains a job that vanished without them.
 */
export type SlurmState =
  | 'pending'        // waiting to start, or held/requeued/suspended: nothing to do yet
  | 'running'        // on a node (including finishing up)
  | 'completed'      // SLURM says exit 0 (the sentinel still decides)
  | 'failed'         // non-zero exit
  | 'cancelled'      // scancel (by the user or an admin)
  | 'timeout'        // hit its time limit
  | 'out_of_memory'
  | 'node_failure'
  | 'preempted'
  | 'unknown';

const TABLE: Readonly<Record<string, SlurmState>> = {
  PENDING: 'pending',        // PD
  CONFIGURING: 'pending',    // CF: nodes being booted or configured
  REQUEUED: 'pending',       // RQ
  REQUEUE_HOLD: 'pending',   // RH
  REQUEUE_FED: 'pending',    // RF
  RESV_DEL_HOLD: 'pending',  // RD
  SUSPENDED: 'pending',      // S: will resume where it stopped
  STOPPED: 'pending',        // ST
  RUNNING: 'running',        // R
  COMPLETING: 'running',     // CG: ending; a job trapping SIGTERM at TIMEOUT may show only this
  SIGNALING: 'running',      // SI
  STAGE_OUT: 'running',      // SO
  RESIZING: 'running',       // RS
  COMPLETED: 'completed',    // CD
  FAILED: 'failed',          // F
  SPECIAL_EXIT: 'failed',    // SE
  CANCELLED: 'cancelled',    // CA ("CANCELLED by <uid>" in sacct)
  REVOKED: 'cancelled',      // RV: a federated sibling ran it
  TIMEOUT: 'timeout',        // TO
  DEADLINE: 'timeout',       // DL
  OUT_OF_MEMORY: 'out_of_memory', // OOM
  NODE_FAIL: 'node_failure', // NF
  BOOT_FAIL: 'node_failure', // BF
  PREEMPTED: 'preempted',    // PR
};

/** The state of a SLURM state word (`RUNNING`, `CANCELLED by 0`, `CANCELLED+`). */
export function slurmState(raw: string): SlurmState {
  const word = raw.trim().split(/[\s+]/)[0].toUpperCase();
  return TABLE[word] ?? 'unknown';
}

/** States after which the job will not run again by itself. */
export function isFinal(state: SlurmState): boolean {
  return state !== 'pending' && state !== 'running' && state !== 'unknown';
}
