/**
 * `autopipe report` and what it shares with `status`: the campaign's numbers per iteration on a
 * cursor built for them (five iterations, failures recovered and given up, a test split),
 * the scales' ticks, pacemaker's metrics table (captured text), the page (golden file, hostile
 * strings), and the page in Debian's headless Chromium: its marks, its requests, its console.
 * The report of a real two-iteration run is checked the same way in loop.test.ts.
 */
import { expect } from 'chai';
import { REGISTRY } from '../lib/stages/registry.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { emptyCursor, type AttemptState, type Cursor, type JsonObject, type StageRecord } from '../lib/state/cursor.js';
import { summarize } from '../lib/loop/enter.js';
import type { LabelledCell } from '../lib/db/ase-db.js';
import { campaignOf, campaignTable } from '../lib/report/campaign.js';
import { gatherReport, boxOf } from '../lib/report/gather.js';
import { reportHtml } from '../lib/report/html.js';
import { integerTicks, logTicks, niceTicks, tickLabel } from '../lib/report/scale.js';
import { readPacemakerMetrics, writePacemakerMetrics } from '../lib/formats/pacemaker-metrics.js';
import { InputFormatError } from '../lib/errors/errors.js';
import { visitPage } from './support/browser.js';
import { MARKS } from './support/report-marks.js';
import { ROOT, tmpDir } from './support/tools.js';
import { autopipe } from './support/al-training.js';

const NOW = 1_800_000_000;
const HOSTILE = `a'; touch pwned <script>alert(1)</script>`;
const N = 5;

/** An embedding check of one centre (parent id 5, core atoms 5 and 6): a lattice box 17.3 meV/Å off at 0.1 of the reference's time, a cube 57.7 at 0.08. */
const CHECK: JsonObject = {
  key: 'k', frame: { source: 'explore/iter-000/t0000/frames.dump', index: 3, natoms: 100, centres: [5] }, reference: 'frame', target: 50,
  configured: 'lattice, buffer 2 Å', left_out: [],
  settings: [{ setting: 'lattice, buffer 2 Å', box: 'lattice', buffer: 2 }, { setting: 'cube, buffer 2 Å', box: 'cube', buffer: 2 }],
  forces: {
    t0000: { role: 'reference', setting: null, centre: null, seconds: 100, natoms: 100, ids: [5, 6], f: [0, 0, 0, 0, 0, 0] },
    t0001: { role: 'subcell', setting: 'lattice, buffer 2 Å', centre: 5, seconds: 10, natoms: 32, ids: [5, 6], f: [0.03, 0, 0, 0, 0.03, 0] },
    t0002: { role: 'subcell', setting: 'cube, buffer 2 Å', centre: 5, seconds: 8, natoms: 30, ids: [5, 6], f: [0.1, 0, 0, 0, 0.1, 0] },
  },
};

function stage(kind: StageRecord['kind'], iteration: number, states: AttemptState[], data: JsonObject = {}, failedFirst: number[] = []): StageRecord {
  return {
    kind, iteration, planned_at: NOW, data, followed: false, config: { train: { max_iterations: iteration < 3 ? 30 : 50 } },
    submissions: [{ token: 'tok', job_name: 'r-tok', tasks: states.map((_, k) => `t${k}`), job: null, intent_at: NOW, submitted_at: NOW, resources: { ntasks: 4, cpus_per_task: 1, time: '1:00:00', mem: null, partition: null, account: null, qos: null, extra: [] } as never }],
    tasks: states.map((state, k) => ({
      id: `t${k}`, about: '', spec: {},
      attempts: [
        ...(failedFirst.includes(k) ? [{ attempt: 1, dir: `iter-00${iteration}/${kind}/t${k}/a1`, submission: 'tok', array_index: k, parameters: {}, state: 'failed' as const, error_class: 'scf_not_converged' as const, message: 'convergence NOT achieved', ran_s: 600 }] : []),
        { attempt: failedFirst.includes(k) ? 2 : 1, dir: `iter-00${iteration}/${kind}/t${k}/${HOSTILE}`, submission: 'tok', array_index: k, parameters: {}, state, error_class: state === 'failed' ? 'pw_error' as const : null, message: state === 'failed' ? `Error in routine ${HOSTILE}` : null, ran_s: 900 },
      ],
      ...(state === 'failed' ? { gave_up: 'never retried' } : {}),
    })),
  };
}

