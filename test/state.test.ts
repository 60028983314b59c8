import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { acquireLock } from '../lib/state/lock.js';
import { readCursor, writeCursor, validateCursor, CURSOR_VERSION, type Cursor } from '../lib/state/cursor.js';
import { LockHeldError, CursorError } from '../lib/errors/errors.js';
import { ROOT, tmpDir } from './support/tools.js';

const NOW = 1795000000;

/** A labelling run in progress as version 2 wrote it: one stage, job ids as strings. */
function v2Cursor(iteration: number, jobId: string | null = null) {
  return {
    version: 2, project: 'demo', iteration, stage: 'label', updated_at: NOW + iteration,
    tasks: [{ id: 't0000', source: { file: "a'; touch pwned; '.extxyz", frame: 1 }, natoms: 4, merged: false, attempts: [
      { attempt: 1, dir: 'iter-000/label/t0000/a1', submission: 'k3x9q2m1', array_index: 0, parameters: {}, state: 'submitted', error_class: null, message: null },
    ] }],
    submissions: [{ token: 'k3x9q2m1', job_name: 'demo-k3x9q2m1', tasks: ['t0000'], job_id: jobId, intent_at: NOW, submitted_at: null }],
  };
}

function cursor(iteration: number): Cursor {
  const v = validateCursor(v2Cursor(iteration));
  if (!v.ok) throw new Error(v.problems.join('; '));
  return v.cursor;
}

describe('lock', function () {
  this.timeout(60000);

  it('one holder at a time: a live holder gives LockHeldError (exit 75) naming it; release frees it', () => {
    const dir = tmpDir();
    const path = join(dir, 'lock');
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(path, JSON.stringify({ pid: sleeper.pid, host: require_hostname(), since: NOW }));
      try {
        acquireLock(path, NOW);
        expect.fail('took a held lock');
      } catch (err) {
        expect(err).to.be.instanceOf(LockHeldError);
        expect((err as LockHeldError).exitCode).to.equal(75);
        expect((err as Error).message).to.include(`pid ${sleeper.pid}`);
      }
    } finally {
      sleeper.kill();
    }
  });

  it('a lock left by a dead process is taken over', () => {
    const dir = tmpDir();
    const path = join(dir, 'lock');
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(path, JSON.stringify({ pid: Number(dead), host: require_hostname(), since: NOW - 3600 }));
    const lock = acquireLock(path, NOW);
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).to.equal(process.pid);
    lock.release();
    expect(existsSync(path)).to.equal(false);
  });

  it('eight processes racing for the lock: exactly one gets it', async () => {
    const dir = tmpDir();
    const script = join(dir, 'racer.mjs');
    writeFileSync(script, `
import { acquireLock } from '${ROOT}/dist/lib/state/lock.js';
try { acquireLock(process.argv[2], ${NOW}); console.log('got'); setTimeout(() => {}, 1500); }
catch (e) { console.log(e.exitCode); }`);
    const results = await Promise.all(Array.from({ length: 8 }, () => new Promise<string>((res) => {
      const child = spawn(process.execPath, [script, join(dir, 'lock')]);
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', () => res(out.trim()));
    })));
    expect(results.filter((r) => r === 'got')).to.have.length(1);
    expect(results.filter((r) => r === '75')).to.have.length(7);
  });
});

function require_hostname(): string {
  return spawnSync('hostname').stdout.toString().trim();
}

