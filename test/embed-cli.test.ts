import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readExtxyz } from '../lib/formats/extxyz.js';
import { cli, python, tmpDir } from './support/tools.js';

/** A dump of fcc Al 4×4×4 (256 atoms) with a grade column, atoms in reverse order. */
function dump(dir: string): string {
  const a = 4.05, lines: string[] = [];
  const atoms: string[] = [];
  let id = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) {
      id++;
      const g = id === 17 ? 8 : id === 200 ? 6 : id === 100 ? 30 : 0.5;
      atoms.push(`${id} 1 ${(i + x) * a} ${(j + y) * a} ${(k + z) * a} ${g}`);
    }
  }
  for (const [t, broken] of [[0, false], [50, true]] as const) {
    lines.push('ITEM: TIMESTEP', String(t), 'ITEM: NUMBER OF ATOMS', '256', 'ITEM: BOX BOUNDS pp pp pp', '0 16.2', '0 16.2', '0 16.2', 'ITEM: ATOMS id type x y z f_pace_gamma');
    lines.push(...atoms.slice().reverse().filter((l) => broken || !l.endsWith(' 30')).map((l) => l), ...(broken ? [] : [atoms[99].replace(/ 30$/, ' 0.5')]));
  }
  const path = join(dir, 'md.dump');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('embed and select commands', function () {
  this.timeout(60000);

  it('select: summary, candidates with masks and provenance that ASE reads', () => {
    const dir = tmpDir();
    const out = join(dir, 'cand.extxyz');
    const r = cli(['select', dump(dir), '--column', 'f_pace_gamma', '--lo', '5', '--hi', '25', '--rcut', '3', '--buffer', '3', '--box', 'cube', '--types', 'Al', '-o', out, '--json']);
    expect(r.status, r.stderr).to.equal(0);
    const s = JSON.parse(r.stdout);
    expect(s).to.deep.include({ frames_read: 2, frames_dropped: 1, candidates_in_range: 2, centres_after_suppression: 2, selected: 2, parents_labelled_whole: 0 });
    const frames = readExtxyz(readFileSync(out, 'utf8'));
    expect(frames.map((f) => [f.info.centre_id, f.info.gamma, f.info.frame, f.info.timestep])).to.deep.equal([[17, 8, 0, 0], [200, 6, 0, 0]]);
    expect(frames[0].arrays.force_mask.values[0]).to.equal(1);
    const ase = python('import sys, ase.io; fs = ase.io.read(sys.argv[1], index=":"); print(len(fs), fs[0].arrays["force_mask"].sum(), fs[0].info["centre_id"], fs[0].cell.lengths()[0])', [out]);
    expect(ase.trim()).to.match(/^2 \d+\.0 17 12\.0$/);
  });

  it('embed: one sub-cell from a chosen frame; -c autopipe.yaml, flags win', () => {
    const dir = tmpDir();
    const d = dump(dir);
    writeFileSync(join(dir, 'autopipe.yaml'), 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\nembedding: {rcut: 3, buffer: 3, mask_radius: 2.5, box: cube}\nselection: {types: [Al]}\n');
    const out = join(dir, 'one.extxyz');
    const r = cli(['embed', d, '--atom-id', '17', '--frame', '0', '-c', join(dir, 'autopipe.yaml'), '--buffer', '2.5', '-o', out]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/wrote the sub-cell to .*one\.extxyz: \d+ atoms, \d+ in the core/);
    expect(r.stderr).to.match(/buffer \(2\.5 Å\) < rcut \(3 Å\)/);
    const [f] = readExtxyz(readFileSync(out, 'utf8'));
    expect(f.info).to.deep.include({ centre_id: 17, rcut: 3, buffer: 2.5, mask_radius: 2.5, L: 11, frame: 0, timestep: 0 });
    expect(Array.from(f.cell)).to.deep.equal([11, 0, 0, 0, 11, 0, 0, 0, 11]);
  });

  it('bad input: clear errors, non-zero exit, nothing written', () => {
    const dir = tmpDir();
    const d = dump(dir);
    const out = join(dir, 'x.extxyz');
    const run = (args: string[]) => cli([...args, '-o', out]);
    const cases: Array<[string[], number, RegExp]> = [
      [['embed', d, '--atom-id', '999', '--rcut', '3', '--buffer', '3', '--types', 'Al'], 65, /md\.dump frame 1: no atom has id 999 in this frame/],
      [['embed', d, '--atom-id', '5', '--rcut', '0', '--buffer', '3', '--types', 'Al'], 64, /rcut must be a finite number > 0/],
      [['embed', d, '--atom-id', '5', '--buffer', '3', '--types', 'Al'], 64, /give --rcut and --buffer/],
      [['select', d, '--column', 'c_missing', '--lo', '5', '--hi', '25', '--rcut', '3', '--buffer', '3', '--types', 'Al'], 65, /md\.dump:9: column 'c_missing' is missing/],
      [['select', d, '--column', 'f_pace_gamma', '--lo', '25', '--hi', '5', '--rcut', '3', '--buffer', '3', '--types', 'Al'], 64, /lo \(25\) must be below hi \(5\)/],
      [['embed', d, '--atom-id', '5', '--frame', '3', '--rcut', '3', '--buffer', '3', '--types', 'Al'], 64, /--frame 3: .*md\.dump has 2 frame\(s\)/],
    ];
    const slab = join(dir, 'slab.extxyz');
    writeFileSync(slab, '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T F"\nAl 0 0 0\nAl 2.5 2.5 0\n');
    cases.push([['embed', slab, '--atom-id', '1', '--rcut', '1', '--buffer', '1'], 65, /slab\.extxyz frame 0: the frame is not periodic along z/]);
    const empty = join(dir, 'empty.extxyz');
    writeFileSync(empty, '0\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3\n');
    cases.push([['embed', empty, '--atom-id', '1', '--rcut', '1', '--buffer', '1'], 65, /empty\.extxyz frame 0: the frame has no atoms/]);
    for (const [args, code, re] of cases) {
      const r = run(args);
      expect(r.status, `${args.join(' ')}\n${r.stderr}`).to.equal(code);
      expect(r.stderr).to.match(re);
      expect(r.stderr).not.to.match(/\n\s+at /);
      expect(existsSync(out), args.join(' ')).to.equal(false);
    }
  });
});
