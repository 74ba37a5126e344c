import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  MAX_AUDIT_PAGE,
  appendAuditEvent,
  listAuditEvents,
  migrate,
  type AuditEventFilter,
  type AuditEventRecord,
  type AuditEventRow,
  type Database,
} from './index';
import { rejection, testDatabases } from './testing';

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);

/** Every test writes under its own upstream name so tests sharing a database never see each other's rows. */
const tag = () => `up-${randomBytes(4).toString('hex')}`;

/** The record appendAuditEvent should produce for a row: what was given, NULL for what was not. */
function expectedRecord(id: string, row: AuditEventRow): AuditEventRecord {
  return {
    id,
    occurredAt: row.occurredAt,
    requestId: row.requestId,
    kind: row.kind,
    actorSub: row.actorSub ?? null,
    actorIssuer: row.actorIssuer ?? null,
    actorEmail: row.actorEmail ?? null,
    actorGroups: row.actorGroups === undefined || row.actorGroups === null ? null : [...row.actorGroups],
    actorAgent: row.actorAgent ?? null,
    clientAddr: row.clientAddr ?? null,
    userAgent: row.userAgent ?? null,
    upstream: row.upstream ?? null,
    repo: row.repo ?? null,
    service: row.service ?? null,
    refUpdates: row.refUpdates === undefined || row.refUpdates === null ? null : (row.refUpdates.map((u) => ({ ...u })) as AuditEventRecord['refUpdates']),
    httpStatus: row.httpStatus ?? null,
    bytesIn: row.bytesIn ?? null,
    bytesOut: row.bytesOut ?? null,
    durationMs: row.durationMs ?? null,
    outcome: row.outcome ?? null,
    detail: row.detail === undefined || row.detail === null ? null : (JSON.parse(JSON.stringify(row.detail)) as AuditEventRecord['detail']),
  };
}

const backends = await testDatabases();

