/** The test cluster's variables (scripts/test-cluster.sh writes them); a missing cluster fails the test. */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/**
 * How often SLURM ran each job name of a project (from `sacct -c`, the job-completion log: one
 * line per array task), for tests that check that nothing was submitted twice.
 */
export function jobNamesRun(prefix: string, env: NodeJS.ProcessEnv): Map<string, number> {
  const out = spawnSync('sacct', ['-c', '--noheader', '--parsable2', '--format=JobID,JobName'], { env, encoding: 'utf8' }).stdout;
  const perName = new Map<string, number>();
  for (const l of out.split('\n')) {
    const n = l.split('|')[1];
    if (n !== undefined && n.startsWith(`${prefix}-`)) perName.set(n, (perName.get(n) ?? 0) + 1);
  }
  return perName;
}

export function clusterEnv(): Record<string, string> {
  const file = join(process.env.AUTOPIPE_CLUSTER_DIR ?? '/tmp/autopipe-cluster', 'env');
  if (!existsSync(file)) throw new Error(`no test cluster (${file} is missing): run the tests with scripts/test.sh, or start it with scripts/test-cluster.sh start`);
  const env: Record<string, string> = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
  return env;
}
