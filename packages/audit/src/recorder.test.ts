import { afterAll, describe, expect, it } from '@jest/globals';
import type { Oid } from '@pushgate/core';
import { listAuditEvents, migrate, type Database } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import { AuditRecorder, AuditUnavailableError, SecretMasker, type AuditEventKind } from './index';

const backends: TestDatabase[] = await testDatabases();
const A = 'a'.repeat(40) as Oid;
const Z = '0'.repeat(40) as Oid;
const SECRET = 'upstream-secret-0123456789';

describe.each(backends.map((b) => [b.name, b] as const))('AuditRecorder on %s', (_name, backend) => {
  let db: Database;
  const failures: AuditEventKind[] = [];
  afterAll(async () => {
    await db?.close();
    await backend.cleanup();
  });

  const recorder = () => new AuditRecorder({ db, masker: new SecretMasker([SECRET]), onWriteFailure: (k) => failures.push(k) });

  it('writes masked http.request and push.received rows with every field', async () => {
    db = await backend.open();
    await migrate(db);
    const r = recorder();
    const identity = { sub: 'alice', issuer: 'https://gw', email: 'a@x', groups: ['dev'], agent: true };
    await r.recordPushReceived({
      occurredAt: new Date('2026-01-01T00:00:00Z'),
      requestId: 'req-1',
      identity,
      clientAddr: '127.0.0.1',
      userAgent: 'git/2.39.5',
      upstream: 'local',
      repo: 'team/app.git',
      refUpdates: [{ ref: 'refs/heads/main', oldOid: Z, newOid: A }],
      pushOptions: [`token=${SECRET}`],
      capabilities: ['report-status', 'atomic'],
    });
    await r.recordRequest({
      occurredAt: new Date('2026-01-01T00:00:01Z'),
      requestId: 'req-1',
      identity,
      clientAddr: '127.0.0.1',
      userAgent: 'git/2.39.5',
      method: 'POST',
      upstream: 'local',
      repo: 'team/app.git',
      service: 'git-receive-pack',
      refUpdates: [{ ref: 'refs/heads/main', oldOid: Z, newOid: A }],
      pushOptions: [`token=${SECRET}`],
      httpStatus: 502,
      bytesIn: 1234,
      bytesOut: 56,
      durationMs: 12.5,
      outcome: 'upstream-error',
      error: { code: 'UPSTREAM_ERROR_STATUS', message: `upstream said ${SECRET}` },
    });
    await r.recordRequest({
      occurredAt: new Date('2026-01-01T00:00:02Z'),
      requestId: 'req-2',
      method: 'GET',
      httpStatus: 401,
      bytesIn: 0,
      bytesOut: 10,
      durationMs: 1,
      outcome: 'unauthenticated',
      error: { code: 'AUTH_MISSING', message: 'no credentials' },
    });
    const rows = await listAuditEvents(db, {});
    expect(rows.map((x) => [x.kind, x.requestId, x.outcome])).toEqual([
      ['push.received', 'req-1', 'received'],
      ['http.request', 'req-1', 'upstream-error'],
      ['http.request', 'req-2', 'unauthenticated'],
    ]);
    expect(rows[1]).toMatchObject({
      actorSub: 'alice',
      actorIssuer: 'https://gw',
      actorEmail: 'a@x',
      actorGroups: ['dev'],
      actorAgent: true,
      clientAddr: '127.0.0.1',
      userAgent: 'git/2.39.5',
      upstream: 'local',
      repo: 'team/app.git',
      service: 'git-receive-pack',
      refUpdates: [{ ref: 'refs/heads/main', oldOid: Z, newOid: A }],
      httpStatus: 502,
      bytesIn: 1234,
      bytesOut: 56,
      durationMs: 12.5,
      detail: { method: 'POST', pushOptions: ['token=[MASKED]'], error: { code: 'UPSTREAM_ERROR_STATUS', message: 'upstream said [MASKED]' } },
    });
    expect(rows[2]).toMatchObject({ actorSub: null, actorAgent: null, upstream: null, refUpdates: null });
    expect(JSON.stringify(rows)).not.toContain(SECRET);
  });

  it('never throws for a lost request record, but refuses a push it cannot record', async () => {
    await db.close();
    const r = recorder();
    await expect(
      r.recordRequest({ occurredAt: new Date(), requestId: 'x', method: 'GET', httpStatus: 200, bytesIn: 0, bytesOut: 0, durationMs: 1, outcome: 'ok' }),
    ).resolves.toBeUndefined();
    await expect(
      r.recordPushReceived({ occurredAt: new Date(), requestId: 'y', upstream: 'u', repo: 'r', refUpdates: [], pushOptions: [], capabilities: [] }),
    ).rejects.toBeInstanceOf(AuditUnavailableError);
    expect(failures).toEqual(['http.request', 'push.received']);
    await r.drain();
  });
});
