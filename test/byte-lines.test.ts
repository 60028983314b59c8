import { expect } from 'chai';
import { rng } from './support/random.js';
import { parseNumber, ByteLines } from '../lib/formats/byte-lines.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';

describe('numbers and lines from bytes', () => {
  it('parseNumber gives exactly parseFloat\'s double, in every format a dump may use', () => {
    const rand = rng(99);
    const texts: string[] = ['0', '-0', '+1', '1.', '.5', '-.5', '1e5', '1E-5', '2.5e+3', '123456789012345', '1234567890123456789', '0.1', '0.30000000000000004',
      '1e22', '1e23', '1e-22', '1e-23', '4.9e-324', '1.7976931348623157e308', '00012.500', '-0.000001234', 'nan', 'inf', '-inf', 'NaN'];
    for (let k = 0; k < 20000; k++) {
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
      texts.push(x.toFixed(Math.floor(rand() * 12)), x.toExponential(Math.floor(rand() * 17)), x.toPrecision(1 + Math.floor(rand() * 17)), String(x));
    }
    for (const t of texts) {
      const b = Buffer.from(t);
      const ours = parseNumber(b, 0, b.length);
      const ref = /^[+-]?inf$/i.test(t) ? (t.startsWith('-') ? -Infinity : Infinity) : parseFloat(t);
      expect(Object.is(ours, ref) || (Number.isNaN(ours) && Number.isNaN(ref)), `${t}: ${ours} vs ${ref}`).to.equal(true);
    }
    expect(Number.isNaN(parseNumber(Buffer.from('1.2.3'), 0, 5))).to.equal(true);
    expect(Number.isNaN(parseNumber(Buffer.from('abc'), 0, 3))).to.equal(true);
  });

  it('lines and frames are the same however the bytes are chunked', () => {
    const frame = (t: number) => `ITEM: TIMESTEP\n${t}\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\nITEM: ATOMS id type x y z c_g\n3 1 1.5 2.5 3.5 0.25\n1 1 0 0 0 1e-3\n2 1 4.99 0.01 2.5 -7\n`;
    const text = frame(0) + frame(10) + frame(20).trimEnd(); // the last line without a newline
    const whole = [...readDumpFrames([Buffer.from(text)], { types: ['Al'] })];
    expect(whole).to.have.length(3);
    const rand = rng(5);
    for (let trial = 0; trial < 50; trial++) {
      const bytes = Buffer.from(text);
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length;) {
        const n = 1 + Math.floor(rand() * 40);
        chunks.push(bytes.subarray(i, i + n));
        i += n;
      }
      const frames = [...readDumpFrames(chunks, { types: ['Al'] })];
      expect(frames.map((f) => Array.from(f.positions))).to.deep.equal(whole.map((f) => Array.from(f.positions)));
      expect(frames.map((f) => Array.from(f.arrays.c_g.values as Float64Array))).to.deep.equal(whole.map((f) => Array.from(f.arrays.c_g.values as Float64Array)));
    }
    const lines = new ByteLines([Buffer.from('a\r\nb'), Buffer.from('c\n\nd')]);
    const got: string[] = [];
    while (lines.next()) got.push(lines.text());
    expect(got).to.deep.equal(['a\r', 'bc', '', 'd']);
  });
});
