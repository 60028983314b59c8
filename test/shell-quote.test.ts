import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote, shellJoin } from '../lib/shell/quote.js';
import { tmpDir } from './support/tools.js';

const HOSTILE = [
  "a'; touch pwned; '", '$(touch pwned)', '`touch pwned`', 'a\ntouch pwned', 'a"b"c', "it's", '*', '~root', '-n', '',
  'with space', '$HOME', '\\', "'", '"', ';', '&& touch pwned', '| touch pwned', '> pwned', 'a\tb', 'ünïcödé', '%%', '!!',
];

describe('shell quoting (one helper for every value that reaches a shell)', () => {
  it('hostile strings come out of a real sh exactly as they went in, and execute nothing', () => {
    const dir = tmpDir();
    for (const value of HOSTILE) {
      const r = spawnSync('sh', ['-c', shellJoin(['printf', '%s', value])], { cwd: dir, encoding: 'utf8' });
      expect(r.status, value).to.equal(0);
      expect(r.stdout, JSON.stringify(value)).to.equal(value);
      expect(existsSync(join(dir, 'pwned')), value).to.equal(false);
    }
    // and as several arguments at once, through bash too
    const r = spawnSync('bash', ['-c', `${shellJoin(['printf', '[%s]', ...HOSTILE])}`], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout).to.equal(HOSTILE.map((v) => `[${v}]`).join(''));
    expect(existsSync(join(dir, 'pwned'))).to.equal(false);
  });

  it('leaves plain words alone and refuses what a shell cannot carry', () => {
    expect(shellQuote('--array=0-9%4')).to.equal('--array=0-9%4');
    expect(shellQuote('/tmp/a.b')).to.equal('/tmp/a.b');
    expect(shellQuote('')).to.equal("''");
    expect(shellQuote("a'b")).to.equal(`'a'\\''b'`);
    expect(() => shellQuote('a\0b')).to.throw(/NUL/);
    expect(() => shellJoin([])).to.throw(/empty/);
  });
});