describe.each(backends)('audit events on $name', (backend) => {
  let db: Database;

  beforeAll(async () => {
    db = await backend.open();
    await migrate(db);
  });
  afterAll(() => backend.cleanup());

  it('appends a full event and reads it back unchanged', async () => {
    const upstream = tag();
    const row: AuditEventRow = {
      occurredAt: new Date('2025-03-04T05:06:07.891Z'),
      requestId: `req-${upstream}`,
      kind: 'http.request',
      actorSub: 'alice',
      actorIssuer: 'https://issuer.example',
      actorEmail: 'alice@example.com',
      actorGroups: ['dev', 'release managers'],
      actorAgent: true,
      clientAddr: '::ffff:127.0.0.1',
      userAgent: 'git/2.39.5',
      upstream,
      repo: 'acme/widgets',
      service: 'git-receive-pack',
      refUpdates: [
        { ref: 'refs/heads/main', oldOid: OLD, newOid: NEW },
        { ref: 'refs/tags/v1', oldOid: '0'.repeat(40), newOid: NEW },
      ],
      httpStatus: 200,
      bytesIn: 12_345_678_901,
      bytesOut: 42,
      durationMs: 12.5,
      outcome: 'ok',
      detail: { commits: 3, files: ['a.txt', 'b/c.txt'], upstream: { status: 'ok', lines: ['ok refs/heads/main'] }, nested: { deep: [null, true] } },
    };
    const { id } = await appendAuditEvent(db, row);
    expect(id).toMatch(/^[1-9][0-9]*$/);
    const listed = await listAuditEvents(db, { upstream });
    expect(listed).toEqual([expectedRecord(id, row)]);
    expect(listed[0]!.occurredAt).toBeInstanceOf(Date);
  });

  it('stores an unauthenticated event with every optional column NULL', async () => {
    const upstream = tag();
    const row: AuditEventRow = { occurredAt: new Date(), requestId: 'r-unauth', kind: 'http.request', upstream, httpStatus: 401, outcome: 'unauthenticated' };
    const { id } = await appendAuditEvent(db, row);
    expect(await listAuditEvents(db, { upstream })).toEqual([expectedRecord(id, row)]);
    const raw = await db.query<Record<string, unknown>>('SELECT actor_sub, actor_groups, actor_agent, detail, ref_updates FROM audit_events WHERE id = $1', [id]);
    expect(raw.rows[0]).toEqual({ actor_sub: null, actor_groups: null, actor_agent: null, detail: null, ref_updates: null });
  });

  it('writes text PostgreSQL would refuse (NUL, unpaired surrogates) with U+FFFD instead of losing the event', async () => {
    const upstream = tag();
    const { id } = await appendAuditEvent(db, {
      occurredAt: new Date(),
      requestId: 'r-\u0000-nul',
      kind: 'http.request',
      upstream,
      userAgent: 'evil\u0000agent\uD800',
      detail: { 'key\u0000': 'value\u0000\uDC00', list: ['\uD83D\uDE00 ok', 'x\u0000'], big: 2n ** 70n, when: new Date('2025-01-01T00:00:00Z'), skipped: undefined },
    });
    const [record] = await listAuditEvents(db, { upstream });
    expect(record!.id).toBe(id);
    expect(record!.requestId).toBe('r-\uFFFD-nul');
    expect(record!.userAgent).toBe('evil\uFFFDagent\uFFFD');
    expect(record!.detail).toEqual({
      'key\uFFFD': 'value\uFFFD\uFFFD',
      list: ['\uD83D\uDE00 ok', 'x\uFFFD'],
      big: '1180591620717411303424',
      when: '2025-01-01T00:00:00.000Z',
    });
  });

  describe('listing', () => {
    const upstream = tag();
    const start = Date.UTC(2030, 0, 1);
    const actors = ['alice', 'bob', 'carol'];
    const repos = ['acme/one', 'acme/two'];
    const outcomes = ['ok', 'denied', 'error', 'unauthenticated'];
    const kinds = ['http.request', 'push.received'];
    const seeded: AuditEventRecord[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 24; i++) {
        const authenticated = outcomes[i % 4] !== 'unauthenticated';
        const row: AuditEventRow = {
          occurredAt: new Date(start + i * 60_000),
          requestId: `${upstream}-req-${Math.floor(i / 2)}`,
          kind: kinds[i % 2]!,
          ...(authenticated
            ? { actorSub: actors[i % 3]!, actorIssuer: 'https://issuer.example', actorGroups: ['g'], actorAgent: i % 5 === 0 }
            : {}),
          upstream,
          repo: repos[i % 2]!,
          outcome: outcomes[i % 4]!,
        };
        const { id } = await appendAuditEvent(db, row);
        seeded.push(expectedRecord(id, row));
      }
    });

    // Expected results are computed from the seeded rows, the way the SQL should filter them.
    const matching = (f: AuditEventFilter) =>
      seeded.filter(
        (r) =>
          (f.requestId === undefined || r.requestId === f.requestId) &&
          (f.actorSub === undefined || r.actorSub === f.actorSub) &&
          (f.repo === undefined || r.repo === f.repo) &&
          (f.kind === undefined || r.kind === f.kind) &&
          (f.outcome === undefined || r.outcome === f.outcome) &&
          (f.since === undefined || r.occurredAt >= f.since) &&
          (f.until === undefined || r.occurredAt < f.until) &&
          (f.afterId === undefined || BigInt(r.id) > BigInt(f.afterId)) &&
          (f.beforeId === undefined || BigInt(r.id) < BigInt(f.beforeId)),
      );

    it.each<[string, AuditEventFilter]>([
      ['requestId', { requestId: `${upstream}-req-3` }],
      ['actorSub', { actorSub: 'bob' }],
      ['repo', { repo: 'acme/two' }],
      ['kind', { kind: 'push.received' }],
      ['outcome', { outcome: 'denied' }],
      ['since', { since: new Date(start + 10 * 60_000) }],
      ['until', { until: new Date(start + 10 * 60_000) }],
      ['since and until', { since: new Date(start + 5 * 60_000), until: new Date(start + 9 * 60_000) }],
      ['actor, repo and outcome', { actorSub: 'alice', repo: 'acme/one', outcome: 'ok' }],
      ['nothing matching', { actorSub: 'nobody' }],
    ])('filters by %s', async (_name, filter) => {
      const expected = matching(filter);
      const listed = await listAuditEvents(db, { ...filter, upstream });
      expect(listed).toEqual(expected);
      if (_name !== 'nothing matching') expect(listed.length).toBeGreaterThan(0);
    });

    it('pages oldest-first with afterId and newest-first with beforeId', async () => {
      const forward: AuditEventRecord[] = [];
      for (let afterId: string | undefined; ; ) {
        const page = await listAuditEvents(db, { upstream, limit: 5, ...(afterId === undefined ? {} : { afterId }) });
        forward.push(...page);
        if (page.length < 5) break;
        afterId = page[page.length - 1]!.id;
      }
      expect(forward).toEqual(seeded);
      const backward: AuditEventRecord[] = [];
      for (let beforeId: string | undefined; ; ) {
        const page = await listAuditEvents(db, { upstream, order: 'desc', limit: 7, ...(beforeId === undefined ? {} : { beforeId }) });
        backward.push(...page);
        if (page.length < 7) break;
        beforeId = page[page.length - 1]!.id;
      }
      expect(backward).toEqual([...seeded].reverse());
    });

    it('limits a page', async () => {
      expect(await listAuditEvents(db, { upstream, limit: 3 })).toEqual(seeded.slice(0, 3));
    });

    it.each<[string, AuditEventFilter, string]>([
      ['limit 0', { limit: 0 }, 'limit'],
      ['limit above the maximum', { limit: MAX_AUDIT_PAGE + 1 }, 'limit'],
      ['fractional limit', { limit: 1.5 }, 'limit'],
      ['non-numeric afterId', { afterId: '1; DROP TABLE audit_events' }, 'afterId'],
      ['negative beforeId', { beforeId: '-1' }, 'beforeId'],
      ['invalid since', { since: new Date('not a date') }, 'since'],
    ])('refuses a filter with %s', async (_name, filter, field) => {
      const e = await rejection(listAuditEvents(db, filter));
      expect(e.code).toBe('STORE_BAD_FILTER');
      expect(e.data).toMatchObject({ field });
      expect(e.delivery).toEqual({ kind: 'http', status: 400 });
    });
  });

  it.each<[string, Partial<AuditEventRow>, string]>([
    ['a kind that is not a dotted name', { kind: 'HTTP Request' }, 'kind'],
    ['an empty request id', { requestId: '' }, 'requestId'],
    ['half an actor', { actorSub: 'alice' }, 'actor'],
    ['an email without an actor', { actorEmail: 'a@example.com' }, 'actorEmail'],
    ['a short object id', { refUpdates: [{ ref: 'refs/heads/main', oldOid: 'abc', newOid: NEW }] }, 'refUpdates[0]'],
    ['a negative byte count', { bytesIn: -1 }, 'bytesIn'],
    ['a fractional byte count', { bytesOut: 1.5 }, 'bytesOut'],
    ['a status that is not HTTP', { httpStatus: 42 }, 'httpStatus'],
    ['a negative duration', { durationMs: -3 }, 'durationMs'],
    ['an outcome with spaces', { outcome: 'not ok' }, 'outcome'],
    ['an invalid date', { occurredAt: new Date(NaN) }, 'occurredAt'],
  ])('refuses an event with %s and writes nothing', async (_name, change, field) => {
    const upstream = tag();
    const e = await rejection(appendAuditEvent(db, { occurredAt: new Date(), requestId: 'r', kind: 'http.request', upstream, ...change }));
    expect(e.code).toBe('STORE_BAD_EVENT');
    expect(e.data).toMatchObject({ field });
    expect(await listAuditEvents(db, { upstream })).toEqual([]);
  });

  it('refuses a detail that cannot be JSON', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const e = await rejection(appendAuditEvent(db, { occurredAt: new Date(), requestId: 'r', kind: 'http.request', detail: circular }));
    expect(e.code).toBe('STORE_BAD_EVENT');
  });

  it('refuses UPDATE, DELETE and TRUNCATE at the database level', async () => {
    const upstream = tag();
    const { id } = await appendAuditEvent(db, { occurredAt: new Date(), requestId: 'r-ro', kind: 'http.request', upstream, outcome: 'ok' });
    for (const sql of [
      `UPDATE audit_events SET outcome = 'denied' WHERE id = ${id}`,
      `UPDATE audit_events SET outcome = 'denied' WHERE false`,
      `DELETE FROM audit_events WHERE id = ${id}`,
      'TRUNCATE audit_events',
    ]) {
      const e = await rejection(db.query(sql));
      expect(e.code).toBe('STORE_APPEND_ONLY');
      expect(e.data).toMatchObject({ sqlState: 'PGA01' });
      expect(e.message).toContain('audit_events is append-only');
    }
    expect((await listAuditEvents(db, { upstream }))[0]).toMatchObject({ id, outcome: 'ok' });
  });

  it('gives concurrent appends distinct, increasing ids and loses none', async () => {
    const upstream = tag();
    const count = 150;
    const ids = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        appendAuditEvent(db, { occurredAt: new Date(), requestId: `c-${i}`, kind: 'http.request', upstream, bytesIn: i }).then((r) => r.id),
      ),
    );
    expect(new Set(ids).size).toBe(count);
    const listed = await listAuditEvents(db, { upstream, limit: MAX_AUDIT_PAGE });
    expect(listed.map((r) => r.id)).toEqual([...ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
    expect(listed.map((r) => r.bytesIn).sort((a, b) => a! - b!)).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('appends inside a transaction, and a rollback takes the event with it', async () => {
    const upstream = tag();
    await expect(
      db.transaction(async (tx) => {
        await appendAuditEvent(tx, { occurredAt: new Date(), requestId: 'r-tx', kind: 'hold.created', upstream });
        expect(await listAuditEvents(tx, { upstream })).toHaveLength(1);
        throw new Error('state change failed');
      }),
    ).rejects.toThrow('state change failed');
    expect(await listAuditEvents(db, { upstream })).toEqual([]);
    await db.transaction((tx) => appendAuditEvent(tx, { occurredAt: new Date(), requestId: 'r-tx', kind: 'hold.created', upstream }));
    expect(await listAuditEvents(db, { upstream })).toHaveLength(1);
  });
});
