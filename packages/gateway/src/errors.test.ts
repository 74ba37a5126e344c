/**
 * What bad requests and broken upstreams get: 401 for every kind of bad token (through git and raw
 * HTTP), 404 for unknown upstreams, 400 for every traversal trick, 502 when the upstream is down,
 * failing, or refuses the gateway's credential — each with a text body, nothing forwarded, and the
 * gateway still serving afterwards. Also the operational endpoints and request ids.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ZERO_OID } from '@pushgate/core';
import { FLUSH, makeLargeRepo, pkt, receivePackBody, startTestIdentityProvider, type TestIdp } from '@pushgate/testkit';
import { rawRequest, type RawResponse } from './testing/raw-http';
import { startHarness, type Harness } from './testing/harness';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('refusals and failures', () => {
  let h: Harness;
  let idp: TestIdp;
  let token: string;
  let upstreamFails: number | undefined;
  const answers: RawResponse[] = [];
  const INFO = '/local/app.git/info/refs?service=git-upload-pack';

  const get = async (target: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer) => {
    const r = await rawRequest(h.gateway.url, method, target, headers, body);
    answers.push(r);
    return r;
  };
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

  beforeAll(async () => {
    idp = await startTestIdentityProvider({ alg: 'RS256' });
    const down = await closedPort();
    h = await startHarness({
      fault: (req) => (upstreamFails !== undefined && req.path.includes('/app.git/') ? upstreamFails : undefined),
      moreUpstreams: [
        { name: 'down', url: `http://127.0.0.1:${down}`, connectTimeoutMs: 2000 },
        { name: 'wrongcred', url: 'http://127.0.0.1:1', passwordEnv: 'WRONG_PASSWORD' },
      ],
      env: { WRONG_PASSWORD: 'not-the-upstream-password' },
      config: {
        listen: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] },
        auth: { issuers: [{ issuer: idp.issuer, audience: 'pushgate', jwksUri: idp.jwksUri }] },
      },
    });
    await h.upstream.createRepo('app.git', { initialCommit: true });
    token = await h.token();
  });
  afterAll(async () => {
    await h?.stop();
    await idp?.close();
  });

  it('serves a valid token from the gateway and from an external issuer', async () => {
    expect((await get(INFO, bearer(token))).status).toBe(200);
    const external = await idp.mint({ sub: 'bob', aud: 'pushgate' });
    const basic = `Basic ${Buffer.from(`anyone:${external}`).toString('base64')}`;
    expect((await get(INFO, { Authorization: basic })).status).toBe(200);
  });

  it('answers 401 with a Basic challenge naming the failed check, and forwards nothing', async () => {
    const before = h.upstream.requests.length;
    const cases: [string, Record<string, string>, string][] = [
      ['missing', {}, 'AUTH_MISSING'],
      ['expired', bearer(await idp.mint({ sub: 'bob', aud: 'pushgate', expiresIn: -300 })), 'AUTH_EXPIRED'],
      ['wrong audience', bearer(await idp.mint({ sub: 'bob', aud: 'someone-else' })), 'AUTH_WRONG_AUDIENCE'],
      ['alg none', bearer(idp.mintUnsigned({ sub: 'bob', aud: 'pushgate' })), 'AUTH_ALG_NOT_ALLOWED'],
      ['HS256 with the public key', bearer(await idp.mintHs256WithPublicKey({ sub: 'bob', aud: 'pushgate' })), 'AUTH_ALG_NOT_ALLOWED'],
      ['garbage', bearer('not-a-jwt'), 'AUTH_INVALID_TOKEN'],
      ['unknown issuer', bearer(await idp.mint({ sub: 'bob', aud: 'pushgate', iss: 'https://elsewhere.example' })), 'AUTH_WRONG_ISSUER'],
    ];
    for (const [what, headers, code] of cases) {
      const r = await get(INFO, headers);
      expect({ what, status: r.status }).toEqual({ what, status: 401 });
      expect(r.headers['www-authenticate']).toBe('Basic realm="pushgate"');
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      expect(r.body.toString()).toContain(code);
    }
    expect(h.upstream.requests.length).toBe(before);
  });

  it('makes git report the failed authentication', async () => {
    const expired = await idp.mint({ sub: 'bob', aud: 'pushgate', expiresIn: -300 });
    const wrongAudience = await idp.mint({ sub: 'bob', aud: 'someone-else' });
    for (const t of [expired, wrongAudience, idp.mintUnsigned({ sub: 'bob', aud: 'pushgate' }), await idp.mintHs256WithPublicKey({ sub: 'bob', aud: 'pushgate' })]) {
      const r = await h.git.git(['ls-remote', h.remote('app.git', t)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Authentication failed|401/);
    }
  });

  it('answers 404 for an unknown upstream and 400 for every path trick, before touching any upstream', async () => {
    const before = h.upstream.requests.length;
    expect((await get('/nope/app.git/info/refs?service=git-upload-pack', bearer(token))).status).toBe(404);
    const tricks = [
      '/local/../app.git/info/refs?service=git-upload-pack',
      '/local/app.git/../../etc/info/refs?service=git-upload-pack',
      '/local/%2e%2e/app.git/info/refs?service=git-upload-pack',
      '/local/%2E%2E%2Fapp.git/info/refs?service=git-upload-pack',
      '/local/a%2fb/info/refs?service=git-upload-pack',
      '/local/a%5c..%5cb/info/refs?service=git-upload-pack',
      '/local/%252e%252e/app.git/info/refs?service=git-upload-pack',
      '/local/a\\..\\b/info/refs?service=git-upload-pack',
      '/local//app.git/info/refs?service=git-upload-pack',
      '/local/./app.git/info/refs?service=git-upload-pack',
      'http://evil.example/local/app.git/info/refs?service=git-upload-pack',
      '//evil.example/local/app.git/info/refs?service=git-upload-pack',
    ];
    for (const target of tricks) {
      for (const headers of [{}, bearer(token)]) {
        const r = await get(target, headers);
        expect({ target, status: r.status }).toEqual({ target, status: 400 });
        expect(r.headers['content-type']).toMatch(/^text\/plain/);
      }
    }
    const other = [
      ['GET', '/local/app.git/objects/info/packs', 404],
      ['GET', '/local/app.git/HEAD', 404],
      ['DELETE', '/local/app.git/git-upload-pack', 405],
      ['GET', '/local/app.git/git-receive-pack', 405],
    ] as const;
    for (const [method, target, status] of other) expect((await get(target, bearer(token), method)).status).toBe(status);
    expect(h.upstream.requests.length).toBe(before);
  });

  it('refuses an undecodable push with 400 and relays none of it', async () => {
    const before = h.upstream.requests.length;
    const bodies = [
      Buffer.from('0032zzzz not a command line at all, just junk...\n'),
      receivePackBody({ commands: [{ ref: 'refs/heads/../x', oldOid: ZERO_OID, newOid: 'a'.repeat(40) }], caps: ['report-status'] }),
      receivePackBody({ commands: [{ ref: 'refs/heads/x', oldOid: 'A'.repeat(40), newOid: 'a'.repeat(40) }], caps: ['report-status'] }),
      Buffer.from('fff'),
    ];
    for (const body of bodies) {
      const r = await get('/local/app.git/git-receive-pack', { ...bearer(token), 'Content-Type': 'application/x-git-receive-pack-request' }, 'POST', body);
      expect(r.status).toBe(400);
      expect(r.body.toString()).toMatch(/^pushgate: (PROTO|PKT)_[A-Z_]+: /);
    }
    const corruptGzip = await get(
      '/local/app.git/git-receive-pack',
      { ...bearer(token), 'Content-Type': 'application/x-git-receive-pack-request', 'Content-Encoding': 'gzip' },
      'POST',
      Buffer.from('this is not gzip'),
    );
    expect(corruptGzip.status).toBe(400);
    expect(corruptGzip.body.toString()).toContain('PUSH_BAD_BODY');
    expect(h.upstream.requests.length).toBe(before);
  });

  it('decodes a gzip-encoded push and relays it; passes a gzip-encoded fetch request through as is', async () => {
    const pushesBefore = h.upstream.requests.filter((r) => r.path === '/app.git/git-receive-pack').length;
    const repo = await h.git.initRepo('gz');
    const commit = await h.git.commitFiles(repo, { 'z.txt': 'zipped\n' }, 'zipped');
    const pack = (await h.git.gitOk(['pack-objects', '--stdout', '--revs'], { cwd: repo, input: `${commit}\n` })).stdoutBuffer;
    const body = receivePackBody({ commands: [{ ref: 'refs/heads/gz', oldOid: ZERO_OID, newOid: commit }], caps: ['report-status', 'agent=test'], pack });
    const push = await get(
      '/local/app.git/git-receive-pack',
      { ...bearer(token), 'Content-Type': 'application/x-git-receive-pack-request', 'Content-Encoding': 'gzip', 'User-Agent': 'errors-test/gzip-push' },
      'POST',
      gzipSync(body),
    );
    expect(push.status).toBe(200);
    expect(push.body.toString()).toContain('ok refs/heads/gz');
    // The gateway relays the push as a push of its own (its own user agent), decoded, with its exact length.
    const upstreamPushes = h.upstream.requests.filter((r) => r.path === '/app.git/git-receive-pack').slice(pushesBefore);
    expect(upstreamPushes).toHaveLength(1);
    expect(upstreamPushes[0]!.contentEncoding).toBeUndefined();
    expect(upstreamPushes[0]!.userAgent).toMatch(/^pushgate\//);
    expect(upstreamPushes[0]!.contentLength).toBe(upstreamPushes[0]!.requestBytes);
    // Found by user agent: the gateway's background mirror refresh after the push also talks to the upstream.
    const sentBy = (agent: string) => h.upstream.requests.filter((r) => r.userAgent === agent);
    const remote = (await h.git.gitOk(['ls-remote', h.remote('app.git', token), 'refs/heads/gz'])).stdout;
    expect(remote.split('\t')[0]).toBe(commit);

    const fetchBody = gzipSync(pkt(`want ${commit}\n`, FLUSH, 'done\n'));
    const fetch = await get('/local/app.git/git-upload-pack', { ...bearer(token), 'Content-Type': 'application/x-git-upload-pack-request', 'Content-Encoding': 'gzip', 'User-Agent': 'errors-test/gzip-fetch' }, 'POST', fetchBody);
    expect(fetch.status).toBe(200);
    expect(fetch.body.includes(Buffer.from('PACK'))).toBe(true);
    const upstreamFetches = sentBy('errors-test/gzip-fetch');
    expect(upstreamFetches).toHaveLength(1);
    const upstreamFetch = upstreamFetches[0]!;
    expect(upstreamFetch.contentEncoding).toBe('gzip');
    expect(upstreamFetch.requestBytes).toBe(fetchBody.length);
  });

  it('answers 502 with a text body when the upstream is down, failing, or refuses the gateway — and keeps serving', async () => {
    const down = await get('/down/app.git/info/refs?service=git-upload-pack', bearer(token));
    expect(down.status).toBe(502);
    expect(down.body.toString()).toContain('UPSTREAM_UNREACHABLE');
    expect(down.headers['www-authenticate']).toBeUndefined();

    const clone = await h.git.git(['clone', `${h.gateway.url.replace('://', `://x:${token}@`)}/down/app.git`, 'never']);
    expect(clone.code).not.toBe(0);
    expect(clone.stderr).toMatch(/502|UPSTREAM_UNREACHABLE/);

    const refused = await get('/wrongcred/app.git/info/refs?service=git-upload-pack', bearer(token));
    expect(refused.status).toBe(502);

    for (const status of [500, 503, 401]) {
      upstreamFails = status;
      const r = await get(INFO, bearer(token));
      expect(r.status).toBe(502);
      expect(r.body.toString()).toContain(status === 401 ? 'UPSTREAM_AUTH_REFUSED' : 'UPSTREAM_ERROR_STATUS');
    }
    upstreamFails = undefined;

    // still serving
    const ok = await h.git.git(['clone', h.remote('app.git', token), 'after-failures']);
    expect(ok.code).toBe(0);
  });

  it('refuses SHA-256 repositories clearly, and hides push-cert from the push advertisement', async () => {
    await h.upstream.createRepo('sha256.git', { objectFormat: 'sha256', initialCommit: true });
    for (const service of ['git-upload-pack', 'git-receive-pack']) {
      const r = await get(`/local/sha256.git/info/refs?service=${service}`, bearer(token));
      expect(r.status).toBe(400);
      expect(r.body.toString()).toContain('PROTO_UNSUPPORTED_OBJECT_FORMAT');
    }
    const clone = await h.git.git(['clone', h.remote('sha256.git', token), 'sha256']);
    expect(clone.code).not.toBe(0);
    expect(clone.stderr).toContain('PROTO_UNSUPPORTED_OBJECT_FORMAT');

    const repo = join(h.upstream.root, 'app.git');
    await h.git.gitOk(['--git-dir', repo, 'config', 'receive.certNonceSeed', 'a-seed']);
    const direct = await h.git.gitOk(['--git-dir', repo, 'receive-pack', '--advertise-refs', '--stateless-rpc', repo]);
    expect(direct.stdout).toContain('push-cert=');
    const advert = await get('/local/app.git/info/refs?service=git-receive-pack', bearer(token));
    expect(advert.status).toBe(200);
    expect(advert.headers['content-type']).toBe('application/x-git-receive-pack-advertisement');
    expect(advert.body.toString()).toContain('report-status');
    expect(advert.body.toString()).not.toContain('push-cert');
    await h.git.gitOk(['--git-dir', repo, 'config', '--unset', 'receive.certNonceSeed']);
  });

  it('records a clone the client abandons midway as aborted, and cuts the upstream off', async () => {
    const big = await makeLargeRepo(join(h.upstream.root, 'abandoned.git'), { megabytes: 24, commits: 4, seed: 'abandon' });
    await new Promise<void>((resolve, reject) => {
      const body = pkt(`want ${big.head}\n`, FLUSH, 'done\n');
      const req = http.request(`${h.gateway.url}/local/abandoned.git/git-upload-pack`, {
        method: 'POST',
        headers: { ...bearer(token), 'x-request-id': 'abandoned-clone', 'content-type': 'application/x-git-upload-pack-request', 'content-length': body.length },
      });
      req.on('error', () => resolve());
      req.on('response', (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
        res.on('error', () => undefined);
      });
      req.on('close', () => resolve());
      req.end(body);
      setTimeout(() => reject(new Error('no answer')), 30_000).unref();
    });
    await h.inProcess!.idle();
    const row = (await h.auditRows()).find((r) => r.requestId === 'abandoned-clone' && r.kind === 'http.request')!;
    expect(row).toMatchObject({ outcome: 'aborted', httpStatus: 200, service: 'git-upload-pack' });
    expect(row.bytesOut).toBeLessThan(big.packBytes);
    expect(row.detail).toEqual({ method: 'POST' });
    await h.upstream.settled();
    const upstreamSide = h.upstream.requests.filter((r) => r.path === '/abandoned.git/git-upload-pack').at(-1)!;
    expect(upstreamSide.responseBytes).toBeLessThan(big.packBytes);
    expect((await get(INFO, bearer(token))).status).toBe(200);
  });

  it('accepts a sane X-Request-Id and replaces an odd one', async () => {
    expect((await get(INFO, { ...bearer(token), 'X-Request-Id': 'ci-run-42.7' })).headers['x-request-id']).toBe('ci-run-42.7');
    const odd = await get(INFO, { ...bearer(token), 'X-Request-Id': 'no spaces or {braces}' });
    expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('records the client address a trusted proxy forwarded, and only that one', async () => {
    await get(INFO, { ...bearer(token), 'X-Request-Id': 'via-proxy', 'X-Forwarded-For': '6.6.6.6, 198.51.100.4' });
    const row = (await h.auditRows()).find((r) => r.requestId === 'via-proxy')!;
    expect(row.clientAddr).toBe('198.51.100.4');
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    const text = metrics.body.toString();
    expect(text).toMatch(/pushgate_http_requests_total\{route="info-refs",method="GET",status="401"\} \d+/);
    expect(text).toMatch(/pushgate_upstream_errors_total\{upstream="down",code="UPSTREAM_UNREACHABLE"\} [1-9]/);
    expect(text).toMatch(/pushgate_http_request_duration_seconds_bucket/);
    expect(text).toMatch(/pushgate_http_response_bytes_total\{route="upload-pack"\} [1-9]/);
    expect(text).toMatch(/pushgate_audit_write_failures_total/);
    expect(text).toMatch(/pushgate_process_resident_memory_bytes/);
  });

  it('never showed the upstream secret or the gateway credential to anyone', async () => {
    const basic = Buffer.from(`x-access-token:${h.secret}`).toString('base64');
    const wrong = 'not-the-upstream-password';
    const texts = [...answers.map((a) => a.raw), h.gateway.logs.join('\n'), JSON.stringify(await h.auditRows())];
    for (const text of texts) {
      expect(text).not.toContain(h.secret);
      expect(text).not.toContain(basic);
      expect(text).not.toContain(wrong);
    }
  });
});
