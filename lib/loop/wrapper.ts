/**
 * The job script around what a kind runs, written by autopipe for every kind (pure): the
 * #SBATCH header from the kind's resources, the task folder of this array index, and the
 * sentinels. The user's template (templates/<kind>.sh.hbs) is only the payload: modules and
 * the program line.
 *
 * The job finds nothing by absolute path: sbatch --chdir (and the local executor) start it in
 * its stage folder, so a project copied or moved elsewhere runs in its own folders. Each line
 * of the manifest is a task folder and the attempt's token; the sentinels carry the token, and
 * autopipe takes a folder's outputs as an attempt's only when they do. A task folder may hold
 * task.env (shell assignments autopipe wrote, values quoted): the task's own values, since one
 * script serves a whole array.
 *
 * The job's log: SLURM writes an array element's stdout and stderr to the stage folder (autopipe
 * gives sbatch --output; no #SBATCH --output here, and validateConfig refuses one in
 * resources.extra); the script hard-links it into the task folder as slurm.out, so that it is
 * fetched with the attempt's outputs and everything written later (slurmstepd's own lines: a
 * time limit, a memory kill) is in it too. Where a hard link is impossible it is copied at the
 * end. The local executor writes slurm.out in the task folder itself (no stage log to link).
 *
 * An element that runs k > 1 tasks (perElement) runs manifest lines i·k + 1 … i·k + k one after
 * another, each as a whole in a subshell of its own: its own cd, task.env, sentinels with its
 * token and payload, and one failing (or without a folder) does not stop the next. The element's
 * log is linked into every task folder of the element (one file: each sees its mates' lines);
 * the element exits with the last non-zero status of its tasks. The local executor writes a
 * packed element's log in the stage folder under SLURM's name, and the script links it likewise.
 */
import type { Resources } from '../config/types.js';
import { shellQuote } from '../shell/quote.js';
import { JOB_LOG, SENTINEL, STAGE_LOG } from '../exec/manifest.js';

export interface JobScript {
  /** The manifest's file name, in the stage folder. */
  manifest: string;
  resources: Resources;
  /** Tasks run one after another in each array element (absent: 1, and the script is as it always was). */
  perElement?: number;
  /** The rendered template: what runs in the task folder. */
  payload: string;
  /** The template it came from, and what the job is (a comment for people reading the script). */
  template: string;
  about: string;
}

/** The #SBATCH lines (sbatch reads them itself; values were checked by validateConfig and go through the one quoting helper). */
export function sbatchHeader(r: Resources): string[] {
  return [
    `#SBATCH --nodes=${r.nodes}`,
    `#SBATCH --ntasks=${r.ntasks}`,
    `#SBATCH --cpus-per-task=${r.cpus_per_task}`,
    `#SBATCH --time=${shellQuote(r.time)}`,
    // autopipe retries a failed task in a new attempt folder; SLURM must not rerun it in the same one (after a node failure it would, by default)
    '#SBATCH --no-requeue',
    ...(r.partition === null ? [] : [`#SBATCH --partition=${shellQuote(r.partition)}`]),
    ...(r.account === null ? [] : [`#SBATCH --account=${shellQuote(r.account)}`]),
    ...(r.mem === null ? [] : [`#SBATCH --mem=${shellQuote(r.mem)}`]),
    ...r.extra.map((x) => `#SBATCH ${shellQuote(x)}`),
  ];
}

export function jobScript(j: JobScript): string {
  const k = j.perElement ?? 1;
  const manifest = shellQuote(j.manifest);
  const [started, exitcode, log] = [SENTINEL.started, SENTINEL.exitcode, JOB_LOG].map(shellQuote);
  const noFolder = (index: string) => `echo "autopipe: no task folder for ${index} in $PWD/"${manifest} >&2; exit 1;`;
  // one task in its folder: the same lines whether the element runs one or several
  const task = (missing: string) => [
    `cd "./$task_dir" 2>/dev/null && [ -n "$token" ] || { ${missing} }`,
    '# The log in the task folder, fetched with its outputs: linked (later lines appear in it too), else copied at the end.',
    `copy_log=; if [ -f "$stage_log" ]; then ln -f "$stage_log" ${log} 2>/dev/null || copy_log=1; fi`,
    '# A task\'s own values (e.g. pw.x\'s pools for its k-points), written by autopipe when the kind has any.',
    '[ ! -f task.env ] || . ./task.env',
    '# Sentinels: autopipe reads completion from these files, and takes them as this attempt\'s only with its token.',
    `printf '%s %s\\n' "$(date +%s)" "$token" > ${started}.tmp && mv ${started}.tmp ${started}`,
    `# ---- ${j.template} ----`,
    '(',
    j.payload.replace(/\n+$/, ''),
    ')',
    `# ---- end of ${j.template} ----`,
    'status=$?',
    `[ -z "$copy_log" ] || cp -f "$stage_log" ${log}`,
    `printf '%s %s\\n' "$status" "$token" > ${exitcode}.tmp && mv ${exitcode}.tmp ${exitcode}`,
    'exit "$status"',
  ];
  const head = [
    '#!/bin/bash',
    ...sbatchHeader(j.resources),
    '',
    `# ${j.about}. Written by autopipe: the header, the task folder and the sentinels are its own;`,
    `# the part between the marked lines is ${j.template} (edit that file, not this one).`,
    '# The job runs in its stage folder (sbatch --chdir); a manifest line is a task folder and its attempt\'s token.',
    '# SLURM\'s output of this array element (sbatch --output, given by autopipe), in the stage folder.',
    `stage_log="$PWD/${STAGE_LOG.shell}"`,
  ];
  if (k === 1) {
    return [
      ...head,
      `read -r task_dir token < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${manifest})`,
      ...task(noFolder('index $SLURM_ARRAY_TASK_ID')),
      '',
    ].join('\n');
  }
  return [
    ...head,
    `# This element runs ${k} tasks one after another (manifest lines i*${k}+1 … i*${k}+${k}, the last element may have fewer),`,
    '# each in a subshell of its own: one failing does not stop the next. The element exits with the last failure\'s status.',
    'element_status=0',
    `for ((line = SLURM_ARRAY_TASK_ID * ${k} + 1; line <= SLURM_ARRAY_TASK_ID * ${k} + ${k}; line++)); do`,
    `read -r task_dir token < <(sed -n "\${line}p" ${manifest})`,
    '[ -n "$task_dir" ] || break',
    '(',
    ...task(noFolder('line $line')),
    ')',
    'task_status=$?',
    '[ "$task_status" -eq 0 ] || element_status=$task_status',
    'done',
    'exit "$element_status"',
    '',
  ].join('\n');
}
