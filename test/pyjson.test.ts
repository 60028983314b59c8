import { expect } from 'chai';
import { pyFloatRepr, pyJsonDumps, pyJsonLoads, PyFloat } from '../lib/db/pyjson.js';
import { dataToBytes, NdArray } from '../lib/db/ase-data.js';
import { pythonJson } from './support/tools.js';

describe('Python-style JSON (Python as judge)', () => {
  it('float repr equals Python\'s repr for awkward numbers', () => {
    const xs = [4.0, 0.1, 1e-7, 1.5e-5, 0.0001, 0.00012345, 1e16, 1.2345e16, 9999999999999998, 1e21, 1e22, -2.5e-300, 5e-324,
      1.7976931348623157e308, 123456.789, 3.141592653589793, 1 / 3, 2 ** 60, 0.30000000000000004];
    const py = pythonJson<string[]>('import sys, json; print(json.dumps([repr(float(x)) for x in json.loads(sys.argv[1])]))', [JSON.stringify(xs)]);
    expect(xs.map(pyFloatRepr)).to.deep.equal(py);
    expect(pyFloatRepr(-0)).to.equal('-0.0'); // JSON cannot carry -0 to Python; repr(-0.0) is '-0.0'
  });

  it('dumps like json.dumps (separators, ensure_ascii, NaN) and loads Python\'s output', () => {
    const value = { a: 1, b: new PyFloat(4), c: 'café "q"', d: [true, false, null], e: NaN, f: -Infinity, g: 1e-7 };
    const py = pythonJson<string>(`import json; print(json.dumps(json.dumps({'a': 1, 'b': 4.0, 'c': 'café "q"', 'd': [True, False, None], 'e': float('nan'), 'f': float('-inf'), 'g': 1e-7})))`);
    expect(pyJsonDumps(value)).to.equal(py);
    const back = pyJsonLoads(py) as Record<string, unknown>;
    expect(Number.isNaN(back.e)).to.equal(true);
    expect(back.f).to.equal(-Infinity);
    expect(back.c).to.equal('café "q"');
    expect(pyJsonLoads('{"s": "NaN inside a string", "x": NaN}')).to.deep.equal({ s: 'NaN inside a string', x: NaN });
  });

  it('the data blob of ASE_DB.md §5.2, byte for byte', () => {
    const bytes = dataToBytes({ force_mask: NdArray.float64(Float64Array.from([1, 0, 1, 1, 0, 0, 1, 0])), parent: 'x' });
    expect(Buffer.from(bytes).toString('hex')).to.equal(
      '4800000000000000000000000000f03f0000000000000000000000000000f03f000000000000f03f00000000000000000000000000000000000000000000f03f0000000000000000'
      + Buffer.from('{"force_mask":{"__ndarray__":[[8],"float64",8]},"parent":"x"}').toString('hex'));
    expect(Buffer.from(dataToBytes({})).toString('hex')).to.equal('08000000000000007b7d');
  });
});
