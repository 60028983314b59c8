/**
 * The database under real concurrency and real crashes: several `autopipe db add` processes and
 * ASE writing one file at once, writers SIGKILLed at random instants, a hot journal left by a
 * killed ASE writer, WAL mode, links and permissions, damaged files, a held lock. ASE (and
 * SQLite's own integrity check) is the judge of every outcome.
 */
import { expect } from 'chai';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, openSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { openDatabaseFile } from '../lib/db/db-file.js';
import { SCHEMA_SQL } from '../lib/db/schema.js';
import { DatabaseError } from '../lib/errors/errors.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cli, python, pythonJson, tmpDir, PYTHON } from './support/tools.js';
import { labelledFrames, spawnCli, writeFrames } from './support/frames.js';
import { rng } from './support/random.js';

/** Rows of the database (optionally those matching an ASE query), counted by ASE. */
function aseCount(db: string, query = ''): number {
  return pythonJson<number>('import sys, json, ase.db; print(json.dumps(ase.db.connect(sys.argv[1]).count(sys.argv[2] or None)))', [db, query]);
}

function integrity(db: string): string {
  return python('import sys, sqlite3; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])', [db]).trim();
}

/** An ASE writer in its own process: n rows tagged run=<tag>, committed one by one (ASE's default). */
const ASE_WRITER = `
import sys, ase.db, numpy as np
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
db = ase.db.connect(sys.argv[1])
n, tag = int(sys.argv[2]), sys.argv[3]
for i in range(n):
    a = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((2, 2, 2))
    a.rattle(0.05, seed=i + 1000 * len(tag))
    a.calc = SinglePointCalculator(a, energy=-100.0 - i, forces=np.zeros((32, 3)))
    db.write(a, run=tag, i=i)
`;

