import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Oid } from '@pushgate/core';
import { listAuditEvents, migrate, type Database } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import type { HoldRecord, HoldState, HoldStateKind } from './types';
import { HOLD_STATES } from './types';
import { holdEventOf, Webhooks, type HoldEvent, type HoldWebhookBody } from './webhooks';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;
const C = 'c'.repeat(40) as Oid;
const SECRET = 'whsec-0123456789';
const FAST_RETRY = { attempts: 3, initialMs: 5, maxMs: 20 };

function hold(state: HoldState = { kind: 'pending', expiresAt: new Date('2026-12-08T00:00:00Z') }): HoldRecord {
  return {
    id: 'h7k2m9q4x8c3',
    pushId: 'push-req-1',
    state,
    createdAt: new Date('2026-12-05T00:00:00Z'),
    updatedAt: new Date('2026-12-05T00:00:00Z'),
    upstream: 'local',
    repo: 'team/app.git',
    pusher: { sub: 'agent-7', issuer: 'https://gw', email: 'bot@example.com', groups: ['agents'], agent: true },
    commands: [{ ref: 'refs/heads/main', oldOid: A, newOid: B }],
    capabilities: ['report-status', 'side-band-64k'],
    pushOptions: ['wait'],
    pack: { bytes: 1234, sha256: 'f'.repeat(64), chunks: 1 },
    digest: 'd'.repeat(64),
    summary: { commits: 1 },
    decision: {
      kind: 'hold',
      reasons: [
        { rule: 'protected-main', mode: 'enforce', outcome: 'hold', message: 'main is protected', approvers: { groups: ['leads'], count: 1 } },
        { rule: 'protected-main', mode: 'enforce', outcome: 'hold', message: 'and again' },
        { rule: 'secrets', mode: 'evaluate', outcome: 'deny', message: 'AKIA**** in config.yml', finding: 'aws AKIA****' },
      ],
      approvers: [{ groups: ['leads'], count: 1 }],
    },
    approvers: [{ groups: ['leads'], count: 1 }],
    approvals: [],
  };
}

