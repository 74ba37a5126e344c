/**
 * Fixtures for the hold store's tests: people, a held push, a clock the tests move, and a store
 * on a migrated database.
 */
import { randomBytes } from 'node:crypto';
import type { Identity, Oid } from '@pushgate/core';
import type { Approvers } from '@pushgate/policy';
import type { Database } from '@pushgate/store';
import { holdKeyFromBytes, type HoldKey } from './key';
import { createHoldStore, type HoldStoreOptions } from './store';
import type { HoldActor, HoldRecord, HoldStateKind, HoldStore, NewHold } from './types';

export const ISSUER = 'https://idp.example.com';

/** An identity in `groups`. */
export function someone(sub: string, groups: readonly string[] = [], email?: string): Identity {
  return { sub, issuer: ISSUER, groups, agent: false, ...(email === undefined ? {} : { email }) };
}

/** The actor of an API request by `identity`. */
export function actor(identity: Identity): HoldActor {
  return { identity, requestId: `req-${randomBytes(4).toString('hex')}`, clientAddr: '192.0.2.7', userAgent: 'pushgate-cli/1' };
}

export const oid = (c: string): Oid => c.repeat(40) as Oid;

/** A held push by `pusher`, needing `approvers`. */
export function newHold(pusher: Identity, approvers: readonly Approvers[] = [{ groups: ['reviewers'], count: 1 }], extra: Partial<NewHold> = {}): NewHold {
  return {
    pushId: `push-${randomBytes(6).toString('hex')}`,
    upstream: 'github',
    repo: `acme/widgets-${randomBytes(3).toString('hex')}`,
    pusher,
    commands: [
      { ref: 'refs/heads/main', oldOid: oid('a'), newOid: oid('b') },
      { ref: 'refs/tags/v1', oldOid: oid('0'), newOid: oid('c') },
    ],
    capabilities: ['report-status', 'side-band-64k', 'atomic', 'agent=git/2.39.5'],
    pushOptions: ['ci.skip'],
    summary: { commits: 2, files: 3 },
    decision: {
      kind: 'hold',
      reasons: [{ rule: 'protect-main', mode: 'enforce', outcome: 'hold', message: 'main is protected' }],
      approvers,
    },
    clientAddr: '198.51.100.4',
    userAgent: 'git/2.39.5',
    ...extra,
  };
}

/** A pack-like byte stream of `n` bytes in pieces of `piece` bytes (a recognisable pattern). */
export async function* bytes(n: number, piece = 1000, fill = (i: number) => (i * 31 + 7) & 0xff): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < n; at += piece) {
    const b = Buffer.alloc(Math.min(piece, n - at));
    for (let i = 0; i < b.length; i++) b[i] = fill(at + i);
    yield b;
  }
}

/** Everything a stream yields, concatenated. */
export async function collect(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of s) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** A clock that stands still until moved. */
export class TestClock {
  constructor(public current = new Date('2026-03-01T10:00:00.000Z')) {}
  readonly now = (): Date => new Date(this.current.getTime());
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** A fresh random hold key. */
export function testKey(): HoldKey {
  return holdKeyFromBytes(randomBytes(32));
}

/** A store on `db` with a test clock, recording its transitions. */
export function testStore(db: Database, options: Partial<HoldStoreOptions> & { key?: HoldKey; clock?: TestClock } = {}) {
  const clock = options.clock ?? new TestClock();
  const transitions: { id: string; from: HoldStateKind | undefined; to: HoldStateKind }[] = [];
  const store: HoldStore = createHoldStore({
    db,
    key: options.key ?? testKey(),
    now: clock.now,
    ...options,
    onTransition: (hold: HoldRecord, from) => {
      transitions.push({ id: hold.id, from, to: hold.state.kind });
      options.onTransition?.(hold, from);
    },
  });
  return { store, clock, transitions };
}

/** Polls `check` until it returns true (generous deadline; no fixed sleeps as synchronisation). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
