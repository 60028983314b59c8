/**
 * Why an attempt failed, as one closed set of classes, from the three things that can tell:
 * pw.x's output (with the task's exit code), SLURM's state of a job that ended without the
 * task's exitcode, and, when nothing else is left, how long the output kept growing.
 */
import type { PwOutput } from '../formats/espresso-out.js';
import type { SlurmState } from '../slurm/states.js';

export type FailureClass =
  | 'scf_not_converged' // convergence NOT achieved (or broyden mixing failed)
  | 'diagonalization'   // cholesky, S matrix not positive definite, eigenvectors, too many bands
  | 'charge_wrong'      // charge is wrong
  | 'walltime'          // SLURM TIMEOUT, pw.x's max_seconds, or output cut off near the limit
  | 'out_of_memory'     // SLURM OUT_OF_MEMORY, an allocation error, or pw.x SIGKILLed
  | 'node_failure'      // NODE_FAIL, BOOT_FAIL
  | 'cancelled'         // CANCELLED, PREEMPTED
  | 'input_error'       // pw.x rejected its input: the same input fails the same way
  | 'pw_error'          // pw.x stopped with another error, or the DFT command could not start
  | 'corrupt_output'    // the output claims a result it does not hold (NaN, *****, broken lists)
  | 'unknown';          // no output and no record of why

export const FAILURE_CLASSES: readonly FailureClass[] = [
  'scf_not_converged', 'diagonalization', 'charge_wrong', 'walltime', 'out_of_memory',
  'node_failure', 'cancelled', 'input_error', 'pw_error', 'corrupt_output', 'unknown',
];

export interface Classified { cls: FailureClass; message: string }

/** A finished task (it wrote its exitcode) whose pw.x output has no result. */
export function classifyOutput(out: PwOutput, exitcode: number): Classified {
  const why = out.message;
  switch (out.errorClass) {
    case 'scf_not_converged':
    case 'diagonalization':
    case 'charge_wrong':
    case 'walltime':
    case 'input_error':
      return { cls: out.errorClass, message: why };
    case 'corrupt_output':
      return { cls: out.errorClass, message: `pw.out line ${out.line ?? '?'}: ${why}` };
    case 'fatal':
      // pw.x's own allocation failures ("cannot allocate", "error allocating") are memory
      return { cls: /allocat|out of memory/i.test(why) ? 'out_of_memory' : 'pw_error', message: why };
    case 'cut_off':
      // the script outlived pw.x: SIGKILL (137) is what the kernel's and SLURM's OOM killers send
      return exitcode === 137
        ? { cls: 'out_of_memory', message: `pw.x was killed (exit 137, SIGKILL: most often for memory); ${why}` }
        : { cls: 'unknown', message: `pw.x exited with ${exitcode}; ${why}` };
    case 'not_pw_output':
    case null:
      if (exitcode === 126 || exitcode === 127) {
        return { cls: 'pw_error', message: `the DFT command could not start (exit ${exitcode}: ${exitcode === 127 ? 'not found' : 'not executable'}); check dft.command and pw.err` };
      }
      return { cls: 'unknown', message: `no pw.x output (exit ${exitcode}); see pw.err` };
  }
}

/**
 * SLURM's final states as failure classes, for a job that ended without the task's exitcode.
 * 'failed' (non-zero exit) and 'completed' without an exitcode say nothing about why.
 */
const FROM_SLURM: Readonly<Record<SlurmState, FailureClass | undefined>> = {
  pending: undefined,
  running: undefined,
  completed: 'unknown',
  failed: 'unknown',
  cancelled: 'cancelled',
  preempted: 'cancelled',
  timeout: 'walltime',
  out_of_memory: 'out_of_memory',
  node_failure: 'node_failure',
  unknown: undefined,
};

export function classOfSlurmState(s: SlurmState): FailureClass | undefined {
  return FROM_SLURM[s];
}

/**
 * A task that vanished without any record: if its output kept growing until close to the time
 * limit, the limit is what stopped it (clusters without accounts leave nothing else).
 */
export function nearTimeLimit(started: number | undefined, lastOutput: number | undefined, limitSeconds: number | undefined): boolean {
  if (started === undefined || lastOutput === undefined || limitSeconds === undefined) return false;
  return lastOutput - started >= 0.9 * limitSeconds;
}

/** Classes written by autopipe before the closed set (cursor version 1). */
export function upgradeClass(old: string | null): FailureClass | null {
  if (old === null) return null;
  if ((FAILURE_CLASSES as readonly string[]).includes(old)) return old as FailureClass;
  return old === 'fatal' ? 'pw_error' : 'unknown';
}