describe('cursor', () => {
  it('round trip, atomic, with the last five versions kept newest first', () => {
    const dir = tmpDir();
    const path = join(dir, 'cursor.json');
    expect(readCursor(path)).to.equal(undefined);
    for (let k = 0; k < 8; k++) writeCursor(path, cursor(k));
    expect(readCursor(path)!.iteration).to.equal(7);
    for (let b = 1; b <= 5; b++) expect(readCursor(`${path}.bak.${b}`)!.iteration, `.bak.${b}`).to.equal(7 - b);
    expect(existsSync(`${path}.bak.6`)).to.equal(false);
    expect(readCursor(path)!.stages[0].tasks[0].spec).to.deep.equal({ source: { file: "a'; touch pwned; '.extxyz", frame: 1 }, natoms: 4 });
  });

  it('upgrades a version-2 cursor of a labelling run in progress: one open stage, closed job references', () => {
    for (const [id, job] of [['4242', { kind: 'slurm', id: '4242' }], ['unknown', { kind: 'forgotten' }], ['local:iter-000/label/k3x9q2m1', { kind: 'local', script: 'iter-000/label/k3x9q2m1.sbatch' }], [null, null]] as const) {
      const v = validateCursor(v2Cursor(0, id));
      expect(v.ok, JSON.stringify(v)).to.equal(true);
      if (!v.ok) continue;
      expect(v.cursor.version).to.equal(CURSOR_VERSION);
      expect(v.cursor.stages).to.have.length(1);
      expect(v.cursor.stages[0]).to.deep.include({ kind: 'label', iteration: 0, followed: false });
      expect(v.cursor.stages[0].submissions[0].job).to.deep.equal(job);
      expect(v.cursor.stages[0].tasks[0]).to.deep.include({ about: "a'; touch pwned; '.extxyz frame 1" });
      expect(v.cursor).to.deep.include({ done: [], stopped: null, home: null });
      // the campaign's id comes from what the cursor holds: the same at every read until it is saved
      expect(v.cursor.id).to.match(/^[a-f0-9]{12}$/);
      expect(validateCursor(v2Cursor(0, id)).ok && (validateCursor(v2Cursor(0, id)) as { cursor: Cursor }).cursor.id).to.equal(v.cursor.id);
    }
  });

  it('upgrades a version-3 cursor: each potential into its training stage\'s data, its stop re-examined as a rule', () => {
    const v3 = {
      version: 3, project: 'demo', iteration: 0, updated_at: NOW, stages: [],
      done: [{ kind: 'train', iteration: 0, planned_at: NOW, settled_at: NOW, tasks: 1, counts: { planned: 0, submitted: 0, pending: 0, running: 0, done: 1, failed: 0 }, outcome: 'complete', failures: {}, gave_up: [], data: { rows: 6 } }],
      potentials: [{ iteration: 0, dir: 'potentials/iter-000', rows: 6, row_ids: [[1, 6]], metrics: {}, duration_s: 20, warm_start_from: null }],
      stopped: { reason: 'iteration 0 is through train, and iterations.stop_after is train', at: NOW },
    };
    const v = validateCursor(v3);
    expect(v.ok, JSON.stringify(v)).to.equal(true);
    if (!v.ok) return;
    expect(v.cursor.done[0].data).to.deep.equal({ rows: 6, potential: v3.potentials[0] });
    expect(v.cursor.stopped).to.deep.equal({ ...v3.stopped, by: 'rule' });
    expect(validateCursor({ ...v3, potentials: 'none' }).ok, 'a version-3 cursor is checked against its own schema').to.equal(false);
  });

  it('refuses a cursor from a newer autopipe, a broken file and an invalid one, saying what to do', () => {
    const dir = tmpDir();
    const path = join(dir, 'cursor.json');
    writeFileSync(path, JSON.stringify({ ...cursor(0), version: CURSOR_VERSION + 1 }));
    expect(() => readCursor(path)).to.throw(CursorError, new RegExp(`written by a newer autopipe \\(cursor version ${CURSOR_VERSION + 1}; this autopipe reads version ${CURSOR_VERSION}\\)`));
    writeFileSync(path, '{"version": 1, "proj');
    try {
      readCursor(path);
      expect.fail('read a broken cursor');
    } catch (err) {
      expect((err as CursorError).message).to.match(/cursor\.json: not a readable cursor/);
      expect((err as CursorError).hint).to.match(/cp .*cursor\.json\.bak\.1/);
    }
    writeFileSync(path, JSON.stringify({ ...cursor(0), stages: [{ ...cursor(0).stages[0], kind: 'Label!' }] }));
    expect(() => readCursor(path)).to.throw(CursorError, /stages\.0\.kind: must match pattern/);
    expect(validateCursor({ ...cursor(0), stages: [{ ...cursor(0).stages[0], tasks: [{ id: 'x' }] }] }).ok).to.equal(false);
    expect(validateCursor({ ...v2Cursor(0), stage: 'labelling' }).ok, 'a version-2 cursor is checked against its own schema').to.equal(false);
    expect(() => writeCursor(path, { ...cursor(0), iteration: -1 })).to.throw(CursorError, /refusing to write an invalid cursor/);
  });
});
