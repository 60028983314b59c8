/** Why a finished pw.x task has no result, from its output and exit code (pure). */
import type { PwOutput } from '../../formats/espresso-out.js';
import type { FailureClass } from '../../state/failure-class.js';

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