describe('database: concurrent writers and crashes (real SQLite, ASE as judge)', function () {
  this.timeout(600000);
  // a holder left alive by a failed assertion would keep mocha from ever ending
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('4 autopipe db add processes and an ASE writer at once: every row is there', async () => {
    const dir = tmpDir();
    const db = join(dir, 'shared.db');
    const inputs = [0, 1, 2, 3].map((k) => writeFrames(join(dir, `in${k}.extxyz`), labelledFrames(100, 11 + k)));
    // the database exists (made by ASE): ASE checks for its schema and then creates it, so a new
    // file made by anyone between those two steps fails ASE itself (ASE against ASE alike)
    python('import sys, ase.db; ase.db.connect(sys.argv[1]).count()', [db]);
    const ase = spawn(PYTHON, ['-c', ASE_WRITER, db, '100', 'ase'], { stdio: 'ignore' });
    children.push(ase);
    const aseDone = new Promise<number | null>((res) => ase.once('close', res));
    const ours = inputs.map((f, k) => spawnCli(['db', 'add', '--level', 'none', db, f, '--kv', `run=w${k}`]));
    const results = await Promise.all(ours.map((o) => o.done));
    expect(await aseDone, 'the ASE writer').to.equal(0);
    for (const r of results) {
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/100 added, 0 already present/);
    }
    expect(aseCount(db)).to.equal(500);
    for (const k of [0, 1, 2, 3]) expect(aseCount(db, `run=w${k}`)).to.equal(100);
    expect(aseCount(db, 'run=ase')).to.equal(100);
    expect(integrity(db)).to.equal('ok');
  });

  it('writers creating one new database at once: one schema, every row', async () => {
    const dir = tmpDir();
    const inputs = [0, 1, 2, 3, 4].map((k) => writeFrames(join(dir, `in${k}.extxyz`), labelledFrames(5, 77 + k)));
    for (let round = 0; round < 5; round++) {
      const db = join(dir, `new${round}.db`);
      const ours = await Promise.all(inputs.map((f, k) => spawnCli(['db', 'add', '--level', 'none', db, f, '--kv', `run=w${k}`]).done));
      for (const r of ours) expect(r.status, r.stderr).to.equal(0);
      expect(aseCount(db)).to.equal(25);
      expect(integrity(db)).to.equal('ok');
    }
  });

  it('a database whose maker (ASE) is half way through its schema is waited for', async () => {
    const dir = tmpDir();
    const db = join(dir, 'half.db');
    // ASE makes its tables one statement at a time, each committed: the first two exist, the rest come later
    const statements = SCHEMA_SQL.split(/;\n/);
    const run = (list: string[]) => python('import sys, json, sqlite3; c = sqlite3.connect(sys.argv[1], isolation_level=None)\nfor s in json.loads(sys.argv[2]): c.execute(s)', [db, JSON.stringify(list)]);
    run(statements.slice(0, 2));
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(3, 9));
    const add = spawnCli(['db', 'add', '--level', 'none', db, input]);
    await new Promise((res) => setTimeout(res, 400));
    run(statements.slice(2));
    const r = await add.done;
    expect(r.status, r.stderr).to.equal(0);
    expect(aseCount(db)).to.equal(3);
  });

  it('100 db add processes SIGKILLed at random instants: the file stays intact and each one\'s rows are all there or none', async function () {
    this.timeout(900000);
    const dir = tmpDir();
    const db = join(dir, 'killed.db');
    const N = 150;
    // a first, unkilled run measures how long one add takes on this machine right now
    const first = writeFrames(join(dir, 'first.extxyz'), labelledFrames(N, 1));
    const t0 = Date.now();
    const r0 = await spawnCli(['db', 'add', '--level', 'none', db, first, '--kv', 'run=0']).done;
    const duration = Date.now() - t0;
    expect(r0.status, r0.stderr).to.equal(0);
    const draw = rng(20261201);
    const outcomes = { killed: 0, killedWriting: 0, finished: 0 };
    for (let k = 1; k <= 100; k++) {
      const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(N, 100 + k));
      const p = spawnCli(['db', 'add', '--level', 'none', db, input, '--kv', `run=${k}`]);
      if (k % 2 === 0) {
        // half the kills land inside the write transaction: once the journal exists, within 25 ms
        const end = Date.now() + 10 * duration;
        while (!existsSync(`${db}-journal`) && p.child.exitCode === null && Date.now() < end) await new Promise((res) => setImmediate(res));
        await new Promise((res) => setTimeout(res, Math.floor(draw() * 25)));
        if (existsSync(`${db}-journal`)) outcomes.killedWriting++;
        p.child.kill('SIGKILL');
      } else {
        // the others anywhere in the command's measured duration: start-up, reading, writing
        setTimeout(() => p.child.kill('SIGKILL'), Math.floor(draw() * duration * 1.1));
      }
      const r = await p.done;
      if (r.signal === 'SIGKILL') outcomes.killed++;
      else {
        expect(r.status, r.stderr).to.equal(0);
        outcomes.finished++;
      }
    }
    expect(integrity(db)).to.equal('ok');
    const counts = pythonJson<Record<string, number>>(`
import sys, json, ase.db, collections
db = ase.db.connect(sys.argv[1])
print(json.dumps(collections.Counter(str(r.run) for r in db.select())))`, [db]);
    for (const [run, n] of Object.entries(counts)) expect(n, `rows of run ${run}`).to.equal(N);
    expect(counts['0']).to.equal(N);
    // kills landed before and inside the write, and some runs finished: not a test of speed
    expect(outcomes.killedWriting, JSON.stringify(outcomes)).to.be.greaterThan(10);
    expect(outcomes.killed, JSON.stringify(outcomes)).to.be.greaterThan(20);
    expect(outcomes.finished, JSON.stringify(outcomes)).to.be.greaterThan(0);
    // and the survivor still takes rows
    const last = writeFrames(join(dir, 'last.extxyz'), labelledFrames(N, 999));
    expect(cli(['db', 'add', '--level', 'none', db, last, '--kv', 'run=last']).status).to.equal(0);
    expect(aseCount(db, 'run=last')).to.equal(N);
  });

  it('a hot journal left by a killed ASE writer is rolled back; then autopipe adds correctly', () => {
    const dir = tmpDir();
    const db = join(dir, 'hot.db');
    python(ASE_WRITER, [db, '20', 'before']);
    // an ASE transaction that spills pages into the file, then the writer dies (SIGKILL) before COMMIT
    const r = spawnSync(PYTHON, ['-c', `
import sys, os, signal, ase.db, numpy as np
from ase.build import bulk
db = ase.db.connect(sys.argv[1])
with db:
    db.connection.execute('PRAGMA cache_size=2')
    for i in range(300):
        a = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((2, 2, 2))
        a.rattle(0.05, seed=5000 + i)
        db.write(a, run='lost')
    os.kill(os.getpid(), signal.SIGKILL)`, db], { encoding: 'utf8' });
    expect(r.signal).to.equal('SIGKILL');
    expect(existsSync(`${db}-journal`), 'a hot journal').to.equal(true);
    expect(statSync(`${db}-journal`).size).to.be.greaterThan(0);
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(10, 7));
    const add = cli(['db', 'add', '--level', 'none', db, input, '--kv', 'run=after']);
    expect(add.status, add.stderr).to.equal(0);
    expect(add.stderr).to.match(/10 added, 0 already present, 0 skipped; 30 rows in all/);
    expect(existsSync(`${db}-journal`)).to.equal(false);
    expect(integrity(db)).to.equal('ok');
    expect(aseCount(db)).to.equal(30);
    expect(aseCount(db, 'run=lost')).to.equal(0);
    expect(aseCount(db, 'run=before')).to.equal(20);
  });

  it('a WAL-mode database ASE is writing: autopipe reads and adds, ASE sees every row', async () => {
    const dir = tmpDir();
    const db = join(dir, 'wal.db');
    python(ASE_WRITER, [db, '5', 'first']);
    python('import sys, sqlite3; print(sqlite3.connect(sys.argv[1]).execute("pragma journal_mode=wal").fetchone()[0])', [db]);
    // ASE keeps a connection open with uncheckpointed frames in the WAL while autopipe works
    const holder = spawn(PYTHON, ['-c', `
import sys, sqlite3, ase.db
from ase.build import bulk
keep = sqlite3.connect(sys.argv[1])  # an open connection keeps the WAL file from being checkpointed away
keep.execute('select count(*) from systems').fetchall()
db = ase.db.connect(sys.argv[1])
for i in range(5):
    a = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((2, 2, 2)); a.rattle(0.05, seed=77 + i)
    db.write(a, run='wal')
print('ready', flush=True)
sys.stdin.readline()
db.write(bulk('Cu', 'fcc', a=3.6), run='late')
`, db], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(holder);
    const holderDone = new Promise((res) => holder.once('close', res));
    await new Promise<void>((res) => holder.stdout.once('data', () => res()));
    expect(existsSync(`${db}-wal`)).to.equal(true);
    const ls = cli(['db', 'ls', db, 'run=wal', '--json']);
    expect(ls.status, ls.stderr).to.equal(0);
    expect(JSON.parse(ls.stdout)).to.have.length(5);
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(7, 3));
    const add = cli(['db', 'add', '--level', 'none', db, input, '--kv', 'run=ours']);
    expect(add.status, add.stderr).to.equal(0);
    holder.stdin.write('\n');
    await holderDone;
    expect(aseCount(db)).to.equal(5 + 5 + 7 + 1);
    expect(aseCount(db, 'run=ours')).to.equal(7);
    expect(python('import sys, sqlite3; print(sqlite3.connect(sys.argv[1]).execute("pragma journal_mode").fetchone()[0])', [db]).trim()).to.equal('wal');
    expect(integrity(db)).to.equal('ok');
  });

  it('a symlinked database is written through the link; mode 660 and group daemon stay', () => {
    const dir = tmpDir();
    const real = join(dir, 'real.db');
    python(ASE_WRITER, [real, '3', 'ase']);
    chmodSync(real, 0o660);
    chownSync(real, 0, 1); // group daemon (gid 1 on Debian)
    const link = join(dir, 'link.db');
    symlinkSync(real, link);
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(4, 5));
    const r = cli(['db', 'add', '--level', 'none', link, input]);
    expect(r.status, r.stderr).to.equal(0);
    expect(lstatSync(link).isSymbolicLink()).to.equal(true);
    expect(readlinkSync(link)).to.equal(real);
    const st = statSync(real);
    expect(st.mode & 0o777).to.equal(0o660);
    expect(st.gid).to.equal(1);
    expect(aseCount(real)).to.equal(7);
  });

  it('a damaged database is refused for writing (exit 65, not a byte changed) and for reading', () => {
    const dir = tmpDir();
    const db = join(dir, 'damaged.db');
    python(ASE_WRITER, [db, '30', 'ase']);
    const fd = openSync(db, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096); // page 2
    closeSync(fd);
    const before = readFileSync(db);
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(2, 5));
    const add = cli(['db', 'add', '--level', 'none', db, input]);
    expect(add.status).to.equal(65);
    expect(add.stderr).to.match(/damaged\.db: (the database is damaged|not a readable SQLite database)/);
    expect(add.stderr).not.to.match(/\n\s+at /);
    expect(readFileSync(db).equals(before), 'the file is unchanged').to.equal(true);
    const ls = cli(['db', 'ls', db]);
    expect(ls.status, ls.stdout).to.equal(65);
    expect(ls.stderr).to.match(/damaged\.db/);
  });

  it('a large database gets the checks that do not grow with it: a cut file is refused; db check reads everything', () => {
    const dir = tmpDir();
    const db = join(dir, 'large.db');
    python(ASE_WRITER, [db, '60', 'ase']);
    const pages = statSync(db).size / 4096;
    // a leaf page of old rows overwritten: not on an append's path
    const leaves = pythonJson<number[]>(`import sys, json, sqlite3; print(json.dumps([p for (p,) in sqlite3.connect(sys.argv[1]).execute("select pageno from dbstat where name='systems' and pagetype='leaf' order by pageno")]))`, [db]);
    const middle = join(dir, 'middle.db');
    copyFileSync(db, middle);
    const fd = openSync(middle, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * (leaves[Math.floor(leaves.length / 2)] - 1));
    closeSync(fd);
    const check = cli(['db', 'check', middle]);
    expect(check.status).to.equal(65);
    expect(check.stderr).to.match(/middle\.db: the database is damaged \(\d+ problem\(s\)/);
    expect(cli(['db', 'check', db]).stderr).to.match(/large\.db: ok \(60 rows\)/);
    // as if it were above the size of a whole check: the middle page is not read, a cut file is refused
    openDatabaseFile(middle, { write: true, fullCheckMaxBytes: 0 }).close();
    expect(() => openDatabaseFile(middle, { write: true })).to.throw(DatabaseError, /the database is damaged \(SQLite: /);
    const cut = join(dir, 'cut.db');
    writeFileSync(cut, readFileSync(db).subarray(0, 4096 * (pages - 3)));
    expect(() => openDatabaseFile(cut, { write: true, fullCheckMaxBytes: 0 })).to.throw(DatabaseError, /cut\.db: the database is damaged .*nothing was written/);
    const padded = join(dir, 'padded.db');
    writeFileSync(padded, Buffer.concat([readFileSync(db), Buffer.alloc(8192)]));
    expect(() => openDatabaseFile(padded, { write: true, fullCheckMaxBytes: 0 })).to.throw(DatabaseError, /padded\.db: the database is damaged \(the file has \d+ bytes, its header says \d+ pages of 4096: cut short or padded\); nothing was written/);
  });

  it('a writer waits for another program\'s lock, and after the timeout says who blocks (exit 75)', async () => {
    const dir = tmpDir();
    const db = join(dir, 'busy.db');
    python(ASE_WRITER, [db, '2', 'ase']);
    const holder = spawn(PYTHON, ['-c', `
import sys, time, sqlite3
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(float(sys.argv[2]))
c.execute('COMMIT')`, db, '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(holder);
    const holderDone = new Promise((res) => holder.once('close', res));
    await new Promise<void>((res) => holder.stdout.once('data', () => res()));
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(3, 5));
    const gaveUp = await spawnCli(['db', 'add', '--level', 'none', db, input], { AUTOPIPE_DB_TIMEOUT: '0.5' }).done;
    expect(gaveUp.status).to.equal(75);
    expect(gaveUp.stderr).to.match(/busy\.db: another program is writing it \(waited 0\.5 s for its lock\)/);
    expect(gaveUp.stderr).to.match(/what to do: try again/);
    const waited = await spawnCli(['db', 'add', '--level', 'none', db, input], { AUTOPIPE_DB_TIMEOUT: '30' }).done; // the holder lets go after 4 s
    expect(waited.status, waited.stderr).to.equal(0);
    await holderDone;
    expect(aseCount(db)).to.equal(5);
  });

  it('copies of a database read by ASE and by autopipe agree after all of the above', () => {
    const dir = tmpDir();
    const db = join(dir, 'agree.db');
    const input = writeFrames(join(dir, 'in.extxyz'), labelledFrames(6, 8));
    expect(cli(['db', 'add', '--level', 'none', db, input, '--kv', 'run=x']).status).to.equal(0);
    copyFileSync(db, join(dir, 'copy.db'));
    const ls = JSON.parse(cli(['db', 'ls', join(dir, 'copy.db'), '--json']).stdout) as Array<{ energy: number }>;
    const ase = pythonJson<number[]>('import sys, json, ase.db; print(json.dumps([r.energy for r in ase.db.connect(sys.argv[1]).select()]))', [join(dir, 'copy.db')]);
    expect(ls.map((r) => r.energy)).to.deep.equal(ase);
  });
});
