/**
 * embedding.rcut + embedding.buffer against train.cutoff: the sub-cell must hold the uncertain
 * atom's whole environment within the potential's cutoff (lib/config/validate.ts, cutoffReach).
 */
import { expect } from 'chai';
import { parseConfigText } from '../lib/config/load.js';
import { autopipe } from './support/al-training.js';
import { editConfig, quickstartProject } from './support/campaign.js';

const MINIMAL = 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n';
const reach = (extra: string) => parseConfigText(MINIMAL + extra, 'autopipe.yaml').warnings.filter((w) => w.startsWith('embedding.rcut'));

describe('embedding.rcut + buffer against train.cutoff', () => {
  it('the defaults (5 + 5 Å against 7 Å) and a sub-cell reaching exactly the cutoff say nothing', () => {
    expect(parseConfigText(MINIMAL, 'autopipe.yaml').warnings).to.deep.equal([]);
    expect(reach('embedding: {rcut: 4, buffer: 3}\n')).to.deep.equal([]);
    expect(reach('embedding: {rcut: 4, buffer: 2}\ntrain: {cutoff: 6}\n')).to.deep.equal([]);
  });

  it('a sub-cell shorter than the cutoff is named, with both fields and the buffer that reaches it', () => {
    expect(reach('embedding: {rcut: 3, buffer: 2.5}\n')).to.deep.equal([
      'embedding.rcut (line 3): 3 + embedding.buffer (2.5) = 5.5 Å is less than train.cutoff (7 Å): a sub-cell reaches 5.5 Å from the uncertain atom, so its periodic seam lies inside the environment that atom\'s grade was over, and DFT labels another environment than the one explored; set embedding.buffer to at least 4 Å, or embedding.rcut to train.cutoff',
    ]);
  });

  it('frames labelled whole (selection.embed false) cut no sub-cell: nothing to say', () => {
    expect(reach('embedding: {rcut: 3, buffer: 2.5}\nselection: {embed: false}\n')).to.deep.equal([]);
  });

  it('submit prints it before it plans (here a dry run)', function () {
    this.timeout(60000);
    const dir = quickstartProject('reach');
    editConfig(dir, [/^ {2}cutoff: 4\.0$/m, '  cutoff: 6.5']);
    const r = autopipe(['submit', '--dry-run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/warn: .*autopipe\.yaml: embedding\.rcut \(line \d+\): 4 \+ embedding\.buffer \(0\.04\) = 4\.04 Å is less than train\.cutoff \(6\.5 Å\).*set embedding\.buffer to at least 2\.5 Å/);
  });
});
