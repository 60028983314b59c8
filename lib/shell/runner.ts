/** Runs a command (argv, never a shell) and returns its output; the one place processes start. */
import { spawnSync } from 'node:child_process';

export interface RunResult { status: number; stdout: string; stderr: string }

export interface Runner {
  run(argv: readonly string[], opts?: { cwd?: string; input?: string }): Promise<RunResult>;
}

export class LocalRunner implements Runner {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async run(argv: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<RunResult> {
    const r = spawnSync(argv[0], argv.slice(1), { cwd: opts.cwd, input: opts.input, encoding: 'utf8', env: this.env, maxBuffer: 1 << 28 });
    if (r.error !== undefined) {
      const code = (r.error as NodeJS.ErrnoException).code;
      return { status: 127, stdout: '', stderr: code === 'ENOENT' ? `${argv[0]}: command not found` : r.error.message };
    }
    return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  }
}
