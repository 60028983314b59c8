/**
 * Benchmark of issue 4: one `autopipe poll` over SSH (to the test cluster's sshd on 127.0.0.1)
 * with 10, 100 and 1,000 finished tasks. Task folders are pre-populated with one real pw.x
 * output (fcc Al, 4 atoms) and its sentinels; the poll reads them all, parses them and merges
 * them into the database. Prints SSH round trips and wall time per poll.
 * Needs the test cluster: `bash scripts/test-cluster.sh start` (as root).
 *
 *   node dist/bench/poll-ssh.js [10,100,1000]
 */
import { mkdirSync, writeFileSync, readFileSync, mkdtempSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { writePwInput } from '../lib/formats/espresso-in.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { parseConfigText } from '../lib/config/load.js';
import { planLabelStage } from '../lib/label/plan.js';
import { plannedCursor } from '../lib/label/apply.js';
import { writeCursor } from '../lib/state/cursor.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sizes = (process.argv[2] ?? '10,100,1000').split(',').map(Number);
const envFile = '/tmp/autopipe-cluster/env';
if (!existsSync(envFile)) throw new Error('start the test cluster first: bash scripts/test-cluster.sh start');
const cluster = Object.fromEntries([...readFileSync(envFile, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));

const work = mkdtempSync(join(tmpdir(), 'autopipe-bench-poll-'));
const al = makeAtoms({ numbers: [13, 13, 13, 13], positions: [0, 0, 0.05, 2.025, 2.025, 0, 2.025, 0, 2.025, 0, 2.025, 2.025], cell: [4.05, 0, 0, 0, 4.05, 0, 0, 0, 4.05], pbc: [true, true, true] });
writeFileSync(join(work, 'pw.in'), writePwInput(al, { parameters: { ecutwfc: 15, occupations: 'smearing', degauss: 0.02 }, pseudopotentials: { Al: 'Al.pz-vbc.UPF' }, pseudoDir: '/usr/share/espresso/pseudo', kpoints: { kind: 'mesh', mesh: [2, 2, 2] } }));
if (spawnSync('sh', ['-c', 'cd "$1" && pw.x -in pw.in > pw.out 2>/dev/null', 'sh', work]).status !== 0) throw new Error('pw.x failed');
const pwOut = readFileSync(join(work, 'pw.out'), 'utf8');

console.log('finished tasks | SSH round trips | poll wall time | per task');
for (const n of sizes) {
  const dir = join(work, `p${n}`);
  const remote = join(work, `remote${n}`);
  mkdirSync(dir, { recursive: true });
  const yaml = `name: bench${n}\ndft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\nexecutor:\n  kind: slurm\n  host: 127.0.0.1\n  port: ${cluster.AUTOPIPE_SSH_PORT}\n  user: ${cluster.AUTOPIPE_SSH_USER}\n  identity: ${cluster.AUTOPIPE_SSH_KEY}\n  known_hosts: ${cluster.AUTOPIPE_SSH_KNOWN_HOSTS}\n  remote_root: ${remote}\n`;
  writeFileSync(join(dir, 'autopipe.yaml'), yaml);
  const { config } = parseConfigText(yaml, 'autopipe.yaml');
  let k = 0;
  const plan = planLabelStage({
    iteration: 0, candidates: Array.from({ length: n }, (_, i) => ({ atoms: al, source: { file: 'bench', frame: i + 1 } })), config, runRoot: remote,
    maxArraySize: 1000, now: 1795000000, token: () => `bench${String(k++).padStart(5, '0')}`, renderScript: () => '#!/bin/sh\n',
  });
  const cursor = plannedCursor(config.name, 0, plan, 1795000000);
  // as if submitted long ago and gone from SLURM's memory: every task has finished
  cursor.submissions.forEach((s) => { s.job_id = '99999999'; s.submitted_at = 1795000000; });
  cursor.tasks.forEach((t) => { t.attempts[0].state = 'submitted'; });
  for (const t of cursor.tasks) {
    const d = join(remote, t.attempts[0].dir);
    mkdirSync(d, { recursive: true });
    // a distinct energy per task, so that every task is its own row (merging is by content)
    writeFileSync(join(d, 'pw.out'), pwOut.replace(/^(!\s+total energy\s+=\s+)(-?\d+\.\d+)/m, (_m, head: string, e: string) => `${head}${(Number(e) - Number(t.id.slice(1)) * 1e-8).toFixed(8)}`));
    writeFileSync(join(d, 'structure.extxyz'), writeExtxyz([al]));
    writeFileSync(join(d, 'started'), '1795000000\n');
    writeFileSync(join(d, 'exitcode'), '0\n');
  }
  mkdirSync(join(dir, '.autopipe'), { recursive: true });
  writeCursor(join(dir, '.autopipe', 'cursor.json'), cursor);
  const env = { ...process.env };
  delete env.SLURM_CONF;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'poll', '--json', '-C', dir], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout);
  if (j.counts.done !== n) throw new Error(`expected ${n} done, got ${JSON.stringify(j.counts)}`);
  console.log(`${String(n).padStart(14)} | ${String(j.ssh_round_trips).padStart(15)} | ${seconds.toFixed(2).padStart(12)} s | ${(1000 * seconds / n).toFixed(1)} ms`);
}