/**
 * Each iteration's exploration: two runs as an older autopipe recorded them (no conditions: iteration 3's keys say
 * 600 and 900 K under NVT, the others have no keys), and in the last iteration an NPT ramp at two pressures, every fact recorded.
 */
function exploreData(k: number): JsonObject {
  const results: Record<string, JsonObject> = { t0: { explored: 41, collected: 30 - 5 * k, max_gamma: 6 - k, stopped_early: false, steps_run: 400 }, t1: { explored: 41, collected: 20 - 4 * k, max_gamma: 5 - k, stopped_early: false, steps_run: 400 } };
  if (k === 3) return { runs: { t0: '0123456789abcdef@600K/0', t1: '0123456789abcdef@900K/0' }, results };
  if (k < N - 1) return { results };
  const at = (pressure: number, volume: [number, number], last: number) => ({ source: { file: HOSTILE, frame: 2 }, temperature: 300, temperature_end: 900, ensemble: 'npt', pressure, volume_per_atom: volume, temperature_last: last });
  return { results: { t0: { ...results.t0, ...at(0, [16.42, 17.21], 905.3) }, t1: { ...results.t1, ...at(10000, [15.93, 16.5], 884.6) } } };
}

/** Five finished iterations: 6 cells, then sub-cells; iteration 2 has a recovered and a lost task. */
function campaignCursor(): Cursor {
  const done = [];
  for (let k = 0; k < N; k++) {
    done.push(summarize(stage('label', k, k === 2 ? ['done', 'done', 'failed'] : ['done', 'done'], {}, k === 2 ? [0] : []), NOW));
    const potential = { iteration: k, dir: `potentials/iter-00${k}`, rows: 6 + 4 * k, row_ids: [[1, 6 + 4 * k]] as Array<[number, number]>, duration_s: 20, warm_start_from: null,
      metrics: { train: { structures: 6, core_atoms: 186, energy_rmse_per_atom: 0.016 - 0.002 * k, force_rmse_core: 0.08 - 0.01 * k }, test: { structures: 1, core_atoms: 31, energy_rmse_per_atom: 0.02 - 0.002 * k, force_rmse_core: 0.09 - 0.01 * k } },
      // the validation set: what the learning curve shows (meV, as autopipe records it)
      validation: { rows: 6, energy_rows: 6, energy: 9 - k, energy_shifted: 8 - k, core_atoms: 642, force_rmse: 190 - 20 * k, force_max: 600 - 50 * k, elements: { Al: { core_atoms: 642, force_rmse: 190 - 20 * k, force_max: 600 - 50 * k } } } };
    done.push(summarize(stage('train', k, ['done'], { potential }), NOW));
    done.push(summarize(stage('explore', k, ['done', 'done'], exploreData(k)), NOW));
    done.push(summarize(stage('select', k, [], { candidates: 300 - 50 * k, selected: 4 }), NOW));
    // iteration 0's embedding check (its tasks left out here: the table's core-hours stay the labelling's)
    if (k === 0) done.push(summarize(stage('check', k, [], CHECK), NOW));
  }
  return { ...emptyCursor(HOSTILE, NOW, 'c0ffee000001'), iteration: N - 1, done, stopped: { reason: `iterations.max (${N}) reached`, at: NOW, by: 'rule' } };
}

const CELLS: LabelledCell[] = [
  ...Array.from({ length: 6 }, (_, k) => ({ id: k + 1, natoms: 31, iteration: 0, embedded: false, parent_natoms: null })),
  ...Array.from({ length: 4 * (N - 1) }, (_, k) => ({ id: k + 7, natoms: 22 + (k % 9), iteration: 1 + Math.floor(k / 4), embedded: true, parent_natoms: 107 })),
];

const METRICS_TXT = `ladder_step cycle_step iter_num loss                   e_loss_contrib         f_loss_contrib         reg_loss               rmse_epa               rmse_f_comp
0           0          0        0.012434408087193368   0.00018633326645350862 0.012248001906505464   7.291423439513954e-08  0.06360490003155159    0.13403369650389907
0           0          1        0.01208819995439032    0.00029001173462415194 0.011798115316429674   7.290333649474592e-08  0.0635422535596286     0.13177478356623393
`;

