import { describe, expect, it } from '@jest/globals';
import { KeyedRwLock } from './lock';

const tick = () => new Promise((r) => setImmediate(r));

describe('KeyedRwLock', () => {
  it('lets readers share and makes a writer wait for all of them', async () => {
    const lock = new KeyedRwLock();
    const events: string[] = [];
    const r1 = await lock.read('a');
    const r2 = await lock.read('a');
    const w = lock.write('a').then((release) => {
      events.push('write');
      return release;
    });
    await tick();
    expect(events).toEqual([]);
    r1();
    await tick();
    expect(events).toEqual([]);
    r2();
    (await w)();
    expect(events).toEqual(['write']);
  });

  it('serves a waiting writer before readers that came after it', async () => {
    const lock = new KeyedRwLock();
    const order: string[] = [];
    const r1 = await lock.read('k');
    const w = lock.write('k').then((rel) => (order.push('w'), rel));
    const r2 = lock.read('k').then((rel) => (order.push('r2'), rel));
    await tick();
    r1();
    (await w)();
    (await r2)();
    expect(order).toEqual(['w', 'r2']);
  });

  it('grants tryWrite only to a free key, and makes later comers wait for it', async () => {
    const lock = new KeyedRwLock();
    const r = await lock.read('k');
    expect(lock.tryWrite('k')).toBeUndefined();
    r();
    const w = lock.tryWrite('k');
    expect(w).toBeDefined();
    expect(lock.tryWrite('k')).toBeUndefined();
    let read = false;
    const later = lock.read('k').then((rel) => ((read = true), rel));
    await tick();
    expect(read).toBe(false);
    w!();
    (await later)();
    expect(read).toBe(true);
    expect(lock.tryWrite('k')).toBeDefined();
  });

  it('keeps keys independent and releases idempotently', async () => {
    const lock = new KeyedRwLock();
    const wa = await lock.write('a');
    const wb = await lock.write('b');
    wa();
    wa();
    wb();
    const again = await lock.write('a');
    again();
  });
});
