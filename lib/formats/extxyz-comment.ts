/**
 * The comment line of extended XYZ: `key=value` pairs, values bare, "quoted" (backslash
 * escapes), {braced} or [bracketed]; a bare key means true. Values are typed as ASE types them:
 * int, float, bool (T/F/True/False), whitespace-separated lists of those, else string.
 */
export type CommentValue = string | number | boolean | number[] | boolean[];

export function tokenizeComment(line: string): Array<[string, string | true]> {
  const out: Array<[string, string | true]> = [];
  let i = 0;
  const readWord = (stops: string): string => {
    let s = '';
    while (i < line.length) {
      const c = line[i];
      if (c === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) i++;
          s += line[i++];
        }
        i++;
      } else if (c === '{' || c === '[') {
        const close = c === '{' ? '}' : ']';
        const start = i;
        while (i < line.length && line[i] !== close) i++;
        s += c === '{' ? line.slice(start + 1, i) : line.slice(start, i + 1);
        i++;
      } else if (stops.includes(c)) {
        break;
      } else {
        s += c;
        i++;
      }
    }
    return s;
  };
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    const key = readWord('= \t');
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (line[i] === '=') {
      i++;
      while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
      out.push([key, readWord(' \t')]);
    } else {
      out.push([key, true]);
    }
  }
  return out;
}

const INT_RE = /^[+-]?\d+$/;
const BOOL: Record<string, boolean> = { T: true, True: true, true: true, F: false, False: false, false: false };

function scalar(s: string): string | number | boolean {
  if (INT_RE.test(s)) return parseInt(s, 10);
  const f = Number(s);
  if (s.trim() !== '' && !Number.isNaN(f) && /^[+-]?(\d|\.\d|inf|nan)/i.test(s)) return f;
  if (s in BOOL) return BOOL[s];
  return s;
}

export function typeCommentValue(raw: string | true): CommentValue {
  if (raw === true) return true;
  const trimmed = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1).replace(/,/g, ' ') : raw;
  const parts = trimmed.trim().split(/\s+/).filter((p) => p !== '');
  if (parts.length > 1) {
    const typed = parts.map(scalar);
    if (typed.every((t) => typeof t === 'number')) return typed as number[];
    if (typed.every((t) => typeof t === 'boolean')) return typed as boolean[];
    return raw;
  }
  return scalar(raw);
}

/** Format a value so that typeCommentValue reads it back (and ASE does too). */
export function formatCommentValue(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'T' : 'F';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'boolean')) {
    return `"${v.map(formatCommentValue).join(' ')}"`;
  }
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[^\s"=\\{}[\],]+$/.test(s) && typeof scalar(s) === 'string' ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
