/**
 * `autopipe run`'s progress: one line redrawn in place on a terminal (carriage return, erase to
 * the end of the line), a plain line per change to a pipe or a file, the clock aside. The real
 * terminal is in loop.test.ts (the whole loop under script(1)'s pseudo-terminal), the real pipe
 * in train.test.ts.
 */
import { expect } from 'chai';
import { emptyCursor, type AttemptState, type Cursor } from '../lib/state/cursor.js';
import { ProgressLine, elapsedText, progressOf, progressText, type Progress } from '../lib/cli/progress.js';

const NOW = 1_800_000_000;

function cursorWith(states: AttemptState[]): Cursor {
  return {
    ...emptyCursor('p', NOW, 'c0ffee000001'), iteration: 1,
    stages: [{
      kind: 'label', iteration: 1, planned_at: NOW, data: {}, followed: false, submissions: [],
      tasks: states.map((state, k) => ({ id: `t${k}`, about: '', spec: {}, attempts: [{ attempt: 1, dir: `d${k}`, submission: null, array_index: null, parameters: {}, state, error_class: null, message: null }] })),
    }],
  };
}

function stream(isTTY: boolean, columns = 80) {
  const written: string[] = [];
  return { isTTY, columns, written, write: (t: string) => written.push(t) };
}

const P = (done: number, running: number): Progress => ({ iteration: 1, stage: 'label', done, running, pending: 4 - done - running, failed: 0 });

describe('run: progress', () => {
  it('counts the newest stage\'s tasks: done, running, pending (planned, submitted, queued), failed', () => {
    const p = progressOf(cursorWith(['done', 'running', 'pending', 'submitted', 'planned', 'failed']));
    expect(p).to.deep.equal({ iteration: 1, stage: 'label', done: 1, running: 1, pending: 3, failed: 1 });
    expect(progressText(p)).to.equal('iteration 1 · label · 1 done, 1 running, 3 pending, 1 failed');
    expect(progressText(progressOf(emptyCursor('p', NOW, 'c0ffee000001')))).to.equal('iteration 0 · no open stage · no job');
    expect([5, 65, 3725].map(elapsedText)).to.deep.equal(['5s', '1m 05s', '1h 02m']);
  });

  it('an embedding check that outlasts the loop is what the line shows, not the last iteration\'s check of nothing', () => {
    const running = cursorWith(['done', 'running']);
    const c: Cursor = { ...running, stages: [{ ...running.stages[0], kind: 'check', iteration: 0 }, { ...running.stages[0], kind: 'check', iteration: 1, tasks: [] }] };
    expect(progressText(progressOf(c))).to.equal('iteration 0 · check · 1 done, 1 running, 0 pending, 0 failed');
  });

  it('on a terminal: one line, redrawn in place each pass and each second; taken off before a message', () => {
    const s = stream(true);
    const line = new ProgressLine(s);
    line.update(P(0, 2), 3);
    line.tick(4);
    line.clear();
    line.clear(); // nothing shown: nothing to erase
    line.update(P(1, 2), 6);
    expect(s.written).to.deep.equal([
      '\r\x1b[Kiteration 1 · label · 0 done, 2 running, 2 pending, 0 failed · 3s',
      '\r\x1b[Kiteration 1 · label · 0 done, 2 running, 2 pending, 0 failed · 4s',
      '\r\x1b[K',
      '\r\x1b[Kiteration 1 · label · 1 done, 2 running, 1 pending, 0 failed · 6s',
    ]);
  });

  it('a narrow terminal gets the line cut to its width (a wrapped line could not be redrawn)', () => {
    const s = stream(true, 30);
    new ProgressLine(s).update(P(0, 2), 3);
    expect(s.written[0]).to.equal('\r\x1b[Kiteration 1 · label · 0 done…');
    expect(s.written[0].length - 4).to.equal(29);
  });

  it('to a pipe or a file (cron): a plain line only when what it says changes, never for the clock', () => {
    const s = stream(false);
    const line = new ProgressLine(s);
    line.update(P(0, 2), 3);
    line.tick(4);
    line.update(P(0, 2), 9);
    line.clear();
    line.update(P(2, 2), 12);
    expect(s.written).to.deep.equal([
      'iteration 1 · label · 0 done, 2 running, 2 pending, 0 failed · 3s\n',
      'iteration 1 · label · 2 done, 2 running, 0 pending, 0 failed · 12s\n',
    ]);
  });
});
