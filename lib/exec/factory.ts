/** The executor autopipe.yaml asks for. */
import type { Executor } from './executor.js';
import { LocalExecutor } from './local.js';
import { SlurmLocalExecutor } from './slurm-local.js';
import { LocalRunner, type Runner } from '../shell/runner.js';
import { SlurmSshExecutor } from './slurm-ssh.js';
import { SshRunner } from '../ssh/ssh-runner.js';
import { OpenSshRunner, type OpenSshTarget } from '../ssh/openssh-runner.js';
import type { Config } from '../config/types.js';
import { parseMaxArraySize, showConfigCommand } from '../slurm/commands.js';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Project } from '../project/project.js';
import { ConfigError } from '../errors/errors.js';

export interface OpenExecutor {
  executor: Executor;
  /** The runner SLURM commands go through (for scontrol). */
  runner: Runner;
  /** SSH round trips so far (0 for local ones). */
  roundTrips(): number;
  close(): void;
}

/** The executor of a project; with a host, one SSH connection until close(). */
export async function openExecutor(p: Project, now?: () => number): Promise<OpenExecutor> {
  const e = p.config.executor;
  const local = new LocalRunner();
  if (e.kind === 'local') {
    return { executor: new LocalExecutor(p.runRoot, e.max_concurrent, now), runner: local, roundTrips: () => 0, close: () => {} };
  }
  if (e.host === null) return { executor: new SlurmLocalExecutor(local, p.runRoot), runner: local, roundTrips: () => 0, close: () => {} };
  if (e.remote_root === null) throw new ConfigError(p.configFile, ['executor.remote_root: is required with a host (the folder on the cluster where task folders live)']);
  const ssh = e.ssh === 'openssh' ? await OpenSshRunner.connect(openSshTarget(e)) : await SshRunner.connect({
    host: e.host, port: e.port, user: e.user ?? userInfo().username, identity: e.identity === null ? undefined : expandHome(e.identity),
    knownHosts: expandHome(e.known_hosts), acceptNewHostKey: e.accept_new_host_key,
  });
  return { executor: new SlurmSshExecutor(ssh, e.remote_root), runner: ssh, roundTrips: () => ssh.roundTrips, close: () => ssh.dispose() };
}

/**
 * With the OpenSSH client, the ssh config decides what autopipe.yaml leaves out: port and
 * known_hosts are passed only when they differ from their defaults (22, ~/.ssh/known_hosts),
 * user and identity only when set.
 */
/** executor.known_hosts's default (schemas/config.schema.json). */
const DEFAULT_KNOWN_HOSTS = '~/.ssh/known_hosts';

export function openSshTarget(e: Config['executor']): OpenSshTarget {
  return {
    host: e.host!, acceptNewHostKey: e.accept_new_host_key,
    ...(e.port === 22 ? {} : { port: e.port }),
    ...(e.user === null ? {} : { user: e.user }),
    ...(e.identity === null ? {} : { identity: expandHome(e.identity) }),
    ...(e.known_hosts === DEFAULT_KNOWN_HOSTS ? {} : { knownHosts: expandHome(e.known_hosts) }),
    ...(e.ssh_config === null ? {} : { config: expandHome(e.ssh_config) }),
  };
}

function expandHome(path: string): string {
  return path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** MaxArraySize: from the config, or from `scontrol show config`, or 1001 (SLURM's default). */
export async function maxArraySize(p: Project, runner: Runner): Promise<number> {
  const e = p.config.executor;
  if (e.max_array_size !== null) return e.max_array_size;
  if (e.kind === 'local') return 1_000_000; // no limit of its own
  const r = await runner.run(showConfigCommand());
  return (r.status === 0 ? parseMaxArraySize(r.stdout) : undefined) ?? 1001;
}
