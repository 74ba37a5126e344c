/**
 * The progress meter the pusher sees on side-band 2: drawn at once when a stage starts, then at
 * most every 200 ms, redrawn in place (CR), finished with ", done." (LF) only when the stage got
 * to its end; a refused push leaves the line where the stage stopped.
 */
import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientProgress } from './progress';

function meter(): { progress: ClientProgress; written: string[] } {
  const written: string[] = [];
  return { progress: new ClientProgress((text) => written.push(text)), written };
}

describe('ClientProgress', () => {
  it('draws a stage at once, throttles redraws, and finishes with the total and ", done."', async () => {
    const { progress, written } = meter();
    progress.sink({ stage: 'indexing objects', done: 0, total: 42000 });
    progress.sink({ stage: 'indexing objects', done: 100, total: 42000 });
    progress.sink({ stage: 'indexing objects', done: 200, total: 42000 });
    expect(written).toEqual(['pushgate: indexing objects:   0% (0/42000)\r']);
    await sleep(250);
    progress.sink({ stage: 'indexing objects', done: 17220, total: 42000 });
    expect(written.at(-1)).toBe('pushgate: indexing objects:  41% (17220/42000)\r');
    progress.sink({ stage: 'indexing objects', done: 42000, total: 42000 });
    progress.finish();
    expect(written.at(-1)).toBe('pushgate: indexing objects: 100% (42000/42000), done.\n');
    expect(written).toHaveLength(3);
    // Nothing in progress: finishing again writes nothing.
    progress.finish();
    expect(written).toHaveLength(3);
  });

  it('finishes a stage when the next one starts, and draws the new one at once', () => {
    const { progress, written } = meter();
    progress.sink({ stage: 'receiving pack', done: 3 * 1024 * 1024 + 512 * 1024 });
    progress.sink({ stage: 'resolving deltas', done: 0, total: 7 });
    expect(written).toEqual(['pushgate: receiving pack: 3.50 MiB\r', 'pushgate: receiving pack: 3.50 MiB, done.\n', 'pushgate: resolving deltas:   0% (0/7)\r']);
  });

  it('on a refusal leaves a stage that had not reached its total where it stopped, without ", done."', () => {
    const { progress, written } = meter();
    progress.sink({ stage: 'indexing objects', done: 0, total: 42000 });
    progress.sink({ stage: 'indexing objects', done: 17220, total: 42000 }); // not drawn (throttled)
    progress.abandon();
    expect(written).toEqual(['pushgate: indexing objects:   0% (0/42000)\r', 'pushgate: indexing objects:  41% (17220/42000)\n']);
    progress.line('pushgate: push refused');
    expect(written.at(-1)).toBe('pushgate: push refused\n');
  });

  it('on a refusal after a stage reached its total (a later verdict), still says ", done."', () => {
    const { progress, written } = meter();
    progress.sink({ stage: 'inspecting commits', done: 2, total: 2 });
    progress.abandon();
    expect(written.at(-1)).toBe('pushgate: inspecting commits: 100% (2/2), done.\n');
  });

  it('counts without a total as plain numbers, and sizes under a MiB in KiB', () => {
    const { progress, written } = meter();
    progress.sink({ stage: 'receiving pack', done: 1536 });
    progress.abandon();
    progress.sink({ stage: 'walking', done: 12 });
    expect(written).toEqual(['pushgate: receiving pack: 1.50 KiB\r', 'pushgate: receiving pack: 1.50 KiB\n', 'pushgate: walking: 12\r']);
  });
});
