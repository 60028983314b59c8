/** Where an attempt folder is, for a person to look: its path, or host:path over SSH. */
import { join, posix } from 'node:path';
import type { Project } from '../project/project.js';

export function whereOf(p: Project): (dir: string) => string {
  const host = p.config.executor.host;
  return (dir) => (host === null ? join(p.runRoot, dir) : `${host}:${posix.join(p.runRoot, dir)}`);
}
