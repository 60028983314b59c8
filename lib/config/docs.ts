/**
 * docs/config.md, generated from schemas/config.schema.json so that the reference cannot drift
 * from what is validated. `autopipe config docs` prints it; a test checks the committed copy.
 */
type Schema = Record<string, unknown>;

function resolve(root: Schema, s: Schema): Schema {
  if (typeof s.$ref !== 'string') return s;
  const target = (root.definitions as Record<string, Schema>)[s.$ref.split('/').pop() as string];
  return { ...target, ...s, $ref: undefined };
}

function typeText(s: Schema): string {
  if (s.enum !== undefined) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  const t = Array.isArray(s.type) ? (s.type as string[]) : s.type === undefined ? [] : [s.type as string];
  if (t.includes('array') && (s.items as Schema | undefined)?.type === 'object') return 'list of maps';
  return t.map((x) => (x === 'array' ? `list of ${String((s.items as Schema | undefined)?.type ?? 'values')}` : x)).join(' or ');
}

function limits(s: Schema): string {
  const out: string[] = [];
  if (s.minimum !== undefined) out.push(`≥ ${String(s.minimum)}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${String(s.exclusiveMinimum)}`);
  if (s.maximum !== undefined) out.push(`≤ ${String(s.maximum)}`);
  return out.join(', ');
}

function defaultText(s: Schema): string {
  if (!('default' in s)) return '(required)';
  const d = s.default;
  if (d !== null && typeof d === 'object' && !Array.isArray(d) && Object.keys(d).length === 0) return '';
  return `\`${JSON.stringify(d)}\``;
}

export function configDocs(root: Schema): string {
  const rows: string[] = [];
  const walk = (s0: Schema, path: string, required: readonly string[]) => {
    const s = resolve(root, s0);
    const props = s.properties as Record<string, Schema> | undefined;
    if (path !== '') {
      const d = required.includes(path.split('.').pop() as string) ? '(required)' : defaultText(s);
      const desc = String(s.description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
      const lim = limits(s);
      rows.push(`| \`${path}\` | ${typeText(s)}${lim === '' ? '' : ` (${lim})`} | ${d} | ${desc} |`);
    }
    if (props !== undefined) for (const [k, v] of Object.entries(props)) walk(v, path === '' ? k : `${path}.${k}`, (s.required as string[] | undefined) ?? []);
  };
  walk(root, '', []);
  return [
    '# autopipe.yaml reference',
    '',
    '<!-- Generated from schemas/config.schema.json by `autopipe config docs`; do not edit by hand. -->',
    '',
    String(root.description ?? ''),
    '',
    'Unknown fields are errors (a typo must not be silently ignored). `autopipe config check` prints',
    'the configuration with every default filled in, or every problem with its field path and line.',
    '',
    '| field | type | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
