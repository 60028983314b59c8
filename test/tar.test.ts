import { expect } from 'chai';
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeTar, readTar } from '../lib/formats/tar.js';
import { tmpDir } from './support/tools.js';

describe('tar (GNU tar as judge)', () => {
  it('GNU tar extracts what we write, and we read what it writes', () => {
    const dir = tmpDir();
    const entries = [
      { path: 'iter-000/label/t0000/a1/pw.in', content: Buffer.from('&CONTROL\n/\n') },
      { path: 'iter-000/label/t0001/a1/structure.extxyz', content: Buffer.from('café ' + 'x'.repeat(1500)) },
      { path: `${'deep/'.repeat(25)}file.txt`, content: Buffer.from('') },
    ];
    writeFileSync(join(dir, 'a.tar'), writeTar(entries));
    mkdirSync(join(dir, 'out'));
    const x = spawnSync('tar', ['-xf', join(dir, 'a.tar'), '-C', join(dir, 'out')], { encoding: 'utf8' });
    expect(x.status, x.stderr).to.equal(0);
    for (const e of entries) expect(readFileSync(join(dir, 'out', e.path)).equals(e.content), e.path).to.equal(true);
    const c = spawnSync('tar', ['-cf', '-', '-C', join(dir, 'out'), 'iter-000']);
    const back = readTar(c.stdout).sort((a, b) => a.path.localeCompare(b.path));
    expect(back.map((e) => e.path)).to.deep.equal(['iter-000/label/t0000/a1/pw.in', 'iter-000/label/t0001/a1/structure.extxyz']);
    expect(Buffer.from(back[1].content).toString()).to.equal(Buffer.from(entries[1].content).toString());
  });
});