/** What the receiver got. */
interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTP receiver answering each request as `answer(n)` says: a status, or 'hang' (never answer). */
async function receiver(answer: (n: number) => number | 'hang') {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = got.length;
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const a = answer(n);
      if (a === 'hang') return;
      res.writeHead(a, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/T000/B000/XXXXSECRETPATH`,
    got,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Waits until `cond` holds, polling; fails after a generous bound. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('holdEventOf', () => {
  const at = new Date('2026-12-05T00:00:00Z');
  const states: Record<HoldStateKind, HoldState> = {
    pending: { kind: 'pending', expiresAt: at },
    approved: { kind: 'approved', approvedAt: at, attempts: 0, nextAttemptAt: at },
    relaying: { kind: 'relaying', approvedAt: at, attempts: 1, owner: 'r1', leaseUntil: at },
    relayed: { kind: 'relayed', approvedAt: at, finishedAt: at, report: { unpack: 'ok', refs: [], messages: [] } },
    stale: { kind: 'stale', approvedAt: at, finishedAt: at, moved: [] },
    'upstream-rejected': { kind: 'upstream-rejected', approvedAt: at, finishedAt: at, message: 'no' },
    rejected: { kind: 'rejected', at, by: hold().pusher, comment: 'no' },
    expired: { kind: 'expired', at },
    cancelled: { kind: 'cancelled', at, by: hold().pusher },
  };
  it.each<[HoldStateKind | undefined, HoldStateKind, HoldEvent | undefined]>([
    [undefined, 'pending', 'held'],
    ['pending', 'approved', 'approved'],
    ['pending', 'rejected', 'rejected'],
    ['pending', 'expired', 'expired'],
    ['pending', 'cancelled', 'cancelled'],
    ['approved', 'relaying', undefined],
    ['relaying', 'relaying', undefined],
    ['relaying', 'approved', undefined],
    ['relaying', 'relayed', 'relayed'],
    ['relaying', 'stale', 'stale'],
    ['relaying', 'upstream-rejected', 'upstream-rejected'],
  ])('%s → %s announces %s', (from, to, event) => {
    expect(holdEventOf(hold(states[to]), from)).toBe(event);
  });
  it('covers every state', () => {
    expect(Object.keys(states).sort()).toEqual([...HOLD_STATES].sort());
  });
});

describe('Webhooks over HTTP', () => {
  let receivers: { close(): Promise<void> }[] = [];
  let hooks: Webhooks[] = [];
  afterEach(async () => {
    await Promise.all(hooks.splice(0).map((h) => h.close()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  const start = async (answer: (n: number) => number | 'hang') => {
    const r = await receiver(answer);
    receivers.push(r);
    return r;
  };
  const webhooks = (options: ConstructorParameters<typeof Webhooks>[0]) => {
    const w = new Webhooks(options);
    hooks.push(w);
    return w;
  };

  it('posts the JSON body, signed with the secret, with event and delivery headers', async () => {
    const r = await start(() => 204);
    const w = webhooks({ targets: [{ url: r.url, secret: SECRET }], publicUrl: 'https://gate.example.com/', retry: FAST_RETRY });
    w.notify('held', hold());
    await w.drain(30_000);
    expect(r.got).toHaveLength(1);
    const { headers, body } = r.got[0]!;
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-pushgate-event']).toBe('held');
    expect(headers['x-pushgate-delivery']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const expected = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    expect(headers['x-pushgate-signature']).toBe(expected);
    // A receiver with another secret would not accept it.
    expect(headers['x-pushgate-signature']).not.toBe(`sha256=${createHmac('sha256', 'other').update(body).digest('hex')}`);
    const parsed = JSON.parse(body) as HoldWebhookBody;
    expect(parsed).toEqual({
      event: 'held',
      hold: {
        id: 'h7k2m9q4x8c3',
        link: 'https://gate.example.com/review/holds/h7k2m9q4x8c3',
        state: 'pending',
        upstream: 'local',
        repo: 'team/app.git',
        pusher: { sub: 'agent-7', email: 'bot@example.com', agent: true },
        refs: [{ ref: 'refs/heads/main', old: A, new: B }],
        rules: ['protected-main'],
      },
      occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // Nothing of the content or the findings.
    expect(body).not.toContain('AKIA');
    expect(body).not.toContain('digest');
  });

  it('sends no signature without a secret, and only the events a target asks for', async () => {
    const all = await start(() => 200);
    const some = await start(() => 200);
    const w = webhooks({ targets: [{ url: all.url }, { url: some.url, events: ['relayed'] }], publicUrl: 'https://gate.example.com', retry: FAST_RETRY });
    w.notify('held', hold());
    w.notify('relayed', hold({ kind: 'relayed', approvedAt: new Date(), finishedAt: new Date(), report: { unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ok' }], messages: [] } }));
    await w.drain(30_000);
    expect(all.got.map((g) => g.headers['x-pushgate-event']).sort()).toEqual(['held', 'relayed']);
    expect(all.got[0]!.headers['x-pushgate-signature']).toBeUndefined();
    expect(some.got.map((g) => g.headers['x-pushgate-event'])).toEqual(['relayed']);
  });

  it('announces transitions as holdEventOf says, and nothing for the relay steps in between', async () => {
    const r = await start(() => 200);
    const w = webhooks({ targets: [{ url: r.url }], publicUrl: 'https://gate.example.com', retry: FAST_RETRY });
    const at = new Date();
    w.notifyTransition(hold(), undefined);
    w.notifyTransition(hold({ kind: 'relaying', approvedAt: at, attempts: 1, owner: 'r1', leaseUntil: at }), 'approved');
    w.notifyTransition(hold({ kind: 'approved', approvedAt: at, attempts: 1, nextAttemptAt: at }), 'relaying');
    w.notifyTransition(hold({ kind: 'expired', at }), 'pending');
    await w.drain(30_000);
    expect(r.got.map((g) => g.headers['x-pushgate-event']).sort()).toEqual(['expired', 'held']);
  });

  it('carries the state message: the reviewer comment, the upstream refusal, the moved refs', async () => {
    const r = await start(() => 200);
    const w = webhooks({ targets: [{ url: r.url }], publicUrl: 'https://gate.example.com', retry: FAST_RETRY });
    const at = new Date();
    w.notify('rejected', hold({ kind: 'rejected', at, by: { sub: 'rev', issuer: 'i', groups: [], agent: false }, comment: 'split it up' }));
    await w.drain(30_000);
    w.notify('upstream-rejected', hold({ kind: 'upstream-rejected', approvedAt: at, finishedAt: at, message: 'pre-receive hook declined' }));
    await w.drain(30_000);
    w.notify('stale', hold({ kind: 'stale', approvedAt: at, finishedAt: at, moved: [{ ref: 'refs/heads/main', expected: A, actual: C }] }));
    await w.drain(30_000);
    expect(r.got.map((g) => (JSON.parse(g.body) as HoldWebhookBody).hold.message)).toEqual([
      'split it up',
      'pre-receive hook declined',
      `refs/heads/main is at ${C.slice(0, 12)}, not ${A.slice(0, 12)}`,
    ]);
  });

  it('retries after a 500 with the same delivery id, then delivers', async () => {
    const r = await start((n) => (n === 0 ? 500 : 200));
    const w = webhooks({ targets: [{ url: r.url, secret: SECRET }], publicUrl: 'https://gate.example.com', retry: FAST_RETRY });
    w.notify('approved', hold({ kind: 'approved', approvedAt: new Date(), attempts: 0, nextAttemptAt: new Date() }));
    await w.drain(30_000);
    expect(r.got).toHaveLength(2);
    expect(r.got[1]!.headers['x-pushgate-delivery']).toBe(r.got[0]!.headers['x-pushgate-delivery']);
    expect(r.got[1]!.body).toBe(r.got[0]!.body);
    expect(r.got[1]!.headers['x-pushgate-signature']).toBe(r.got[0]!.headers['x-pushgate-signature']);
    expect(w.pendingCount).toBe(0);
  });

  it('does not follow a redirect: a 3xx is a failed attempt, and nothing reaches the other address', async () => {
    const elsewhere = await start(() => 200);
    // A receiver that answers 307 to elsewhere, as a hijacked or misconfigured endpoint might.
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(307, { location: elsewhere.url }).end());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const w = webhooks({ targets: [{ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` }], publicUrl: 'https://gate.example.com', retry: { attempts: 2, initialMs: 5, maxMs: 5 } });
      w.notify('held', hold());
      await w.drain(30_000);
      expect(elsewhere.got).toHaveLength(0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('sends the Slack incoming-webhook shape: one line of text with the link', async () => {
    const r = await start(() => 200);
    const w = webhooks({ targets: [{ url: r.url, format: 'slack' }], publicUrl: 'https://gate.example.com', retry: FAST_RETRY });
    w.notify('held', hold());
    await w.drain(30_000);
    const body = JSON.parse(r.got[0]!.body) as { text: string; blocks: { type: string }[] };
    expect(r.got[0]!.headers['content-type']).toBe('application/json');
    expect(body.text).toContain('<https://gate.example.com/review/holds/h7k2m9q4x8c3|h7k2m9q4x8c3>');
    expect(body.text).toContain('held for approval');
    expect(body.text).toContain('bot@example.com');
    expect(body.text).not.toContain('\n');
    expect(body.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    expect(JSON.stringify(body.blocks)).toContain('protected-main');
  });

  it('never blocks the caller on a receiver that does not answer, and times the attempt out', async () => {
    const r = await start(() => 'hang');
    const w = webhooks({ targets: [{ url: r.url }], publicUrl: 'https://gate.example.com', retry: { attempts: 2, initialMs: 5, maxMs: 5 }, timeoutMs: 200 });
    // notify returns before the receiver has even seen the request.
    w.notify('held', hold());
    expect(r.got).toHaveLength(0);
    expect(w.pendingCount).toBe(1);
    await until(() => r.got.length === 2, 'the retry after the first attempt timed out');
    await w.drain(30_000);
    expect(w.pendingCount).toBe(0);
  });

  it('close() abandons a delivery stuck on a receiver that never answers', async () => {
    const r = await start(() => 'hang');
    const w = webhooks({ targets: [{ url: r.url }], publicUrl: 'https://gate.example.com', retry: FAST_RETRY, timeoutMs: 600_000 });
    w.notify('held', hold());
    await until(() => r.got.length === 1, 'the request to reach the receiver');
    await w.drain(50);
    expect(w.pendingCount).toBe(1);
    await w.close();
    expect(w.pendingCount).toBe(0);
    // Closed: later notifications are dropped, not queued.
    w.notify('approved', hold());
    expect(w.pendingCount).toBe(0);
  });
});

