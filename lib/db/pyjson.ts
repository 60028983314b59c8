/**
 * JSON as Python's `json` module writes and reads it, which is what ASE stores:
 * - bare `NaN`, `Infinity`, `-Infinity` tokens (JSON.parse rejects them);
 * - float repr (`4.0`, `1e-07`, `1e+16`) where a number must read back as a Python float;
 * - `ensure_ascii`: non-ASCII as \uXXXX.
 */

import { pyFloatRepr } from '../formats/py-float.js';

export { pyFloatRepr };

/** A number that must be written as a Python float even when integral (`4.0`, not `4`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyJson = null | boolean | number | string | PyFloat | PyJson[] | { [key: string]: PyJson };

function encodeString(s: string): string {
  // JSON.stringify escapes quotes and control characters; ensure_ascii does the rest.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function encodeNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 2 ** 53) return String(x);
  return pyFloatRepr(x);
}

/**
 * `json.dumps(value)` with Python's defaults (`', '` and `': '`), or compact (`','`, `':'`)
 * as ASE's binary `data` encoder uses.
 */
export function pyJsonDumps(value: PyJson, compact = false): string {
  const comma = compact ? ',' : ', ';
  const colon = compact ? ':' : ': ';
  const enc = (v: PyJson): string => {
    if (v === null) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') return encodeNumber(v);
    if (typeof v === 'string') return encodeString(v);
    if (v instanceof PyFloat) return pyFloatRepr(v.value);
    if (Array.isArray(v)) return '[' + v.map(enc).join(comma) + ']';
    return '{' + Object.entries(v).map(([k, x]) => encodeString(k) + colon + enc(x)).join(comma) + '}';
  };
  return enc(value);
}

/**
 * `json.loads` for Python-written JSON: replaces bare NaN/Infinity tokens outside strings,
 * then parses. Throws SyntaxError on anything else that is not JSON.
 */
export function pyJsonLoads(text: string): unknown {
  if (!/NaN|Infinity/.test(text)) return JSON.parse(text);
  const MARK = '__pyjson_nonfinite__';
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      // copy a whole string literal, escapes included
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith('NaN', i)) {
      out += `"${MARK}NaN"`;
      i += 3;
    } else if (text.startsWith('-Infinity', i)) {
      out += `"${MARK}-Infinity"`;
      i += 9;
    } else if (text.startsWith('Infinity', i)) {
      out += `"${MARK}Infinity"`;
      i += 8;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out, (_k, v) => {
    if (typeof v !== 'string' || !v.startsWith(MARK)) return v;
    const t = v.slice(MARK.length);
    return t === 'NaN' ? NaN : t === 'Infinity' ? Infinity : -Infinity;
  });
}
