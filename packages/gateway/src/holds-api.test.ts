/**
 * The approval API against a real hold store on PGlite and PostgreSQL, with real tokens: who sees
 * which holds, the four-eyes and quorum rules as the API answers them, rejections, cancellations,
 * and what bad requests get (401, 400, 404, 405) — always JSON with a code, never a crash.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import http from 'node:http';
import { connect } from 'node:net';
import { listAuditEvents } from '@pushgate/store';
import { testDatabases } from '@pushgate/store/testing';
import type { ApiErrorView, HoldListView, HoldView } from './holds-api';
import { MAX_API_BODY_BYTES, parseActionBody, parseApiRoute, parseListQuery } from './holds-api';
import { rawRequest } from './testing/raw-http';
import { startAppWithoutHolds, startHoldsApiEnv, type HoldsApiEnv, type TestPerson } from './testing/holds-api-env';

const alice: TestPerson = { sub: 'alice', email: 'alice@example.com', groups: ['dev', 'security'], agent: true };
const bob: TestPerson = { sub: 'bob', email: 'bob@example.com', groups: ['security'] };
const carol: TestPerson = { sub: 'carol', groups: ['security', 'leads'] };
const dave: TestPerson = { sub: 'dave', groups: ['leads'] };
const eve: TestPerson = { sub: 'eve', groups: ['dev'] };

const SECURITY = [{ groups: ['security'], count: 1 }];
const LEADS = [{ groups: ['leads'], count: 1 }];
const TWO_OF_SECURITY_OR_LEADS = [{ groups: ['security', 'leads'], count: 2 }];

interface Answer<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** POSTs `parts` with chunked transfer encoding (no Content-Length), as a client streaming a body does. */
function chunkedPost(url: string, headers: Record<string, string>, parts: readonly Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    // The answer may come (and the connection close) before the whole body is written.
    req.on('error', (e) => (req.writableFinished ? undefined : reject(e)));
    for (const part of parts) req.write(part);
    req.end();
  });
}

