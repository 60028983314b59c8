/**
 * Benchmark (issue 11): autopipe's own time per iteration of the loop (planning, submitting,
 * polls, the one download, judging and merging, the training plan's export, selection), at
 * 10, 100 and 1,000 tasks per stage, on the local executor and on SLURM over SSH, with the SSH
 * round trips of every poll.
 *
 * The anchor, in the same run: iteration 0 of the quickstart with the real programs (pw.x on a
 * 31-atom cell, pacemaker, the ase engine's MD of 107 atoms), whose attempts record how long
 * each job ran. The jobs' time of an iteration with N tasks per stage is then N × pw.x + one fit
 * + N × MD, one core each.
 *
 * For the measured iterations the programs are stand-ins that hand back those real outputs at
 * once (pw.x's with its energy shifted per task, so every task is its own row), so that what is
 * timed is autopipe alone: the wall time of `autopipe submit` and of every `autopipe poll`
 * until the loop stops (iterations.max 1: after the selection). Waiting between polls is not
 * counted. Needs the test cluster for SSH: `bash scripts/test-cluster.sh start` (root).
 *
 *   node dist/bench/loop-overhead.js [10,100,1000] [local,ssh]
 */
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCursor, type Cursor } from '../lib/state/cursor.js';
import { readExtxyz, writeExtxyz } from '../lib/formats/extxyz.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { stageSettled } from '../lib/state/tasks.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sizes = (process.argv[2] ?? '10,100,1000').split(',').map(Number);
const executors = (process.argv[3] ?? 'local,ssh').split(',');
const out = join(ROOT, 'bench', 'out', 'loop-overhead');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const AUTOPIPE = join(ROOT, 'bin', 'autopipe.js');

function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv = process.env): { seconds: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [AUTOPIPE, ...args, '-C', dir], { encoding: 'utf8', env, maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`autopipe ${args.join(' ')} in ${dir} failed:\n${r.stderr.slice(-3000)}`);
  return { seconds, stdout: r.stdout };
}

const cursorOf = (dir: string): Cursor => readCursor(join(dir, '.autopipe', 'cursor.json'))!;

// --- the anchor: one real iteration of the quickstart --------------------------------------
const anchorDir = join(out, 'anchor');
mkdirSync(anchorDir);
for (const f of ['structures.extxyz', 'explore.extxyz']) copyFileSync(join(ROOT, 'examples', 'quickstart', f), join(anchorDir, f));
writeFileSync(join(anchorDir, 'autopipe.yaml'), readFileSync(join(ROOT, 'examples', 'quickstart', 'autopipe.yaml'), 'utf8')
  .replace(/^name: quickstart$/m, 'name: anchor').replace(/^ {2}max: 2 .*$/m, '  max: 1').replace('max_concurrent: 2', 'max_concurrent: 1'));
console.log('anchor: iteration 0 of the quickstart with the real programs, one job at a time …');
autopipe(['run'], anchorDir);
const anchor = cursorOf(anchorDir);
/** Core-seconds the real jobs of a stage ran, and how many there were (the stage's summary). */
const ranOf = (kind: string) => {
  const d = anchor.done.find((x) => x.kind === kind);
  if (d === undefined || d.core_s === undefined) throw new Error(`the anchor has no finished ${kind} stage`);
  return { seconds: d.core_s, tasks: d.tasks };
};
const pw = ranOf('label');
const fit = ranOf('train');
const md = ranOf('explore');
const perPw = pw.seconds / pw.tasks;
const perMd = md.seconds / md.tasks;
console.log(`  pw.x ${perPw.toFixed(1)} s per 31-atom cell, pacemaker ${fit.seconds.toFixed(1)} s per fit, MD ${perMd.toFixed(1)} s per 107-atom run (wall time × cores, from the attempts)`);

