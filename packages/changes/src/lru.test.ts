import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ByteLru } from './lru';

/** The reference: an array in use order, oldest first. */
class Model {
  readonly items: { key: number; value: number; bytes: number }[] = [];
  constructor(private readonly max: number) {}
  get(key: number): number | undefined {
    const i = this.items.findIndex((x) => x.key === key);
    if (i < 0) return undefined;
    const [item] = this.items.splice(i, 1);
    this.items.push(item);
    return item.value;
  }
  set(key: number, value: number, bytes: number): void {
    const i = this.items.findIndex((x) => x.key === key);
    if (i >= 0) this.items.splice(i, 1);
    this.items.push({ key, value, bytes });
    while (this.items.reduce((n, x) => n + x.bytes, 0) > this.max && this.items.length > 1) this.items.shift();
  }
}

describe('ByteLru', () => {
  it('keeps what a use-ordered list within the byte budget keeps (the newest entry always)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 12 }), bytes: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.array(op, { maxLength: 200 }), (max, ops) => {
        const lru = new ByteLru<number, number>(max);
        const model = new Model(max);
        ops.forEach((o, n) => {
          if (o.kind === 'get') {
            expect(lru.get(o.key)).toBe(model.get(o.key));
          } else {
            lru.set(o.key, n, o.bytes);
            model.set(o.key, n, o.bytes);
          }
          expect(lru.bytes).toBe(model.items.reduce((s, x) => s + x.bytes, 0));
        });
        for (let key = 0; key <= 12; key++) expect(lru.get(key)).toBe(model.get(key));
      }),
      { numRuns: 500 },
    );
  });
});
