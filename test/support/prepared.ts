/**
 * A project over SSH whose n tasks have all finished already (folders pre-populated with one
 * real pw.x output and sentinels; the job long gone from SLURM), for tests of polling itself.
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../lib/config/load.js';
import { plannedLabelCursor } from './loop.js';
import { writeCursor } from '../../lib/state/cursor.js';
import { writeExtxyz } from '../../lib/formats/extxyz.js';
import { pwRuns, AL4 } from './pw-runs.js';
import { tmpDir } from './tools.js';

export function preparedSshProject(n: number, cluster: Record<string, string>): string {
  const dir = tmpDir();
  const remote = join(tmpDir(), 'remote');
  const yaml = `name: cut${n}\niterations: {stop_after: label}\ndft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\nexecutor:\n  kind: slurm\n  host: 127.0.0.1\n  port: ${cluster.AUTOPIPE_SSH_PORT}\n  user: ${cluster.AUTOPIPE_SSH_USER}\n  identity: ${cluster.AUTOPIPE_SSH_KEY}\n  known_hosts: ${cluster.AUTOPIPE_SSH_KNOWN_HOSTS}\n  remote_root: ${remote}\n`;
  writeFileSync(join(dir, 'autopipe.yaml'), yaml);
  const { config } = parseConfigText(yaml, 'autopipe.yaml');
  let k = 0;
  const { cursor } = plannedLabelCursor({
    candidates: Array.from({ length: n }, (_, i) => ({ atoms: AL4, source: { file: 'prepared', frame: i + 1 } })), config,
    runRoot: remote, maxArraySize: 1000, now: 1795000000, token: () => `prep${String(k++).padStart(6, '0')}`, render: () => '#!/bin/sh\n',
  });
  const stage = cursor.stages[0];
  stage.submissions.forEach((s) => { s.job = { kind: 'slurm', id: '99999999' }; s.submitted_at = 1795000000; });
  stage.tasks.forEach((t) => { t.attempts[0].state = 'submitted'; });
  const pwOut = readFileSync(pwRuns().al, 'utf8');
  for (const t of stage.tasks) {
    const d = join(remote, t.attempts[0].dir);
    mkdirSync(d, { recursive: true });
    // a distinct energy per task, so that every task is its own row (merging is by content)
    writeFileSync(join(d, 'pw.out'), pwOut.replace(/^(!\s+total energy\s+=\s+)(-?\d+\.\d+)/m, (_m, head: string, e: string) => `${head}${(Number(e) - Number(t.id.slice(1)) * 1e-8).toFixed(8)}`));
    writeFileSync(join(d, 'structure.extxyz'), writeExtxyz([AL4]));
    // as autopipe's job writes them: with the attempt's token
    writeFileSync(join(d, 'started'), `1795000000 ${t.attempts[0].token}\n`);
    writeFileSync(join(d, 'exitcode'), `0 ${t.attempts[0].token}\n`);
  }
  mkdirSync(join(dir, '.autopipe'), { recursive: true });
  writeCursor(join(dir, '.autopipe', 'cursor.json'), cursor);
  return dir;
}