// --- the stand-ins: the anchor's real outputs, handed back at once -------------------------
const run = join(anchorDir, '.autopipe', 'run', 'iter-000');
const canned = join(out, 'canned');
mkdirSync(canned);
copyFileSync(join(run, 'label', 't0000', 'a1', 'pw.out'), join(canned, 'pw.out'));
for (const f of ['output_potential.yaml', 'output_potential.yace', 'output_potential.asi', 'metrics.json', 'log.txt']) copyFileSync(join(run, 'train', 't0000', 'a1', f), join(canned, f));
for (const f of ['summary.json', 'frames.dump', 'last.extxyz']) if (existsSync(join(run, 'explore', 't0000', 'a1', f))) copyFileSync(join(run, 'explore', 't0000', 'a1', f), join(canned, f));
const standIn = (name: string, body: string) => {
  const p = join(canned, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
};
// pw.x: the real output with the energy shifted by a number of the task folder (a row each)
standIn('pw.sh', `n=$(pwd | cksum | cut -d' ' -f1)
awk -v n="$n" '/^!    total energy/ { printf "!    total energy              = %.8f Ry\\n", $5 - (n % 10000000) * 1e-8; next } { print }' ${JSON.stringify(join(canned, 'pw.out'))}`);
// pacemaker and its tools, and the training helper (dataframe: nothing; metrics: the real ones)
standIn('pacemaker', `cp ${JSON.stringify(join(canned, 'output_potential.yaml'))} ${JSON.stringify(join(canned, 'log.txt'))} .`);
standIn('pace_activeset', `cp ${JSON.stringify(join(canned, 'output_potential.asi'))} .`);
standIn('pace_yaml2yace', `cp ${JSON.stringify(join(canned, 'output_potential.yace'))} .`);
standIn('train-python.sh', `if [ "$2" = metrics ]; then cat ${JSON.stringify(join(canned, 'metrics.json'))}; fi`);
// the ase engine: its real summary, dump of collected frames and last good frame
standIn('explore.sh', `for f in summary.json frames.dump last.extxyz; do [ -f ${JSON.stringify(canned)}/$f ] && cp ${JSON.stringify(canned)}/$f .; done; exit 0`);

// --- the measured iterations --------------------------------------------------------------
const cluster: Record<string, string> = existsSync('/tmp/autopipe-cluster/env')
  ? Object.fromEntries([...readFileSync('/tmp/autopipe-cluster/env', 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]])) : {};
const [start] = readExtxyz(readFileSync(join(ROOT, 'examples', 'quickstart', 'structures.extxyz'), 'utf8'), 'structures.extxyz');

function project(n: number, executor: string): { dir: string; env: NodeJS.ProcessEnv; runRoot: string } {
  const dir = join(out, `${executor}-${n}`);
  mkdirSync(dir);
  // n distinct structures (a labelling task and an exploration run each)
  writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz(Array.from({ length: n }, (_, k) => makeAtoms({ ...start, positions: start.positions.map((x, i) => x + (i === 0 ? 1e-4 * k : 0)), info: { k } }))));
  const ssh = executor === 'ssh';
  if (ssh && cluster.AUTOPIPE_SSH_PORT === undefined) throw new Error('start the test cluster first: bash scripts/test-cluster.sh start');
  const yaml = readFileSync(join(anchorDir, 'autopipe.yaml'), 'utf8')
    .replace(/^name: anchor$/m, `name: bench-${executor}-${n}`)
    .replace(/^ {2}command: pw\.x$/m, `  command: sh ${join(canned, 'pw.sh')}`)
    .replace(/^ {2}structures: explore\.extxyz.*$/m, '  structures: null')
    .replace(/^ {2}max_candidates: 4 .*$/m, `  max_candidates: ${n}`)
    .replace(/^executor:\n(?: {2}.*\n)+/m, ssh
      ? `executor:\n  kind: slurm\n  array_throttle: null\n  host: 127.0.0.1\n  port: ${cluster.AUTOPIPE_SSH_PORT}\n  user: ${cluster.AUTOPIPE_SSH_USER}\n  identity: ${cluster.AUTOPIPE_SSH_KEY}\n  known_hosts: ${cluster.AUTOPIPE_SSH_KNOWN_HOSTS}\n  remote_root: ${join(dir, 'remote')}\n`
      : `executor:\n  kind: local\n  max_concurrent: ${n}\n`)
    // the fit waits for the whole labelling stage: one poll per stage, as a cron poll after the jobs would
    .replace(/^train:.*$/m, `train:\n  min_new_structures: ${n}\n  command: ${join(canned, 'pacemaker')}\n  python: sh ${join(canned, 'train-python.sh')}`)
    .replace(/^explore:.*$/m, `explore:\n  python: sh ${join(canned, 'explore.sh')}`);
  writeFileSync(join(dir, 'autopipe.yaml'), yaml);
  const env = { ...process.env };
  if (ssh) delete env.SLURM_CONF; // everything through SSH
  return { dir, env, runRoot: ssh ? join(dir, 'remote') : join(dir, '.autopipe', 'run') };
}

