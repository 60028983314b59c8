/**
 * Benchmark of issue 4: one `autopipe poll` over SSH (to the test cluster's sshd on 127.0.0.1)
 * with 10, 100 and 1,000 finished tasks. Task folders are pre-populated (the tests' fixture:
 * one real pw.x output of fcc Al, 4 atoms, a distinct energy per task, and its sentinels); the
 * poll reads them all, parses them and merges them into the database. Prints SSH round trips
 * and wall time per poll. Needs the test cluster: `bash scripts/test-cluster.sh start` (root).
 *
 *   node dist/bench/poll-ssh.js [10,100,1000]
 */
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preparedSshProject } from '../test/support/prepared.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sizes = (process.argv[2] ?? '10,100,1000').split(',').map(Number);
const envFile = '/tmp/autopipe-cluster/env';
if (!existsSync(envFile)) throw new Error('start the test cluster first: bash scripts/test-cluster.sh start');
const cluster = Object.fromEntries([...readFileSync(envFile, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));

console.log('finished tasks | SSH round trips | poll wall time | per task | rows merged');
for (const n of sizes) {
  const dir = preparedSshProject(n, cluster);
  const env = { ...process.env };
  delete env.SLURM_CONF; // everything through SSH
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'poll', '--json', '-C', dir], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout);
  const rows = spawnSync('/usr/bin/python3', ['-c', 'import sys, ase.db; print(len(ase.db.connect(sys.argv[1])))', join(dir, '.autopipe', 'autopipe.db')], { encoding: 'utf8' }).stdout.trim();
  console.log(`${String(n).padStart(14)} | ${String(j.ssh_round_trips).padStart(15)} | ${seconds.toFixed(2).padStart(12)} s | ${(1000 * seconds / n).toFixed(1).padStart(5)} ms | ${rows}`);
}
