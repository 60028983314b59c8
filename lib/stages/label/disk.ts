/**
 * What pw.x leaves on disk, pure: the shell lines around the pw.x line of label.sh.hbs
 * (`pw_disk.before`, `pw_disk.after`) and pw.x's disk_io. pw.in always says outdir='./out';
 * with dft.scratch that is a link to a folder of the task's own under the scratch path, and
 * after pw.x what dft.keep keeps comes back into ./out and the scratch folder goes.
 *
 * Measured with QE 6.7 (Al, 4 atoms, ecutwfc 15, 4×4×4 k; files in out/):
 *   disk_io      converged SCF                          failed SCF (electron_maxstep 3)
 *   low (pw.x's  charge density 100 KB, xml 46 KB,      charge density, xml, pwscf.wfc1 746 KB,
 *   default)     wfc*.dat 765 KB, UPF copy: 996 KB      pwscf.mix1 343 KB: 1.24 MB (any disk_io)
 *   nowf, none   nothing at all
 * (medium/high add pwscf.wfc1; 6.7 takes any other word silently as low.) startingpot='file'
 * restarts from charge-density.dat alone ("The initial density is read from file"); from the
 * xml alone it silently starts from atomic charges. So: a failed attempt keeps its charge
 * density and the xml (for the restart rung: lib/stages/label/escalate.ts), nothing else.
 */
import type { Config } from '../../config/types.js';

export type Keep = Config['dft']['keep'];

// dft.scratch reaches the job's shell through the one quoting helper (variables expand, nothing else)
export { shellPathWord as scratchWord } from '../../shell/quote.js';
import { shellPathWord as scratchWord } from '../../shell/quote.js';

/** pw.x's disk_io when dft.parameters does not set it: with keep none a converged SCF needs nothing written ('nowf': pw.x writes nothing; a failed SCF still writes its charge density). */
export function defaultDiskIo(keep: Keep): string {
  return keep === 'none' ? 'nowf' : 'low';
}

/** The files of out/pwscf.save a restart from the charge density reads (QE 6.x–7.x names; spin and PAW/DFT+U extras when present). */
const DENSITY_FILES = ['charge-density.dat', 'charge-density.hdf5', 'data-file-schema.xml', 'occup.txt', 'paw.txt'];

export interface PwDisk { before: string; after: string }

export function pwDisk(config: Pick<Config['dft'], 'scratch' | 'keep'>): PwDisk {
  const { scratch, keep } = config;
  if (scratch === null && keep === 'all') return { before: '', after: '' };
  const before: string[] = [];
  if (scratch !== null) {
    before.push(
      "# dft.scratch: pw.x's ./out links to a folder of this attempt's own there",
      `autopipe_base=${scratchWord(scratch)}`,
      `case "$autopipe_base" in /?*) ;; *) echo "autopipe: dft.scratch is '$autopipe_base' on $(hostname), not an absolute path (a variable unset there?)" >> pw.err; exit 1 ;; esac`,
      'autopipe_scratch=$(mkdir -p "$autopipe_base" && mktemp -d "$autopipe_base/autopipe-pw.XXXXXXXX") || { echo "autopipe: cannot make a folder under dft.scratch ($autopipe_base) on $(hostname)" >> pw.err; exit 1; }',
      '# a restart\'s charge density (copied into ./out by autopipe) moves there first',
      'if [ -d out ] && [ ! -L out ]; then cp -R out/. "$autopipe_scratch"/ && rm -rf out || exit 1; fi',
      'rm -f out && ln -s "$autopipe_scratch" out || exit 1',
    );
  }
  const fn: string[] = ['autopipe_pw_done() {', '  trap - TERM'];
  if (scratch !== null) fn.push('  rm -f out; local from=$autopipe_scratch');
  else fn.push('  [ -d out ] || return 0', '  mv out out.autopipe-done || return 0', '  local from=out.autopipe-done');
  if (keep === 'all') {
    fn.push('  mkdir -p out && cp -R "$from"/. out/');
  } else {
    const density = (indent: string) => [
      `${indent}mkdir -p out/pwscf.save`,
      `${indent}for f in ${DENSITY_FILES.join(' ')}; do [ ! -e "$from/pwscf.save/$f" ] || mv "$from/pwscf.save/$f" out/pwscf.save/; done`,
    ];
    if (keep === 'none') {
      fn.push(
        '  # a converged SCF (pw.x prints its total energy on a line starting with !) needs no density, and no retry',
        '  # of this task will start from an earlier attempt\'s: those go too',
        '  if grep -q \'^!\' pw.out 2>/dev/null; then',
        '    case "${PWD##*/}" in a[0-9]*) rm -rf ../a[0-9]*/out ;; esac',
        '  else',
        ...density('    '),
        '  fi',
      );
    } else {
      fn.push('  # keep charge-density: the density and the xml stay, the wavefunctions go', ...density('  '));
    }
  }
  fn.push('  rm -rf "$from"', '}');
  before.push(
    `# dft.keep: ${keep}. After pw.x (also when it fails, or SLURM ends it with SIGTERM) only what is kept stays in ./out`,
    ...fn,
    "trap 'autopipe_pw_done; exit 143' TERM",
  );
  return { before: before.join('\n'), after: 'autopipe_status=$?\nautopipe_pw_done\nexit "$autopipe_status"' };
}