/** Kept files: each run's summary with its per-frame grades, the last fit's metrics. */
function kept(path: string): Buffer | undefined {
  const run = /^explore\/iter-(\d{3})\/t(\d)\/summary\.json$/.exec(path);
  if (run !== null) {
    const k = Number(run[1]);
    return Buffer.from(JSON.stringify({ frame_gammas: Array.from({ length: 41 }, (_, f) => Number((0.5 + ((f * 7) % 11) * (0.6 - 0.1 * k)).toFixed(3))) }));
  }
  if (path === `potentials/iter-00${N - 1}/metrics.txt`) return Buffer.from(METRICS_TXT);
  return undefined;
}

const data = () => gatherReport({ cursor: campaignCursor(), cells: CELLS, registry: REGISTRY, readWork: kept, gammaCollect: 1.5, gammaStop: 20 });
const page = () => reportHtml(data(), { generatedAt: NOW, projectDir: '/home/u/al-vacancy', where: (dir) => `cluster:/scratch/${dir}` });

describe('report: the campaign per iteration (what status and the report show)', () => {
  it('per iteration: labelled full cells and sub-cells, DFT core-hours, failures by class, the fit\'s errors, exploration and selection', () => {
    const c = campaignOf(campaignCursor(), CELLS, REGISTRY);
    expect(c.iterations).to.have.length(N);
    expect(c.iterations.map((r) => [r.labelled.full, r.labelled.sub])).to.deep.equal([[6, 0], [0, 4], [0, 4], [0, 4], [0, 4]]);
    // two tasks × 900 s × 4 cores = 2 core-hours; iteration 2: a third task and a failed first attempt (600 s)
    expect(c.iterations.map((r) => Number(r.dft_core_hours.toFixed(4)))).to.deep.equal([2, 2, 3 + 600 * 4 / 3600, 2, 2].map((v) => Number(v.toFixed(4))));
    expect(c.iterations[2].failures).to.deep.equal({ recovered: 1, gave_up: 1, retrying: 0, by_class: { scf_not_converged: { recovered: 1, gave_up: 0, retrying: 0 }, pw_error: { recovered: 0, gave_up: 1, retrying: 0 } } });
    const f = c.iterations[1].fit!;
    expect([f.train.energy_mev_per_atom, f.train.force_core_mev_per_a, f.test?.energy_mev_per_atom, f.test?.force_core_mev_per_a].map((v) => Number(v?.toFixed(9)))).to.deep.equal([14, 70, 18, 80]);
    // an older autopipe's runs: their keys say the temperatures; nothing says the start, the final temperature or the volume
    const old = { steps_run: 400, explored: 41, ended: null, start: null, ensemble: 'NVT', temperature_last: null, volume_per_atom: null };
    expect(c.iterations[3].explore).to.deep.equal({
      runs: 2, frames_explored: 82, frames_collected: 15 + 8, largest_gamma: 3, gamma_collect: null, gamma_stop: null, summaries: ['explore/iter-003/t0/summary.json', 'explore/iter-003/t1/summary.json'],
      conditions: 'NVT at 600, 900 K', run_list: [{ ...old, task: 't0', conditions: '600 K', collected: 15, max_gamma: 3 }, { ...old, task: 't1', conditions: '900 K', collected: 8, max_gamma: 2 }],
    });
    expect(c.iterations[2].explore).to.deep.include({ conditions: null });
    expect(c.iterations[2].explore?.run_list[0]).to.deep.include({ start: null, ensemble: null, conditions: null, temperature_last: null, volume_per_atom: null });
    // the NPT ramp: each run's start, conditions, final temperature and volume range; the iteration's conditions in a line
    expect(c.iterations[4].explore?.conditions).to.equal('NPT at 300→900 K × 0, 10000 bar: 15.9–17.2 Å³/atom');
    expect(c.iterations[4].explore?.run_list.map((r) => [r.start, r.ensemble, r.conditions, r.temperature_last, r.volume_per_atom])).to.deep.equal([
      [`${HOSTILE} frame 2`, 'NPT', '300→900 K, 0 bar', 905.3, [16.42, 17.21]], [`${HOSTILE} frame 2`, 'NPT', '300→900 K, 10000 bar', 884.6, [15.93, 16.5]],
    ]);
    expect(c.iterations[4].select).to.deep.equal({ candidates: 100, selected: 4 });
    // the embedding check's figures, per component over the core's two atoms: (30 meV/Å)² × 2 / 6
    const check = c.iterations[0].embedding_check!;
    expect(check.rows.map((r) => [r.setting, Number(r.rmse.toFixed(3)), Number(r.max.toFixed(3)), r.costShare])).to.deep.equal([['lattice, buffer 2 Å', 17.321, 30, 0.1], ['cube, buffer 2 Å', 57.735, 100, 0.08]]);
    expect([check.configured, check.cheapest]).to.deep.equal(['lattice, buffer 2 Å', 'lattice, buffer 2 Å']);
    expect(c.iterations[1].embedding_check).to.equal(null);
    expect(c.gave_up.map((g) => [g.iteration, g.kind, g.task, g.error_class, g.reason])).to.deep.equal([[2, 'label', 't2', 'pw_error', 'never retried']]);
    expect(c.stopped).to.equal('iterations.max (5) reached');
    expect(campaignTable(c.iterations).slice(0, 4)).to.deep.equal([
      'iter  labelled full/sub  DFT core-h  failed: recovered/gave up  E RMSE meV/atom train/test  F RMSE core meV/Å train/test  F RMSE validation  runs  frames explored/collected  largest γ  candidates  selected',
      '0                   6/0       2.000                        0/0                   16.0/20.0                     80.0/90.0              190.0     2                      82/50       6.00         300         4',
      '1                   0/4       2.000                        0/0                   14.0/18.0                     70.0/80.0              170.0     2                      82/41       5.00         250         4',
      '2                   0/4       3.667                        1/1                   12.0/16.0                     60.0/70.0              150.0     2                      82/32       4.00         200         4',
    ]);
  });

  it('scales: ticks at 1, 2 or 5 × 10^k; powers of ten on a log axis; whole iterations with room either side', () => {
    expect(niceTicks(0, 104.9)).to.deep.equal({ ticks: [0, 20, 40, 60, 80, 100, 120], domain: [0, 120] });
    expect(niceTicks(0.01, 0.0124)).to.deep.equal({ ticks: [0.01, 0.0105, 0.011, 0.0115, 0.012, 0.0125], domain: [0.01, 0.0125] });
    expect(niceTicks(3, 3).domain, 'one value sits mid-axis').to.deep.equal([1.5, 4.5]);
    expect(logTicks(0.9, 20)).to.deep.equal({ ticks: [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100], domain: [0.1, 100] });
    expect(logTicks(1.2, 20).ticks, 'data under two decades: 2 and 5 between').to.deep.equal([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(0.5, 5000).ticks).to.deep.equal([0.1, 1, 10, 100, 1000, 10000]);
    expect(integerTicks(-0.5, 4.5)).to.deep.equal({ ticks: [0, 1, 2, 3, 4], domain: [-0.5, 4.5] });
    expect(integerTicks(0, 39).ticks).to.deep.equal([0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    expect([0.30000000000000004, 20000, 1e6, 0.0001].map(tickLabel)).to.deep.equal(['0.3', '20000', '1e6', '1e-4']);
    expect(boxOf(0, [5, 1, 3, 2, 4])).to.deep.equal({ x: 0, min: 1, q1: 2, median: 3, q3: 4, max: 5, n: 5 });
  });

  it('pacemaker\'s metrics.txt (captured from a real fit): a row per step of the fit; a cut row says file and line', () => {
    const t = readPacemakerMetrics(METRICS_TXT, 'metrics.txt');
    expect(t.map((r) => [r.iter_num, r.loss, r.rmse_f_comp])).to.deep.equal([[0, 0.012434408087193368, 0.13403369650389907], [1, 0.01208819995439032, 0.13177478356623393]]);
    expect(readPacemakerMetrics(writePacemakerMetrics(t), 'again')).to.deep.equal(t);
    expect(() => readPacemakerMetrics(`${METRICS_TXT}0 0 2 0.0119\n`, 'potentials/iter-001/metrics.txt')).to.throw(InputFormatError, /^potentials\/iter-001\/metrics\.txt:4: 4 values for 9 columns$/);
  });

  it('the page: one file, no script, nothing to fetch; hostile names, messages and folders stay text (golden file)', () => {
    const html = page();
    const golden = join(ROOT, 'test', 'golden', 'report.html');
    if (process.env.AUTOPIPE_UPDATE_GOLDEN === '1') writeFileSync(golden, html);
    expect(html).to.equal(readFileSync(golden, 'utf8'));
    expect(html).to.not.match(/<script|src=|href=|url\(/i);
    expect(html).to.contain('a&#39;; touch pwned &lt;script&gt;alert(1)&lt;/script&gt;').and.contain('cluster:/scratch/iter-002/label/t2/a&#39;; touch pwned');
    expect(html).to.contain('<li>iteration 3, label: <code>train.max_iterations: 30 → 50</code></li>');
    // the exploration runs: a table per iteration, the newest open; the NPT ramp's rows with their conditions, final temperature and volume range; an older autopipe's with –
    expect(html.match(/<tr class="run">/g)).to.have.length(2 * N);
    expect(html.match(/<details class="runs" data-iteration="\d+"( open)?>/g)).to.deep.equal([0, 1, 2, 3, 4].map((k) => `<details class="runs" data-iteration="${k}"${k === N - 1 ? ' open' : ''}>`));
    expect(html).to.contain('<summary>iteration 4: 2 run(s); NPT at 300→900 K × 0, 10000 bar: 15.9–17.2 Å³/atom</summary>')
      .and.contain('<tr class="run"><td class="text">t1</td><td class="text wrap">a&#39;; touch pwned &lt;script&gt;alert(1)&lt;/script&gt; frame 2</td><td class="text">NPT</td><td class="text">300→900 K, 10000 bar</td><td>400</td><td>41</td><td>4</td><td>1.00</td><td>885</td><td>15.93–16.50</td><td class="text wrap">–</td></tr>')
      .and.contain('<tr class="run"><td class="text">t0</td><td class="text wrap">–</td><td class="text">NVT</td><td class="text">600 K</td><td>400</td><td>41</td><td>15</td><td>3.00</td><td>–</td><td>–</td><td class="text wrap">–</td></tr>')
      .and.contain('<summary>iteration 0: 2 run(s)</summary>');
  });

  it('in Debian\'s headless Chromium: each plot has its marks (a point per iteration), no request leaves the page, no console error', async function () {
    this.timeout(120000);
    const dir = tmpDir();
    writeFileSync(join(dir, 'report.html'), page());
    const url = pathToFileURL(join(dir, 'report.html')).href;
    const v = await visitPage(url, { evaluate: MARKS });
    expect(v.errors).to.deep.equal([]);
    expect(v.requests).to.deep.equal([url]);
    expect(v.value).to.deep.equal({
      'plot-force-rmse': { validation: N, train: N, test: N }, 'plot-learning-dft': { validation: N }, 'plot-energy-rmse': { 'validation, less a constant shift': N, train: N, test: N }, 'plot-dft-hours': { 'per iteration': N, cumulative: N },
      'plot-gamma': { 'γ': N }, 'plot-cell-size': { 'iteration 0': 6, 'iteration 1': 4, 'iteration 2': 4, 'iteration 3': 4, 'iteration 4': 4 },
      'plot-loss': { train: 2 }, 'plot-embedding-check': { lattice: 1, cube: 1 }, rows: N, gaveUp: 1,
    });
    expect(v.screenshot.subarray(1, 4).toString()).to.equal('PNG');
    writeFileSync(join(dir, 'report.png'), v.screenshot);
  });

  it('the command: before anything was submitted it says so and what to do; an output folder that is not there is named', () => {
    const dir = tmpDir();
    writeFileSync(join(dir, 'autopipe.yaml'), 'name: r\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n');
    const none = autopipe(['report'], dir);
    expect(none.status).to.equal(64);
    expect(none.stderr).to.match(/^autopipe: no cursor in .*: nothing to report yet$/m).and.match(/what to do: run autopipe submit \(or autopipe run\) first/).and.not.match(/\n\s+at /);
  });

  it('the browser check itself sees a request that leaves a page and a console error (a page made to do both)', async function () {
    this.timeout(120000);
    const dir = tmpDir();
    writeFileSync(join(dir, 'bad.html'), '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"><p>x</p></body></html>');
    const url = pathToFileURL(join(dir, 'bad.html')).href;
    const v = await visitPage(url, { evaluate: '1' });
    expect(v.requests).to.include('http://127.0.0.1:9/x.png');
    expect(v.errors.join('\n')).to.match(/127\.0\.0\.1:9\/x\.png/);
  });
});
