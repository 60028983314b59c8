/**
 * Lines and numbers straight from byte chunks, for large numeric text files (LAMMPS dumps of
 * millions of atoms): no string per line, no regex, no string per number.
 */

const NL = 10, SPACE = 32, TAB = 9, CR = 13;
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k); // exact doubles up to 1e22

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === CR;
}

/**
 * Parse a decimal number in bytes[s, e). With at most 15 significant digits and a decimal
 * exponent within ±22, mantissa and power of ten are exact doubles and one multiplication or
 * division rounds correctly (Clinger's fast path): the same double as parseFloat. Anything
 * else goes to parseFloat.
 */
export function parseNumber(bytes: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (bytes[i] === 45) { neg = true; i++; } else if (bytes[i] === 43) i++;
  let mant = 0, digits = 0, exp10 = 0, any = false;
  for (; i < e; i++) {
    const d = bytes[i] - 48;
    if (d < 0 || d > 9) break;
    any = true;
    if (mant !== 0 || d !== 0) digits++;
    mant = mant * 10 + d;
  }
  if (i < e && bytes[i] === 46) {
    for (i++; i < e; i++) {
      const d = bytes[i] - 48;
      if (d < 0 || d > 9) break;
      any = true;
      if (mant !== 0 || d !== 0) digits++;
      mant = mant * 10 + d;
      exp10--;
    }
  }
  if (any && i < e && (bytes[i] === 101 || bytes[i] === 69)) {
    let j = i + 1, eneg = false, ev = 0, edigits = 0;
    if (bytes[j] === 45) { eneg = true; j++; } else if (bytes[j] === 43) j++;
    for (; j < e; j++) {
      const d = bytes[j] - 48;
      if (d < 0 || d > 9) break;
      ev = ev * 10 + d;
      edigits++;
    }
    if (edigits > 0) {
      exp10 += eneg ? -ev : ev;
      i = j;
    }
  }
  if (!any || i !== e || digits > 15 || exp10 > 22 || exp10 < -22) return slowParse(bytes, s, e);
  const v = exp10 >= 0 ? mant * POW10[exp10] : mant / POW10[-exp10];
  return neg ? -v : v;
}

function slowParse(bytes: Uint8Array, s: number, e: number): number {
  const text = latin1(bytes, s, e);
  const v = Number(text);
  if (!Number.isNaN(v)) return v;
  return /^[+-]?(nan|inf(inity)?)$/i.test(text) ? (/nan/i.test(text) ? NaN : text.startsWith('-') ? -Infinity : Infinity) : NaN;
}

export function latin1(bytes: Uint8Array, s: number, e: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + s, e - s).toString('latin1');
}

/** A line-by-line cursor over byte chunks; a line may straddle chunks. */
export class ByteLines {
  private readonly it: Iterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;
  /** 1-based number of the last line returned. */
  lineNo = 0;
  /** Bounds of the last line returned by next(), valid until the next call. */
  start = 0;
  end = 0;

  constructor(chunks: Iterable<Uint8Array>) {
    this.it = chunks[Symbol.iterator]();
  }

  get bytes(): Uint8Array {
    return this.buf;
  }

  /** Advance to the next line; false at the end of the input. */
  next(): boolean {
    let nl = this.buf.indexOf(NL, this.pos);
    while (nl < 0 && !this.done) {
      const r = this.it.next();
      if (r.done === true) {
        this.done = true;
        break;
      }
      const rest = this.buf.subarray(this.pos);
      const joined = new Uint8Array(rest.length + r.value.length);
      joined.set(rest, 0);
      joined.set(r.value, rest.length);
      this.buf = joined;
      nl = joined.indexOf(NL, rest.length);
      this.pos = 0;
    }
    if (nl < 0) {
      if (this.pos >= this.buf.length) return false;
      nl = this.buf.length; // the last line, without a newline
    }
    this.start = this.pos;
    this.end = nl;
    this.pos = nl + 1;
    this.lineNo++;
    return true;
  }

  /** The current line as text (for short header lines). */
  text(): string {
    return latin1(this.buf, this.start, this.end);
  }

  /**
   * Field bounds of the current line: fills `starts`/`ends` (length ≥ count) and returns how
   * many fields it found, up to `count`.
   */
  fields(starts: Int32Array, ends: Int32Array, count: number): number {
    const b = this.buf;
    let i = this.start, k = 0;
    const e = this.end;
    while (k < count) {
      while (i < e && isBlank(b[i])) i++;
      if (i >= e) break;
      starts[k] = i;
      while (i < e && !isBlank(b[i])) i++;
      ends[k++] = i;
    }
    return k;
  }
}