/**
 * Until the jobs of the open attempts are through (the run root is on this machine in both
 * cases), so that polls are about one per stage. SLURM runs every task it was given: wait for
 * every exitcode. The local executor starts tasks in a poll (all of them: max_concurrent is n):
 * wait for every task that started.
 */
async function jobsFinished(dir: string, runRoot: string, local: boolean): Promise<void> {
  const open = cursorOf(dir).stages.flatMap((s) => s.tasks.map((t) => t.attempts[t.attempts.length - 1])).filter((a) => a.state !== 'done' && a.state !== 'failed');
  const through = (d: string) => existsSync(join(runRoot, d, 'exitcode')) || (local && !existsSync(join(runRoot, d, 'started')));
  await new Promise((res) => setTimeout(res, local ? 1000 : 0)); // local: the tasks a poll started are running
  for (let k = 0; k < 1200 && !open.every((a) => through(a.dir)); k++) await new Promise((res) => setTimeout(res, 250));
  await new Promise((res) => setTimeout(res, 300)); // and SLURM has let go of them
}

interface Figures { executor: string; n: number; seconds: number; polls: number; slowest: number; trips: number[]; rows: number; selected: number }

async function iteration(n: number, executor: string): Promise<Figures> {
  const { dir, env, runRoot } = project(n, executor);
  const local = executor === 'local';
  let seconds = autopipe(['submit'], dir, env).seconds;
  await jobsFinished(dir, runRoot, local);
  const trips: number[] = [];
  let polls = 0;
  let slowest = 0;
  for (;;) {
    const r = autopipe(['poll', '--json'], dir, env);
    seconds += r.seconds;
    polls++;
    slowest = Math.max(slowest, r.seconds);
    const j = JSON.parse(r.stdout) as { finished: boolean; ssh_round_trips?: number | null };
    if (typeof j.ssh_round_trips === 'number') trips.push(j.ssh_round_trips);
    if (j.finished) break;
    await jobsFinished(dir, runRoot, local);
  }
  const c = cursorOf(dir);
  if (!(c.stopped?.reason.startsWith('iterations.max') && c.stages.every(stageSettled))) throw new Error(`${dir}: the iteration did not end at iterations.max: ${c.stopped?.reason}`);
  const select = [...c.stages, ...c.done].find((s) => s.kind === 'select');
  const rows = Number(spawnSync('/usr/bin/python3', ['-c', 'import sys, ase.db; print(len(ase.db.connect(sys.argv[1])))', join(dir, '.autopipe', 'autopipe.db')], { encoding: 'utf8' }).stdout.trim());
  return { executor, n, seconds, polls, slowest, trips, rows, selected: Number(select?.data.selected ?? 0) };
}

const figures: Figures[] = [];
for (const executor of executors) for (const n of sizes) {
  console.log(`${executor}, ${n} tasks per stage …`);
  const f = await iteration(n, executor);
  figures.push(f);
  console.log(`  ${f.seconds.toFixed(1)} s in ${f.polls} polls, round trips ${f.trips.join(' ')}`);
}

console.log('\n| executor | tasks per stage | autopipe per iteration | polls | slowest poll | SSH round trips per poll | rows merged | sub-cells selected | jobs (anchor) | autopipe / jobs |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const f of figures) {
  const jobs = f.n * perPw + fit.seconds + f.n * perMd;
  const trips = f.trips.length === 0 ? '-' : `${Math.min(...f.trips)}–${Math.max(...f.trips)}`;
  console.log(`| ${f.executor} | ${f.n} | ${f.seconds.toFixed(1)} s | ${f.polls} | ${f.slowest.toFixed(2)} s | ${trips} | ${f.rows} | ${f.selected} | ${(jobs / 3600).toFixed(2)} core-h | ${(f.seconds / jobs).toExponential(1)} |`);
}
cpSync(join(anchorDir, '.autopipe', 'cursor.json'), join(out, 'anchor-cursor.json'));
