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
 */
import type { Resources } from '../config/types.js';
import { shellQuote } from '../shell/quote.js';

export interface JobScript {
  /** The manifest's file name, in the stage folder. */
  manifest: string;
  resources: Resources;
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
  const manifest = shellQuote(j.manifest);
  return [
    '#!/bin/bash',
    ...sbatchHeader(j.resources),
    '',
    `# ${j.about}. Written by autopipe: the header, the task folder and the sentinels are its own;`,
    `# the part between the marked lines is ${j.template} (edit that file, not this one).`,
    '# The job runs in its stage folder (sbatch --chdir); a manifest line is a task folder and its attempt\'s token.',
    `read -r task_dir token < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${manifest})`,
    `cd "./$task_dir" 2>/dev/null && [ -n "$token" ] || { echo "autopipe: no task folder for index $SLURM_ARRAY_TASK_ID in $PWD/"${manifest} >&2; exit 1; }`,
    '# A task\'s own values (e.g. pw.x\'s pools for its k-points), written by autopipe when the kind has any.',
    '[ ! -f task.env ] || . ./task.env',
    '# Sentinels: autopipe reads completion from these files, and takes them as this attempt\'s only with its token.',
    'printf \'%s %s\\n\' "$(date +%s)" "$token" > started.tmp && mv started.tmp started',
    `# ---- ${j.template} ----`,
    '(',
    j.payload.replace(/\n+$/, ''),
    ')',
    `# ---- end of ${j.template} ----`,
    'status=$?',
    'printf \'%s %s\\n\' "$status" "$token" > exitcode.tmp && mv exitcode.tmp exitcode',
    'exit "$status"',
    '',
  ].join('\n');
}
