import { describe, expect, it } from '@jest/globals';
import { Pacer, PACER_SLICE_MS } from './pacer';
import type { ProgressEvent } from './progress';

/** Spins the CPU for `ms` milliseconds, as a hot loop would. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('Pacer', () => {
  it('is due once a slice is used up, and yielding lets timers and I/O run', async () => {
    const pacer = new Pacer();
    expect(pacer.due()).toBe(false);
    spin(PACER_SLICE_MS + 1);
    expect(pacer.due()).toBe(true);
    let ran = false;
    setImmediate(() => (ran = true));
    await pacer.yield();
    expect(ran).toBe(true);
    expect(pacer.due()).toBe(false);
    // tick() yields only when due: a cheap call in a cold loop.
    ran = false;
    setImmediate(() => (ran = true));
    await pacer.tick();
    expect(ran).toBe(false);
  });

  it('throws the signal reason on abort, or the error the owner maps it to', async () => {
    const reason = new Error('client went away');
    const controller = new AbortController();
    const plain = new Pacer({ signal: controller.signal });
    plain.check();
    controller.abort(reason);
    expect(() => plain.check()).toThrow(reason);
    await expect(plain.yield()).rejects.toBe(reason);

    const mapped = new Pacer({ signal: controller.signal, abortError: (r) => new Error(`mapped: ${(r as Error).message}`) });
    expect(() => mapped.check()).toThrow('mapped: client went away');
    // Without a signal nothing ever aborts.
    expect(() => new Pacer().check()).not.toThrow();
  });

  it('reports progress now or throttled, and a throwing sink never fails the work', async () => {
    const events: ProgressEvent[] = [];
    const pacer = new Pacer({ onProgress: (e) => events.push(e) });
    pacer.progress('indexing objects', 1, 10);
    pacer.progress('indexing objects', 2);
    expect(events).toEqual([{ stage: 'indexing objects', done: 1, total: 10 }, { stage: 'indexing objects', done: 2 }]);
    expect(events[1]).not.toHaveProperty('total');
    // pause() right after a report does not report again.
    await pacer.pause('indexing objects', 3, 10);
    expect(events).toHaveLength(2);

    const failing = new Pacer({
      onProgress: () => {
        throw new Error('sink broke');
      },
    });
    expect(() => failing.progress('x', 1)).not.toThrow();
    spin(110);
    await expect(failing.pause('x', 2)).resolves.toBeUndefined();
  });
});
