/** Reading autopipe.yaml: YAML (with lines) → validateConfig → problems with line numbers. */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { parseYamlWithLines, lineOf } from './yaml-lines.js';
import { validateConfig, type Problem } from './validate.js';
import type { Config } from './types.js';
import { ConfigError, FileAccessError, InputFormatError, shown } from '../errors/errors.js';

export interface LoadedConfig {
  config: Config;
  /** Warnings, formatted like problems. */
  warnings: string[];
  file: string;
  /** The line of each field path in the file (for problems found later, as by autopipe's checks of the files it names). */
  lines: ReadonlyMap<string, number>;
}

export function formatProblem(p: Problem, lines: ReadonlyMap<string, number>): string {
  const line = lineOf(lines, p.path);
  // a path holds the user's keys: a 5 MB one is shown cut (its line is found from the whole one)
  const where = p.path === '' ? '(top level)' : shown(p.path, 120);
  return `${where}${line === undefined ? '' : ` (line ${line})`}: ${p.message}`;
}

/** Parse and validate config text; `file` names it in messages. Throws ConfigError/InputFormatError. */
export function parseConfigText(text: string, file: string): LoadedConfig {
  let parsed: { value: unknown; lines: ReadonlyMap<string, number> };
  try {
    parsed = parseYamlWithLines(text, file);
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      // several documents (a second or a trailing `---`) come without a mark: point at the separator
      const mark = (err.mark as { line?: number } | undefined)?.line;
      const separator = text.split('\n').findIndex((l, i) => i > 0 && /^---\s*$/.test(l));
      const line = mark !== undefined ? mark + 1 : separator >= 0 ? separator + 1 : undefined;
      const several = /single document/.test(err.reason ?? '');
      throw new InputFormatError(several ? 'holds more than one YAML document (a --- line)' : `not valid YAML: ${err.reason}`, { file, line }, {
        hint: several ? 'autopipe.yaml is one document: remove the --- line and what is meant for another file' : 'fix the YAML at that line', cause: err,
      });
    }
    throw err;
  }
  if (parsed.value !== undefined && parsed.value !== null && (typeof parsed.value !== 'object' || Array.isArray(parsed.value))) {
    throw new ConfigError(file, ['(top level): must be a mapping of fields (name: value)']);
  }
  const result = validateConfig(parsed.value);
  if (!result.ok) {
    // In file order, so the list reads top to bottom like the file.
    const sorted = [...result.problems].sort((a, b) => (lineOf(parsed.lines, a.path) ?? 0) - (lineOf(parsed.lines, b.path) ?? 0));
    throw new ConfigError(file, sorted.map((p) => formatProblem(p, parsed.lines)));
  }
  return { config: result.config, warnings: result.warnings.map((p) => formatProblem(p, parsed.lines)), file, lines: parsed.lines };
}

export function loadConfigFile(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FileAccessError(`${file}: cannot read the configuration (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      hint: 'give the path with -c, or run `autopipe init DIR` to write one',
      cause: err,
    });
  }
  return parseConfigText(text, file);
}
