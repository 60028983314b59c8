/**
 * Handlebars templates for everything that runs on the cluster. Compiled with `noEscape`
 * (HTML escaping would corrupt shell: `=` becomes `&#x3D;`) and `strict` (a missing variable is
 * an error, not an empty string); `{{q value}}` is the one shell-quoting helper. A template the
 * user broke fails here with its file and line.
 */
import type HandlebarsNs from 'handlebars';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shellQuote } from '../shell/quote.js';
import { InputFormatError } from '../errors/errors.js';

/** autopipe's own templates (copied into a project by `autopipe init`). */
export const DEFAULT_TEMPLATES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'templates');

// Handlebars is loaded when a template is first compiled: most commands render none.
let handlebars: typeof HandlebarsNs | undefined;
function templates(): typeof HandlebarsNs {
  if (handlebars !== undefined) return handlebars;
  const env = (createRequire(import.meta.url)('handlebars') as typeof HandlebarsNs).create();
  env.registerHelper('q', (value: unknown) => {
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`q needs a string or a number, got ${value === null ? 'null' : typeof value}`);
    return shellQuote(String(value));
  });
  return (handlebars = env);
}

/** The line a Handlebars error points at: "Parse error on line 3:" or "… - 3:5". */
function lineOfError(message: string): number | undefined {
  const m = /on line (\d+)/.exec(message) ?? / - (\d+):\d+$/m.exec(message);
  return m === null ? undefined : Number(m[1]);
}

export type Render = (context: object) => string;

/** Compile template text; `file` names it in errors. Syntax errors surface here. */
export function compileTemplate(source: string, file: string): Render {
  try {
    templates().parse(source); // syntax errors now, with their line (compile alone defers them)
  } catch (err) {
    const msg = (err as Error).message;
    throw new InputFormatError(`template syntax error: ${msg.split('\n')[0]}`, { file, line: lineOfError(msg) }, {
      hint: `fix the template, or delete it to use autopipe's default (${DEFAULT_TEMPLATES})`, cause: err,
    });
  }
  const fn = templates().compile(source, { noEscape: true, strict: true });
  return (context) => {
    try {
      return fn(context);
    } catch (err) {
      const msg = (err as Error).message;
      const name = /^"([^"]+)" not defined/.exec(msg)?.[1];
      throw new InputFormatError(name === undefined ? `template error: ${msg}` : `template uses '${name}', which autopipe does not provide here`, { file, line: lineOfError(msg) }, {
        hint: 'check the variable name against the default template', cause: err,
      });
    }
  };
}

/** The project's copy of a template if it has one, else autopipe's default. */
export function templatePath(name: string, projectDir?: string): string {
  const own = projectDir === undefined ? undefined : join(projectDir, name);
  return own !== undefined && existsSync(own) ? own : join(DEFAULT_TEMPLATES, name);
}

/**
 * Job scripts of an older autopipe (<kind>.sbatch.hbs: the #SBATCH header, the folder lookup and
 * the sentinels in the template). autopipe writes those itself now; a project that still has one
 * would lose its cluster edits silently if it were ignored, so it is refused.
 */
function refuseRetired(name: string, projectDir: string | undefined): void {
  const m = /^(\w+)\.sh\.hbs$/.exec(name);
  if (m === null || projectDir === undefined) return;
  const old = join(projectDir, `${m[1]}.sbatch.hbs`);
  if (!existsSync(old)) return;
  throw new InputFormatError(`a job script of an older autopipe: autopipe now writes the #SBATCH header, the task folder and the sentinels itself, and runs only what ${name} holds`, { file: old }, {
    hint: `move your own lines (modules, the program line) into ${join(projectDir, name)} (a copy of ${join(DEFAULT_TEMPLATES, name)}), then delete ${old}`,
  });
}

export function loadTemplate(name: string, projectDir?: string): Render {
  refuseRetired(name, projectDir);
  const path = templatePath(name, projectDir);
  return compileTemplate(readFileSync(path, 'utf8'), path);
}
