/** The executor autopipe.yaml asks for. */
import type { Executor } from './executor.js';
import { LocalExecutor } from './local.js';
import { SlurmLocalExecutor } from './slurm-local.js';
import { LocalRunner } from './runner.js';
import type { Project } from '../label/project.js';
import { ConfigError } from '../errors/errors.js';

export function createExecutor(p: Project): Executor {
  const e = p.config.executor;
  if (e.kind === 'local') return new LocalExecutor(p.runRoot, e.max_concurrent, p.config.dft.resources.cpus_per_task);
  if (e.host === null) return new SlurmLocalExecutor(new LocalRunner(), p.runRoot, p.config.dft.resources);
  throw new ConfigError(p.configFile, ['executor.host: submitting over SSH is not available in this version yet; run autopipe on the login node (no host)']);
}

/** MaxArraySize: from the config, or from `scontrol show config`, or 1001 (SLURM's default). */
export async function maxArraySize(p: Project): Promise<number> {
  const e = p.config.executor;
  if (e.max_array_size !== null) return e.max_array_size;
  if (e.kind === 'local') return 1_000_000; // no limit of its own
  const { parseMaxArraySize, showConfigCommand } = await import('../slurm/commands.js');
  const r = await new LocalRunner().run(showConfigCommand());
  return (r.status === 0 ? parseMaxArraySize(r.stdout) : undefined) ?? 1001;
}