/** Sends a request head (no body) and reads the answer until the server closes the connection. */
function headOnly(base: string, requestLine: string, headers: Record<string, string>): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`${requestLine}\r\nHost: ${url.host}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    });
    socket.setEncoding('latin1').on('data', (c: string) => (text += c));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

const backends = await testDatabases();

describe.each(backends)('the holds API on $name', (backend) => {
  let env: HoldsApiEnv;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    env = await startHoldsApiEnv(backend);
    for (const p of [alice, bob, carol, dave, eve]) tokens.set(p.sub, await env.token(p));
  });
  afterAll(async () => {
    await env?.stop();
    await backend.cleanup();
  });

  const auth = (p: TestPerson): Record<string, string> => ({ authorization: `Bearer ${tokens.get(p.sub)}` });

  async function api<T = HoldView>(as: TestPerson | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
    const res = await fetch(`${env.url}${path}`, {
      method,
      headers: { ...(as === undefined ? {} : auth(as)), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    return { status: res.status, headers: res.headers, body: (await res.json()) as T };
  }
  const list = (as: TestPerson, query = '') => api<HoldListView>(as, 'GET', `/api/holds${query}`);
  const show = (as: TestPerson, id: string) => api(as, 'GET', `/api/holds/${id}`);
  const act = (as: TestPerson, id: string, action: 'approve' | 'reject' | 'cancel', body?: unknown) => api(as, 'POST', `/api/holds/${id}/${action}`, body);
  const refusal = (a: Answer<unknown>) => ({ status: a.status, code: (a.body as ApiErrorView).error?.code });

  it('lists the pending holds the caller may act on, and with mine=1 the ones they pushed', async () => {
    const forSecurity = await env.createHold({ pusher: alice, approvers: SECURITY });
    const forLeads = await env.createHold({ pusher: alice, approvers: LEADS });
    const byBob = await env.createHold({ pusher: bob, approvers: SECURITY, push: 'delete' });
    const ids = (l: Answer<HoldListView>) => l.body.holds.map((h) => h.id);

    const bobs = await list(bob);
    expect(bobs.status).toBe(200);
    expect(ids(bobs)).toContain(forSecurity.id);
    expect(ids(bobs)).not.toContain(forLeads.id);
    // His own push is not his to approve.
    expect(ids(bobs)).not.toContain(byBob.id);
    expect(ids(await list(dave))).toEqual(expect.arrayContaining([forLeads.id]));
    expect(ids(await list(dave))).not.toContain(forSecurity.id);
    expect(ids(await list(carol))).toEqual(expect.arrayContaining([forSecurity.id, forLeads.id, byBob.id]));
    // In the security group, but the pusher of two of them: only bob's is hers to review.
    const alices = ids(await list(alice));
    expect(alices).toContain(byBob.id);
    expect(alices).not.toContain(forSecurity.id);
    expect(ids(await list(eve))).toEqual([]);
    expect(ids(await list(bob, '?state=pending'))).toContain(forSecurity.id);
    expect(ids(await list(bob, '?state=rejected'))).not.toContain(forSecurity.id);

    const mine = await list(alice, '?mine=1');
    expect(ids(mine)).toEqual(expect.arrayContaining([forSecurity.id, forLeads.id]));
    expect(ids(mine)).not.toContain(byBob.id);
    expect(ids(await list(bob, '?mine=1&state=pending'))).toContain(byBob.id);
    expect(ids(await list(bob, '?mine=1&state=cancelled'))).not.toContain(byBob.id);

    const shown = bobs.body.holds.find((h) => h.id === forSecurity.id);
    expect(shown).toMatchObject({ state: 'pending', mayReview: true, mayCancel: false, pusher: { sub: 'alice', email: 'alice@example.com', agent: true } });
  });

  it('shows a hold to its pusher and its reviewers, with everything a reviewer needs; to anyone else it does not exist', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY, pushOptions: ['ci.skip'] });
    const asReviewer = await show(bob, hold.id);
    expect(asReviewer.status).toBe(200);
    const command = hold.commands[0];
    expect(asReviewer.body).toEqual({
      id: hold.id,
      pushId: hold.pushId,
      state: 'pending',
      expiresAt: hold.state.kind === 'pending' ? hold.state.expiresAt.toISOString() : 'not pending',
      link: `${env.publicUrl}/review/holds/${hold.id}`,
      createdAt: hold.createdAt.toISOString(),
      updatedAt: hold.updatedAt.toISOString(),
      upstream: 'local',
      repo: 'team/app.git',
      pusher: { sub: 'alice', email: 'alice@example.com', agent: true },
      commands: [{ ref: 'refs/heads/main', oldOid: command.oldOid, newOid: command.newOid, kind: 'update' }],
      pushOptions: ['ci.skip'],
      pack: { bytes: hold.pack?.bytes, sha256: hold.pack?.sha256 },
      summary: { commits: 1, files: 1 },
      reasons: [expect.objectContaining({ rule: 'guard-1', outcome: 'hold', message: 'changes refs/heads/main', approvers: SECURITY[0] })],
      approvers: SECURITY,
      approvals: [],
      missing: SECURITY,
      digest: hold.digest,
      mayReview: true,
      mayCancel: false,
    });
    expect(asReviewer.body.pack?.bytes).toBeGreaterThan(0);
    const asPusher = await show(alice, hold.id);
    expect(asPusher.body).toMatchObject({ id: hold.id, mayReview: false, mayCancel: true });

    const outsider = await api<ApiErrorView>(eve, 'GET', `/api/holds/${hold.id}`);
    const nothing = await api<ApiErrorView>(eve, 'GET', '/api/holds/h0000000000000');
    expect(refusal(outsider)).toEqual({ status: 404, code: 'HOLD_NOT_FOUND' });
    // Word for word what a hold that does not exist gets, apart from the id.
    expect(outsider.body.error.message.replace(hold.id, 'ID')).toBe(nothing.body.error.message.replace('h0000000000000', 'ID'));
    expect(refusal(await show(dave, hold.id))).toEqual({ status: 404, code: 'HOLD_NOT_FOUND' });
    expect(refusal(await show(bob, 'no%20such'))).toEqual({ status: 404, code: 'HOLD_NOT_FOUND' });
    expect(refusal(await show(bob, 'x'.repeat(65)))).toEqual({ status: 404, code: 'HOLD_NOT_FOUND' });
  });

  it('refuses the pusher approving their own push (403) even in the group, and anyone outside the groups (403)', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    expect(refusal(await act(alice, hold.id, 'approve'))).toEqual({ status: 403, code: 'HOLD_SELF_APPROVAL' });
    expect(refusal(await act(alice, hold.id, 'reject', { comment: 'no' }))).toEqual({ status: 403, code: 'HOLD_SELF_APPROVAL' });
    expect(refusal(await act(eve, hold.id, 'approve', { comment: 'fine by me' }))).toEqual({ status: 403, code: 'HOLD_NOT_APPROVER' });
    expect(refusal(await act(dave, hold.id, 'approve'))).toEqual({ status: 403, code: 'HOLD_NOT_APPROVER' });
    expect(refusal(await act(bob, 'h0000000000000', 'approve'))).toEqual({ status: 404, code: 'HOLD_NOT_FOUND' });
    expect((await show(bob, hold.id)).body).toMatchObject({ state: 'pending', approvals: [] });
  });

  it('needs two distinct people for a quorum of 2: one person in both groups counts once, and approving twice is 409', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: TWO_OF_SECURITY_OR_LEADS });
    const first = await act(carol, hold.id, 'approve', { comment: 'looks right' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: hold.id, state: 'pending', missing: [{ groups: ['security', 'leads'], count: 1 }], mayReview: false });
    expect(first.body.approvals).toEqual([{ by: { sub: 'carol', agent: false }, at: expect.any(String), comment: 'looks right' }]);
    expect(refusal(await act(carol, hold.id, 'approve'))).toEqual({ status: 409, code: 'HOLD_ALREADY_APPROVED' });
    expect((await show(carol, hold.id)).body.approvals).toHaveLength(1);

    const second = await act(bob, hold.id, 'approve', {});
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ state: 'approved', missing: [], mayReview: false, mayCancel: false });
    expect(second.body.approvals.map((a) => a.by.sub)).toEqual(['carol', 'bob']);
    expect(refusal(await act(dave, hold.id, 'approve'))).toEqual({ status: 409, code: 'HOLD_NOT_PENDING' });
  });

  it('binds an approval to the digest it names', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    expect(refusal(await act(bob, hold.id, 'approve', { digest: '0'.repeat(64) }))).toEqual({ status: 409, code: 'HOLD_DIGEST_MISMATCH' });
    const approved = await act(bob, hold.id, 'approve', { digest: hold.digest });
    expect(approved.status).toBe(200);
    expect(approved.body.state).toBe('approved');
  });

  it('rejects only with a comment, and nothing is approved after a rejection (409)', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    expect(refusal(await act(bob, hold.id, 'reject'))).toEqual({ status: 400, code: 'HOLD_COMMENT_REQUIRED' });
    expect(refusal(await act(bob, hold.id, 'reject', { comment: '   ' }))).toEqual({ status: 400, code: 'HOLD_COMMENT_REQUIRED' });
    const rejected = await act(bob, hold.id, 'reject', { comment: 'the migration drops a table' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ state: 'rejected', by: { sub: 'bob', email: 'bob@example.com', agent: false }, comment: 'the migration drops a table' });
    expect(refusal(await act(carol, hold.id, 'approve'))).toEqual({ status: 409, code: 'HOLD_NOT_PENDING' });
    expect(refusal(await act(alice, hold.id, 'cancel'))).toEqual({ status: 409, code: 'HOLD_NOT_PENDING' });
    // The pusher reads why.
    expect((await show(alice, hold.id)).body).toMatchObject({ state: 'rejected', comment: 'the migration drops a table', mayCancel: false });
  });

  it('lets only the pusher cancel (403 for anyone else, reviewers included)', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY, push: 'delete' });
    expect(refusal(await act(bob, hold.id, 'cancel'))).toEqual({ status: 403, code: 'HOLD_NOT_PUSHER' });
    expect(refusal(await act(eve, hold.id, 'cancel'))).toEqual({ status: 403, code: 'HOLD_NOT_PUSHER' });
    const cancelled = await act(alice, hold.id, 'cancel', { comment: 'pushed to the wrong branch' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', by: { sub: 'alice' }, mayCancel: false, pack: null, commands: [{ kind: 'delete' }] });
    expect(refusal(await act(bob, hold.id, 'approve'))).toEqual({ status: 409, code: 'HOLD_NOT_PENDING' });
    expect(refusal(await act(alice, hold.id, 'cancel'))).toEqual({ status: 409, code: 'HOLD_NOT_PENDING' });
  });

  it('refuses an expired hold with 409 HOLD_EXPIRED', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY, expiresAt: new Date(Date.now() - 1000) });
    expect(refusal(await act(bob, hold.id, 'approve'))).toEqual({ status: 409, code: 'HOLD_EXPIRED' });
    expect((await show(bob, hold.id)).body).toMatchObject({ state: 'expired', mayReview: false });
  });

  it('answers 401 with WWW-Authenticate without a valid token', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    for (const [headers, code] of [
      [{}, 'AUTH_MISSING'],
      [{ authorization: 'Bearer not-a-token' }, 'AUTH_INVALID_TOKEN'],
      [{ authorization: 'Token abc' }, 'AUTH_MALFORMED'],
    ] as const) {
      const listed = await api(undefined, 'GET', '/api/holds', undefined, headers);
      expect({ code, status: listed.status, got: refusal(listed).code }).toEqual({ code, status: 401, got: code });
      expect(listed.headers.get('www-authenticate')).toBe('Basic realm="pushgate"');
      expect(refusal(await api(undefined, 'POST', `/api/holds/${hold.id}/approve`, {}, headers)).status).toBe(401);
    }
    // Basic with any user name and the token as the password works as for git.
    const basic = `Basic ${Buffer.from(`x:${tokens.get('bob')}`).toString('base64')}`;
    expect((await api(undefined, 'GET', `/api/holds/${hold.id}`, undefined, { authorization: basic })).status).toBe(200);
    expect((await show(bob, hold.id)).body.state).toBe('pending');
  });

  it('answers bad bodies, queries, paths and methods with 400, 404 or 405 and a specific code', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    const approve = `/api/holds/${hold.id}/approve`;
    const cases: [unknown, number, string, string][] = [
      ['{"comment": ', 400, 'API_BAD_JSON', 'not JSON'],
      ['[1, 2]', 400, 'API_BAD_JSON', 'a JSON object'],
      ['null', 400, 'API_BAD_JSON', 'a JSON object'],
      ['"text"', 400, 'API_BAD_JSON', 'a JSON object'],
      [{ comment: 42 }, 400, 'API_BAD_BODY', '"comment" must be a string'],
      [{ digest: ['a'] }, 400, 'API_BAD_BODY', '"digest" must be a string'],
      [{ coment: 'typo' }, 400, 'API_BAD_BODY', '"coment"'],
      ['{"__proto__": {"admin": true}, "comment": "x"}', 400, 'API_BAD_BODY', '"__proto__"'],
    ];
    for (const [body, status, code, says] of cases) {
      const a = await api<ApiErrorView>(bob, 'POST', approve, typeof body === 'string' ? body : JSON.stringify(body));
      expect({ body, status: a.status, code: a.body.error.code, says: a.body.error.message.includes(says) }).toEqual({ body, status, code, says: true });
    }
    const notUtf8 = await rawRequest(env.url, 'POST', approve, { ...auth(bob), 'content-type': 'application/json' }, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    expect({ status: notUtf8.status, code: JSON.parse(notUtf8.body.toString()).error.code }).toEqual({ status: 400, code: 'API_BAD_JSON' });

    // Too large, declared or not: refused after 64 KiB without reading the rest.
    const big = Buffer.from(JSON.stringify({ comment: 'x'.repeat(MAX_API_BODY_BYTES) }));
    const declared = await rawRequest(env.url, 'POST', approve, { ...auth(bob), 'content-type': 'application/json' }, big);
    expect({ status: declared.status, code: JSON.parse(declared.body.toString()).error.code }).toEqual({ status: 400, code: 'API_BODY_TOO_LARGE' });
    // Declared far larger than anyone needs: answered at once, without waiting for the body.
    const huge = await headOnly(env.url, `POST ${approve} HTTP/1.1`, { ...auth(bob), 'content-type': 'application/json', 'content-length': '10000000' });
    expect(huge).toMatch(/^HTTP\/1\.1 400 /);
    expect(huge).toMatch(/\r\nconnection: close\r\n/i);
    expect(huge).toContain('"code":"API_BODY_TOO_LARGE"');
    const chunked = await chunkedPost(`${env.url}${approve}`, { ...auth(bob), 'content-type': 'application/json' }, [big.subarray(0, 1000), big.subarray(1000)]);
    expect({ status: chunked.status, code: JSON.parse(chunked.body).error.code }).toEqual({ status: 400, code: 'API_BODY_TOO_LARGE' });

    expect(refusal(await api(bob, 'GET', '/api/holds?state=done'))).toEqual({ status: 400, code: 'API_BAD_QUERY' });
    expect(refusal(await api(bob, 'GET', '/api/holds?mine=yes'))).toEqual({ status: 400, code: 'API_BAD_QUERY' });
    expect(refusal(await api(bob, 'GET', '/api/holds?state=pending&state=approved'))).toEqual({ status: 400, code: 'API_BAD_QUERY' });
    expect(refusal(await api(bob, 'GET', '/api/holds?limit=5'))).toEqual({ status: 400, code: 'API_BAD_QUERY' });
    expect(refusal(await api(bob, 'GET', '/api/nothing'))).toEqual({ status: 404, code: 'API_NOT_FOUND' });
    expect(refusal(await api(bob, 'GET', `/api/holds/${hold.id}/approve/more`))).toEqual({ status: 404, code: 'API_NOT_FOUND' });
    expect(refusal(await api(bob, 'POST', `/api/holds/${hold.id}/merge`, {}))).toEqual({ status: 404, code: 'API_NOT_FOUND' });
    const wrongMethod = await api(bob, 'GET', approve);
    expect(refusal(wrongMethod)).toEqual({ status: 405, code: 'API_METHOD_NOT_ALLOWED' });
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const deleting = await api(bob, 'DELETE', `/api/holds/${hold.id}`);
    expect(refusal(deleting)).toEqual({ status: 405, code: 'API_METHOD_NOT_ALLOWED' });
    expect(deleting.headers.get('allow')).toBe('GET');
    // Nothing of that changed the hold.
    expect((await show(bob, hold.id)).body).toMatchObject({ state: 'pending', approvals: [] });
  });

  it('gives every request an id (X-Request-Id honoured), logs one line for it and counts it under route "api"', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    const before = (await env.logs()).length;
    const approved = await api(bob, 'POST', `/api/holds/${hold.id}/approve`, { comment: 'ok' }, { 'x-request-id': 'review-7f3a' });
    expect(approved.headers.get('x-request-id')).toBe('review-7f3a');
    const refused = await api<ApiErrorView>(bob, 'POST', `/api/holds/${hold.id}/approve`, {}, { 'x-request-id': 'review-7f3b' });
    expect(refused.body.error).toEqual({ code: 'HOLD_NOT_PENDING', message: expect.any(String), requestId: 'review-7f3b' });
    const generated = await show(bob, hold.id);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const odd = await api(bob, 'GET', `/api/holds/${hold.id}`, undefined, { 'x-request-id': 'has spaces and ; semicolons' });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const logs = await env.logs();
    const lines = logs.slice(before).filter((l) => l.route === 'api');
    expect(lines.map((l) => [l.requestId, l.endpoint, l.status, l.code])).toEqual([
      ['review-7f3a', 'holds.approve', 200, undefined],
      ['review-7f3b', 'holds.approve', 409, 'HOLD_NOT_PENDING'],
      [generated.headers.get('x-request-id'), 'holds.show', 200, undefined],
      [odd.headers.get('x-request-id'), 'holds.show', 200, undefined],
    ]);
    expect(lines[0]).toMatchObject({ level: 'info', message: 'api request', sub: 'bob', hold: hold.id, method: 'POST', clientAddr: '127.0.0.1' });
    // The token never reaches the log.
    expect(JSON.stringify(logs)).not.toContain(tokens.get('bob'));

    // The store's audit event of the approval: linked to the push, naming the API request it came through.
    const events = await listAuditEvents(env.db, { requestId: hold.pushId });
    // (The relay of the approved hold may have begun and added its own events after these.)
    expect(events.map((e) => e.kind).slice(0, 2)).toEqual(['hold.created', 'hold.approved']);
    expect(events[1]).toMatchObject({ actorSub: 'bob', clientAddr: '127.0.0.1', detail: { holdId: hold.id, via: 'review-7f3a', comment: 'ok' } });

    const metrics = await env.metrics.registry.metrics();
    expect(metrics).toMatch(/pushgate_http_requests_total\{route="api",method="POST",status="200"\} \d+/);
    expect(metrics).toMatch(/pushgate_http_requests_total\{route="api",method="POST",status="409"\} \d+/);
  });

  it('never fails on hostile paths, queries and bodies: a JSON answer with a client status each time', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    const segment = fc.oneof(fc.constantFrom('holds', hold.id, 'approve', 'reject', 'cancel', '..', '%2e%2e', '%00', '', 'api'), fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{0,40}$/));
    const target = fc.tuple(fc.array(segment, { maxLength: 5 }), fc.stringMatching(/^[A-Za-z0-9%=&._-]{0,40}$/)).map(([parts, q]) => `/api/${parts.join('/')}${q === '' ? '' : `?${q}`}`);
    const body = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.json().map((j) => Buffer.from(j)));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'HEAD'), target, body, async (method, path, bytes) => {
        const r = await rawRequest(env.url, method, path, { ...auth(carol), 'content-type': 'application/json' }, method === 'GET' || method === 'HEAD' ? undefined : bytes);
        expect(r.status).toBeGreaterThanOrEqual(200);
        expect(r.status).toBeLessThan(500);
        if (method !== 'HEAD') expect(typeof JSON.parse(r.body.toString('utf8'))).toBe('object');
      }),
      { numRuns: 60 },
    );
    // Still serving, and the hold still decided only by what a reviewer sent on purpose.
    expect((await show(carol, hold.id)).status).toBe(200);
  });
});

describe.each(backends.slice(0, 1))('a gateway without a hold store ($name)', (backend) => {
  let env: Awaited<ReturnType<typeof startAppWithoutHolds>>;
  beforeAll(async () => {
    env = await startAppWithoutHolds(backend);
  });
  afterAll(async () => {
    await env?.stop();
    await backend.cleanup();
  });

  it('answers 503 HOLDS_UNAVAILABLE once the caller is authenticated', async () => {
    const token = await env.token(bob);
    const res = await fetch(`${env.url}/api/holds`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as ApiErrorView).error.code).toBe('HOLDS_UNAVAILABLE');
    expect((await fetch(`${env.url}/api/holds`)).status).toBe(401);
  });
});

describe('parsing requests', () => {
  it('routes paths and methods', () => {
    const route = (method: string, target: string) => {
      const r = parseApiRoute(method, target);
      return r.kind === 'route' ? r.route.kind : r.error.code;
    };
    expect(route('GET', '/api/holds')).toBe('list');
    expect(route('GET', '/api/holds?state=pending')).toBe('list');
    expect(route('GET', '/api/holds/h1')).toBe('show');
    expect(route('POST', '/api/holds/h1/approve')).toBe('act');
    expect(route('POST', '/api/holds/h1/cancel')).toBe('act');
    expect(route('POST', '/api/holds')).toBe('API_METHOD_NOT_ALLOWED');
    expect(route('GET', '/api/holds/')).toBe('API_NOT_FOUND');
    expect(route('GET', '/api/holds//approve')).toBe('API_NOT_FOUND');
    expect(route('GET', '/api')).toBe('API_NOT_FOUND');
    expect(route('GET', '/api/Holds')).toBe('API_NOT_FOUND');
  });

  it('reads list filters strictly', () => {
    const q = (text: string) => {
      const r = parseListQuery(new URLSearchParams(text));
      return r.kind === 'query' ? r.query : r.error.code;
    };
    expect(q('')).toEqual({ state: undefined, mine: false });
    expect(q('mine=1&state=relayed')).toEqual({ state: 'relayed', mine: true });
    expect(q('mine=0')).toEqual({ state: undefined, mine: false });
    expect(q('state=')).toBe('API_BAD_QUERY');
    expect(q('mine')).toBe('API_BAD_QUERY');
  });

  it('reads action bodies: empty is {}, fields typed, unknown fields refused', () => {
    const b = (action: 'approve' | 'reject' | 'cancel', text: string) => {
      const r = parseActionBody(action, Buffer.from(text));
      return r.kind === 'body' ? r.body : r.error.code;
    };
    expect(b('approve', '')).toEqual({ action: 'approve', comment: undefined, digest: undefined });
    expect(b('approve', ' \n')).toEqual({ action: 'approve', comment: undefined, digest: undefined });
    expect(b('approve', '{"comment":"ok","digest":"ab"}')).toEqual({ action: 'approve', comment: 'ok', digest: 'ab' });
    expect(b('reject', '{"comment":"because"}')).toEqual({ action: 'reject', comment: 'because' });
    expect(b('reject', '{}')).toEqual({ action: 'reject', comment: '' });
    expect(b('cancel', '{"digest":"ab"}')).toBe('API_BAD_BODY');
    expect(b('cancel', '{"comment":null}')).toBe('API_BAD_BODY');
  });
});