const backends: TestDatabase[] = await testDatabases();

describe.each(backends.map((b) => [b.name, b] as const))('Webhooks audit on %s', (_name, backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await backend.cleanup();
  });

  it('gives up after the configured attempts and records webhook.failed with the host only', async () => {
    const r = await receiver(() => 503);
    const w = new Webhooks({ targets: [{ url: r.url }], publicUrl: 'https://gate.example.com', db, retry: FAST_RETRY });
    try {
      w.notify('held', hold());
      await w.drain(60_000);
      expect(r.got).toHaveLength(3);
      const events = await listAuditEvents(db, { requestId: 'push-req-1', kind: 'webhook.failed' });
      expect(events).toHaveLength(1);
      const host = new URL(r.url).host;
      expect(events[0]).toMatchObject({ upstream: 'local', repo: 'team/app.git', outcome: 'failed' });
      expect(events[0]!.detail).toEqual({ holdId: 'h7k2m9q4x8c3', event: 'held', target: host, delivery: r.got[0]!.headers['x-pushgate-delivery'], attempts: 3, lastError: 'HTTP 503' });
      expect(JSON.stringify(events[0])).not.toContain('SECRETPATH');
    } finally {
      await w.close();
      await r.close();
    }
  });

  it('records webhook.delivered for a delivery that succeeded', async () => {
    const r = await receiver((n) => (n === 0 ? 500 : 202));
    const w = new Webhooks({ targets: [{ url: r.url }], publicUrl: 'https://gate.example.com', db, retry: FAST_RETRY });
    try {
      w.notify('expired', hold({ kind: 'expired', at: new Date() }));
      await w.drain(60_000);
      const events = await listAuditEvents(db, { requestId: 'push-req-1', kind: 'webhook.delivered' });
      expect(events).toHaveLength(1);
      expect(events[0]!.detail).toMatchObject({ holdId: 'h7k2m9q4x8c3', event: 'expired', target: new URL(r.url).host, attempts: 2, status: 202 });
    } finally {
      await w.close();
      await r.close();
    }
  });

  it('records a network failure as the last error (nobody listening)', async () => {
    const r = await receiver(() => 200);
    const url = r.url;
    await r.close();
    const w = new Webhooks({ targets: [{ url }], publicUrl: 'https://gate.example.com', db, retry: { attempts: 2, initialMs: 5, maxMs: 5 } });
    try {
      w.notify('cancelled', hold({ kind: 'cancelled', at: new Date(), by: hold().pusher }));
      await w.drain(60_000);
      const events = await listAuditEvents(db, { requestId: 'push-req-1', kind: 'webhook.failed' });
      const mine = events.filter((e) => e.detail?.event === 'cancelled');
      expect(mine).toHaveLength(1);
      expect(mine[0]!.detail).toMatchObject({ attempts: 2, lastError: expect.stringContaining('ECONNREFUSED') });
    } finally {
      await w.close();
    }
  });
});
