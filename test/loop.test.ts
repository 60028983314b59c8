/**
 * The whole loop on the real components: the quickstart project (examples/quickstart: six
 * rattled 31-atom Al cells, a 107-atom cell to explore) through two iterations of label (pw.x)
 * → train (pacemaker) → explore (ASE + python-ace) → select, on the local executor, on SLURM
 * over SSH, and on SLURM with its polls SIGKILLed at random instants. ASE (Debian's) reads the
 * database; sacct says how often each job ran.
 */
import { expect } from 'chai';
import { potentialsOf } from '../lib/stages/kept.js';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { shellJoin } from '../lib/shell/quote.js';
import { visitPage } from './support/browser.js';
import { MARKS } from './support/report-marks.js';
import { randomBytes } from 'node:crypto';
import { readCursor, type Cursor } from '../lib/state/cursor.js';
import { stageSettled } from '../lib/state/tasks.js';
import { autopipe } from './support/al-training.js';
import { plumbing } from './support/campaign.js';
import { clusterEnv, jobNamesRun } from './support/cluster.js';
import { ROOT, tmpDir, pythonJson } from './support/tools.js';
import { rng } from './support/random.js';

const QUICKSTART = join(ROOT, 'examples', 'quickstart');

/**
 * A copy of the quickstart with its own name and executor. `forMachinery`: for the tests of the
 * loop's machinery on SLURM (not of its physics), the plumbing() settings.
 */
function quickstartProject(dir: string, name: string, executor: string[], forMachinery = false): void {
  for (const f of ['structures.extxyz', 'explore.extxyz', 'validation.extxyz']) copyFileSync(join(QUICKSTART, f), join(dir, f));
  const text = readFileSync(join(QUICKSTART, 'autopipe.yaml'), 'utf8');
  let changed = text.replace(/^name: quickstart$/m, `name: ${name}`).replace(/^executor:\n(?: {2}.*\n)+/m, `executor:\n${executor.map((l) => `  ${l}\n`).join('')}`);
  if (forMachinery) changed = plumbing(changed);
  expect(changed).to.not.equal(text);
  writeFileSync(join(dir, 'autopipe.yaml'), changed);
}

interface Row { id: number; iteration: number; natoms: number; embedded: boolean; n_core: number; mask: number[] | null; source: string; set: string | null }

function rows(db: string): Row[] {
  return pythonJson(`
import sys, json, ase.db
out = []
for r in ase.db.connect(sys.argv[1]).select():
    m = r.data.get('force_mask')
    out.append(dict(id=r.id, iteration=r.iteration, natoms=r.natoms, embedded=bool(r.embedded), n_core=r.n_core,
                    mask=None if m is None else [float(x) for x in m], source=r.data.get('source'), set=r.get('set')))
print(json.dumps(out))`, [db]) as Row[];
}

/** autopipe on a terminal: script(1) gives it a pseudo-terminal; what it drew, stdout and stderr together. */
function autopipeOnTerminal(args: string[], dir: string): { status: number; screen: string } {
  const cmd = `stty cols 160 rows 40; ${shellJoin([process.execPath, join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir])}`;
  const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TERM: 'xterm' } });
  return { status: r.status ?? -1, screen: r.stdout.replace(/\r\n/g, '\n') };
}

const cursorOf = (dir: string): Cursor => readCursor(join(dir, '.autopipe', 'cursor.json'))!;

