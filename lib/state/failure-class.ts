/**
 * Why an attempt failed: one closed set for every kind of stage (the cursor stores it, status
 * counts it). Who can say what is grouped; lib/stages/<kind>/classes.ts decides its own from
 * its program's output, lib/loop/observe.ts the first group from SLURM.
 */
export type FailureClass =
  // any kind: what SLURM, the job wrapper or the output's growth says
  | 'walltime'          // SLURM TIMEOUT, pw.x's max_seconds, or output cut off near the limit
  | 'out_of_memory'     // SLURM OUT_OF_MEMORY, an allocation error, or the program SIGKILLed
  | 'node_failure'      // NODE_FAIL, BOOT_FAIL
  | 'cancelled'         // CANCELLED, PREEMPTED
  | 'unknown'           // no output and no record of why
  // label (pw.x)
  | 'scf_not_converged' // convergence NOT achieved (or broyden mixing failed)
  | 'diagonalization'   // cholesky, S matrix not positive definite, eigenvectors, too many bands
  | 'charge_wrong'      // charge is wrong
  | 'input_error'       // pw.x rejected its input: the same input fails the same way
  | 'pw_error'          // pw.x stopped with another error, or the DFT command could not start
  | 'corrupt_output'    // the output claims a result it does not hold (NaN, *****, broken lists)
  // train (pacemaker)
  | 'pacemaker_error'   // pacemaker (or pace_activeset, pace_yaml2yace) stopped with an error
  | 'no_potential'      // the job ended without writing the potential
  | 'nonfinite_loss'    // the fit's loss or metrics are NaN or infinite
  // explore (molecular dynamics)
  | 'explore_error'     // the MD engine stopped with an error
  | 'zero_gamma';       // every extrapolation grade was exactly 0: a broken active set, or no γ computed

export const FAILURE_CLASSES: readonly FailureClass[] = [
  'scf_not_converged', 'diagonalization', 'charge_wrong', 'walltime', 'out_of_memory',
  'node_failure', 'cancelled', 'input_error', 'pw_error', 'corrupt_output',
  'pacemaker_error', 'no_potential', 'nonfinite_loss', 'explore_error', 'zero_gamma', 'unknown',
];

export interface Failure { cls: FailureClass; message: string }

/** Classes written by autopipe before the closed set (cursor version 1). */
export function upgradeClass(old: string | null): FailureClass | null {
  if (old === null) return null;
  if ((FAILURE_CLASSES as readonly string[]).includes(old)) return old as FailureClass;
  return old === 'fatal' ? 'pw_error' : 'unknown';
}
