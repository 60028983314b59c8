/** The test cluster's variables (scripts/test-cluster.sh writes them); a missing cluster fails the test. */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export function clusterEnv(): Record<string, string> {
  const file = join(process.env.AUTOPIPE_CLUSTER_DIR ?? '/tmp/autopipe-cluster', 'env');
  if (!existsSync(file)) throw new Error(`no test cluster (${file} is missing): run the tests with scripts/test.sh, or start it with scripts/test-cluster.sh start`);
  const env: Record<string, string> = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
  return env;
}