/** What every run of the quickstart ends with, however it got there. */
function expectTwoIterations(dir: string): void {
  const c = cursorOf(dir);
  expect(c.stopped?.reason).to.match(/^iterations\.max \(2\) reached/);
  // the embedding check of iteration 0 runs beside iteration 1 and closes whenever it is through
  expect(c.done.map((d) => `${d.kind}${d.iteration}`).filter((s) => s !== 'check0')).to.deep.equal(['label0', 'train0', 'explore0', 'select0', 'label1', 'train1', 'explore1', 'select1']);
  expect(c.done.map((d) => `${d.kind}${d.iteration}`)).to.include('check0');
  expect(c.stages.map((s) => `${s.kind}${s.iteration}`), 'the stage the loop stopped at stays open: the last iteration checks nothing').to.deep.equal(['check1']);
  expect(c.done.every((d) => d.outcome === 'complete')).to.equal(true);
  expect(potentialsOf(c).map((p) => [p.iteration, p.dir, p.warm_start_from])).to.deep.equal([
    [0, 'potentials/iter-000', null], [1, 'potentials/iter-001', 'potentials/iter-000/output_potential.yaml'],
  ]);
  const select0 = c.done.find((d) => d.kind === 'select' && d.iteration === 0)!;
  const r = rows(join(dir, '.autopipe', 'autopipe.db'));
  // iteration 0: the six whole cells, every force counted, and the four validation frames beside
  // them, tagged; iteration 1: the sub-cells selection cut, with their masks
  expect(r.filter((x) => x.iteration === 0 && x.set === null).map((x) => [x.natoms, x.embedded, x.mask])).to.deep.equal(new Array(6).fill([31, false, null]));
  expect(r.filter((x) => x.set === 'validation').map((x) => [x.iteration, x.natoms])).to.deep.equal(new Array(4).fill([0, 31]));
  const embedded = r.filter((x) => x.iteration === 1);
  expect(embedded).to.have.length(Number(select0.data.selected));
  expect(embedded.length).to.be.within(1, 2);
  for (const x of embedded) {
    expect(x.embedded).to.equal(true);
    expect(x.mask).to.have.length(x.natoms);
    expect(x.mask!.filter((m) => m === 1)).to.have.length(x.n_core);
    expect(x.mask!.filter((m) => m !== 0 && m !== 1)).to.deep.equal([]);
    expect(x.n_core).to.be.within(1, x.natoms - 1);
    expect(x.source).to.match(/^explore\/iter-000\/t0000\/frames\.dump#\d+$/);
  }
  expect(potentialsOf(c)[1].rows).to.equal(6 + embedded.length);
  // provenance an ASE user can follow: read(source, index=row.data.frame) is the parent frame, and
  // every atom of the sub-cell is its parent's image, relative to the centre
  const mismatches = pythonJson<string[]>(`
import sys, os, ase.db, numpy as np
from ase.io import read
work = sys.argv[1]
bad = []
for r in ase.db.connect(os.path.join(work, 'autopipe.db')).select(embedded=True):
    src = r.data['source'].split('#')[0]
    parent = read(os.path.join(work, src), index=int(r.data['frame']), format='lammps-dump-text')
    ids, img = np.asarray(r.data['parent_id']), np.asarray(r.data['image'])
    off = parent.positions[ids - 1] - parent.positions[ids[0] - 1] + img @ parent.cell.array
    got = r.positions - r.positions[0]
    if not np.allclose(off, got, atol=1e-4):
        bad.append(f"row {r.id}: largest mismatch {np.abs(off - got).max():.4f} A")
print(__import__('json').dumps(bad))`, [join(dir, '.autopipe')]);
  expect(mismatches).to.deep.equal([]);
  // iteration 1's run went on from iteration 0's last good frame, when it had one
  const explore1 = c.done.find((d) => d.kind === 'explore' && d.iteration === 1)!;
  const explore0 = c.done.find((d) => d.kind === 'explore' && d.iteration === 0)!;
  expect(explore1.data.runs, 'the same run: the same start (by content), temperature and replica').to.deep.equal(explore0.data.runs);
  expect((explore1.data.runs as Record<string, string>).t0000).to.match(/^[0-9a-f]{16}@900K\/0$/);
  // each stage recorded the configuration it was planned with
  expect((c.done[1].config as { train: { max_iterations: number } }).train.max_iterations).to.equal(40);
  expect(Object.keys(c.done[3].config ?? {})).to.deep.equal(['selection', 'embedding']);
  expect(c.done.filter((d) => d.kind === 'label').every((d) => (d.core_s ?? 0) > 0), 'labelling counts its core-seconds').to.equal(true);
}

describe('the whole loop, two iterations (real pw.x, pacemaker, ASE engine)', function () {
  this.timeout(1200000);

  it('local executor: autopipe run on a terminal takes the quickstart through label → train → explore → select twice, showing its progress on one line; sub-cells with masks in the database; a summary per iteration; the report in Chromium', async () => {
    const dir = tmpDir();
    quickstartProject(dir, 'loop-local', ['kind: local', 'max_concurrent: 2', 'poll_interval: 0.5']);
    const t0 = Date.now();
    const r = autopipeOnTerminal(['run'], dir);
    expect(r.status, r.screen.slice(-3000)).to.equal(0);
    expectTwoIterations(dir);
    expect(r.screen).to.match(/iteration 0 select {2}41 frames explored, \d+ collected \(γ ≥ 1\.5\), \d+ candidate atoms in \[1\.5, 50\)/)
      .and.match(/iteration 1 train {3}potentials\/iter-001: \d+ rows/).and.match(/1 of them go on from the last good frame of iteration 0's run \(explore\.continue\)/);
    // the progress line: redrawn in place (carriage return, erase line) in every stage that runs jobs, and gone at the end
    // a draw is what stands between two erasures; a message written after an erasure ends in a newline
    const draws = r.screen.split('\r\x1b[K').slice(1).filter((d) => d !== '' && !d.includes('\n'));
    const stages = new Set(draws.map((d) => /^iteration (\d) · (\w+) · \d+ done, \d+ running, \d+ pending, \d+ failed · \d+(m \d+)?s$/.exec(d)).map((m) => (m === null ? 'malformed' : `${m[2]}${m[1]}`)));
    expect([...stages].filter((s) => s !== 'check0').sort(), JSON.stringify(draws.slice(0, 5))).to.deep.equal(['explore0', 'explore1', 'label0', 'label1', 'train0', 'train1']);
    expect(r.screen.trimEnd().split('\n').at(-1)).to.match(/^the loop stopped: iterations\.max \(2\) reached/);
    // a task's routine moves are the line's counts on a terminal, not lines of their own; the stages entered are
    expect(r.screen).to.not.match(/^\w+ t\d{4}: \w+ → \w+$/m).and.match(/^entered train of iteration 1 \(1 task\)$/m);
    // the embedding check, once: the explored frame whole and a sub-cell of each box shape, what they gave, and that today's settings were checked
    expect(r.screen).to.match(/^iteration 0 check +embedding check on frame \d+ of explore\/iter-000\/t0000\/frames\.dump \(255 atoms, 1 centre\(s\), reference: the whole frame\): the configured setting \(lattice, buffer 2 Å\): core force RMSE \d+ meV\/Å \(largest \d+\) in 10[78]-atom sub-cells at [\d.]+ of the reference's DFT time, (within|ABOVE) the target of 50 meV\/Å/m)
      .and.match(/^iteration 1 check +embedding check: none \(the loop ends with this iteration/m)
      .and.match(/^embedding: today's settings were checked in iteration 0: embedding check on frame/m);
    const c = cursorOf(dir);
    expect(c.done.find((d) => d.kind === 'explore' && d.iteration === 1)!.data).to.have.nested.property('results.t0000.explored', 41);
    const status = autopipe(['status'], dir);
    expect(status.stdout).to.match(/^iteration 0 label {3}6 structure\(s\) labelled, and 4 of 4 validation structure\(s\); [\d.]+ core-hours$/m).and.match(/^stopped: iterations\.max \(2\) reached/m)
      .and.match(/^learning: validation force RMSE [\d.]+ → [\d.]+ meV\/Å over iterations 0, 1 \(best [\d.]+, iteration [01]\); on 124 core atoms of 4 validation rows$/m);
    const embedded = c.done.find((d) => d.kind === 'select' && d.iteration === 0)!.data.selected as number;
    // status: the per-iteration table above, and in --json
    expect(status.stdout.split('\n').slice(1, 3)).to.satisfy((l: string[]) => /^0 +6\/0 /.test(l[0]) && new RegExp(`^1 +0/${embedded} `).test(l[1]));
    const json = JSON.parse(autopipe(['status', '--json'], dir).stdout) as { iterations: Array<{ labelled: { full: number; sub: number }; explore: { frames_explored: number } }> };
    expect(json.iterations.map((x) => [x.labelled.full, x.labelled.sub, x.explore.frames_explored])).to.deep.equal([[6, 0, 41], [0, embedded, 41]]);
    console.log(`      (the local whole loop took ${((Date.now() - t0) / 1000).toFixed(0)} s)`);

    // the report of this run, in Debian's headless Chromium
    const rep = autopipe(['report', '-o', join(dir, 'report.html')], dir);
    expect(rep.status, rep.stderr).to.equal(0);
    expect(rep.stdout).to.equal(`${join(dir, 'report.html')}\n`);
    const url = pathToFileURL(join(dir, 'report.html')).href;
    const v = await visitPage(url, { evaluate: MARKS });
    expect(v.errors).to.deep.equal([]);
    expect(v.requests, 'nothing but the page itself').to.deep.equal([url]);
    const fitSteps = readFileSync(join(dir, '.autopipe', 'potentials', 'iter-001', 'metrics.txt'), 'utf8').trim().split('\n').length - 1;
    expect(fitSteps).to.be.above(10);
    expect(v.value).to.deep.equal({
      'plot-force-rmse': { validation: 2, train: 2 }, 'plot-learning-dft': { validation: 2 }, 'plot-energy-rmse': { 'validation, less a constant shift': 2, train: 2 }, 'plot-dft-hours': { 'per iteration': 2, cumulative: 2 },
      'plot-gamma': { 'γ': 2 }, 'plot-cell-size': { 'iteration 0': 6, 'iteration 1': embedded }, 'plot-loss': { train: fitSteps },
      'plot-embedding-check': { lattice: 1 }, rows: 2, gaveUp: 0,
    });
    const shot = join(process.env.AUTOPIPE_UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs') : dir, 'report.png');
    writeFileSync(shot, v.screenshot);
    console.log(`      (the report's screenshot: ${shot})`);
  });

  it('SLURM over SSH (127.0.0.1): the same two iterations from cron-like polls, with a constant number of round trips per poll', async () => {
    const c = clusterEnv();
    const dir = tmpDir();
    const remote = join(tmpDir(), "remote it's $(touch pwned)");
    quickstartProject(dir, `loop-ssh-${randomBytes(3).toString('hex')}`, [
      'kind: slurm', `remote_root: ${JSON.stringify(remote)}`, 'host: 127.0.0.1', `port: ${c.AUTOPIPE_SSH_PORT}`, `user: ${c.AUTOPIPE_SSH_USER}`,
      `identity: ${JSON.stringify(c.AUTOPIPE_SSH_KEY)}`, `known_hosts: ${JSON.stringify(c.AUTOPIPE_SSH_KNOWN_HOSTS)}`,
    ], true);
    const env = { ...process.env };
    delete env.SLURM_CONF; // everything goes through the SSH server
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    const trips = new Set<number>();
    for (let k = 0; k < 400; k++) {
      const r = autopipe(['poll', '--json'], dir, env);
      expect(r.status, r.stderr).to.equal(0);
      const j = JSON.parse(r.stdout) as { finished: boolean; ssh_round_trips: number };
      trips.add(j.ssh_round_trips);
      if (j.finished) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    expectTwoIterations(dir);
    expect(existsSync(join(remote, 'iter-001', 'label')), 'the jobs ran under the remote root').to.equal(true);
    expect(existsSync(join(dir, 'pwned')) || existsSync('pwned')).to.equal(false);
    // how many round trips a poll takes depends on what it does, never on how many tasks there are
    expect(Math.max(...trips), `round trips per poll: ${[...trips].join(', ')}`).to.be.at.most(12);
  });

  it('SLURM, every poll SIGKILLed at a random instant across the whole loop: every job ran once, every task merged once, the same end as an unkilled run', async () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    const name = `loop-kill-${randomBytes(3).toString('hex')}`;
    quickstartProject(dir, name, ['kind: slurm'], true);
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    const draw = rng(20261202);
    let pollMs = 1500;
    const outcomes = { killed: 0, finished: 0, stages: new Set<string>() };
    for (let k = 0; k < 600; k++) {
      const t0 = Date.now();
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'poll', '-C', dir], { env, stdio: 'ignore' });
      const exited = new Promise<string | null>((res) => child.once('exit', (_code, signal) => res(signal)));
      // most polls are killed somewhere inside their own duration; one in five runs to its end
      const timer = draw() < 0.8 ? setTimeout(() => child.kill('SIGKILL'), Math.floor(draw() * 1.2 * pollMs)) : undefined;
      const signal = await exited;
      clearTimeout(timer);
      if (signal === 'SIGKILL') outcomes.killed++;
      else { outcomes.finished++; pollMs = 0.8 * pollMs + 0.2 * (Date.now() - t0); }
      const c = readCursor(join(dir, '.autopipe', 'cursor.json'));
      for (const s of c?.stages ?? []) outcomes.stages.add(`${s.kind}${s.iteration}`);
      if (c?.stopped != null && c.stages.every(stageSettled)) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expectTwoIterations(dir);
    console.log(`      (${outcomes.killed} polls killed, ${outcomes.finished} ran to their end)`);
    expect(outcomes.killed, JSON.stringify({ ...outcomes, stages: [...outcomes.stages] })).to.be.greaterThan(30);
    expect([...outcomes.stages].sort(), 'kills fell in every stage').to.include.members(['label0', 'train0', 'explore0', 'label1', 'train1', 'explore1']);
    // every job name SLURM ran is one submission of ours (its manifest on disk), run once per task of it; a
    // stage planned by a pass killed before its save left a manifest that nothing ever submitted, as it should
    const run = join(dir, '.autopipe', 'run');
    const manifests = new Map<string, { tasks: number; kind: string }>();
    for (const it of readdirSync(run).filter((f) => f.startsWith('iter-'))) {
      for (const kind of readdirSync(join(run, it))) {
        for (const f of readdirSync(join(run, it, kind)).filter((x) => x.endsWith('.manifest'))) {
          manifests.set(`${name}-${f.replace('.manifest', '')}`, { tasks: readFileSync(join(run, it, kind, f), 'utf8').trim().split('\n').length, kind });
        }
      }
    }
    const ran = jobNamesRun(name, env);
    for (const [job, n] of ran) expect(n, `${job} ran once per task`).to.equal(manifests.get(job)?.tasks);
    expect([...ran.keys()].filter((job) => manifests.get(job)?.kind === 'train'), 'one training job per iteration').to.have.length(2);
    expect([...ran.keys()].filter((job) => manifests.get(job)?.kind === 'label').reduce((n, job) => n + (ran.get(job) ?? 0), 0), 'every labelling task ran once: a row each (the fit\'s and the validation set\'s)').to.equal(rows(join(dir, '.autopipe', 'autopipe.db')).length);
  });
});
