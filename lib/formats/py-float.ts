/** Numbers as Python prints floats, which is how ASE writes them into text formats and JSON. */

/** Python's `repr(float)`: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e');
  const exp = parseInt(expStr, 10);
  const ax = Math.abs(x);
  if (ax >= 1e-4 && ax < 1e16) {
    const s = String(x);
    if (!s.includes('e')) return s.includes('.') ? s : `${s}.0`;
    // JS prints 1e-7-ish numbers in exponent form below 1e-6; Python does not above 1e-4.
    const neg = x < 0;
    const digits = mant.replace('-', '').replace('.', '');
    const fixed = '0.' + '0'.repeat(-exp - 1) + digits;
    return (neg ? '-' : '') + fixed;
  }
  const sign = exp < 0 ? '-' : '+';
  const e = String(Math.abs(exp)).padStart(2, '0');
  return `${mant}e${sign}${e}`;
}
