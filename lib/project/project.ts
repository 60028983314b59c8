/** Where a project's files are: resolved once from -C DIR and autopipe.yaml. */
import { realpathSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { logger } from '../log/logger.js';
import type { Home } from '../state/cursor.js';

export interface Project {
  dir: string;
  configFile: string;
  config: Config;
  workdir: string;
  cursorPath: string;
  lockPath: string;
  dbPath: string;
  /** Where task folders live, as the machine running the jobs sees it. */
  runRoot: string;
  /** The line of each field path in autopipe.yaml (for problems found by checking the files it names). */
  configLines: ReadonlyMap<string, number>;
}

/** `said`: warnings already shown (a long-running `run` reopens the project every pass and says each once). */
export function openProject(dirArg: string | undefined, said?: Set<string>, configName = 'autopipe.yaml'): Project {
  const dir = resolve(dirArg ?? '.');
  const configFile = join(dir, configName);
  const { config, warnings, lines } = loadConfigFile(configFile);
  for (const w of warnings) {
    if (said?.has(w) === true) continue;
    said?.add(w);
    logger.warn(`${configFile}: ${w}`);
  }
  const at = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  const workdir = at(config.workdir);
  return {
    dir, configFile, config, workdir,
    cursorPath: join(workdir, 'cursor.json'),
    lockPath: join(workdir, 'lock'),
    dbPath: config.database === null ? join(workdir, 'autopipe.db') : at(config.database),
    runRoot: config.executor.remote_root === null ? join(workdir, 'run') : config.executor.remote_root,
    configLines: lines,
  };
}

/** Where the work folder is now: its real path (a symbolic link resolved). */
export function homeOf(p: Pick<Project, 'workdir'>): Home {
  return { workdir: realpathSync(p.workdir) };
}
