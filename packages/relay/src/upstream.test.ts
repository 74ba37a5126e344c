import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { Upstream, UpstreamError, basicAuthorization, type UpstreamRequest } from './index';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A loopback HTTP server whose answer each test chooses; it records what it received. */
async function startServer(answer: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function rejection(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UpstreamError) return e;
    throw e;
  }
  throw new Error('expected the request to fail');
}

const infoRefs = (extra: Partial<UpstreamRequest> = {}): UpstreamRequest => ({
  method: 'GET',
  repoPath: 'team/app.git',
  endpoint: 'info/refs',
  query: 'service=git-upload-pack',
  headers: {},
  ...extra,
});

describe('Upstream', () => {
  const secret = 's3cret-upstream-password';
  let server: Awaited<ReturnType<typeof startServer>>;
  let mode: 'ok' | 'redirect' | '401' | '404' | '500' | '413' | 'hang' = 'ok';

  beforeAll(async () => {
    server = await startServer((req, res, body) => {
      switch (mode) {
        case 'ok':
          res.writeHead(200, {
            'content-type': 'application/x-git-upload-pack-advertisement',
            'set-cookie': 'session=upstream',
            'x-upstream-banner': 'leaky',
            'www-authenticate': 'Basic realm="upstream"',
          });
          res.end(`echo:${req.method}:${body.toString('utf8')}`);
          return;
        case 'redirect':
          res.writeHead(302, { location: 'http://evil.example/' });
          res.end();
          return;
        case '401':
          res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="x"' });
          res.end(`bad credential ${secret}`);
          return;
        case '404':
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('Repository not found.');
          return;
        case '500':
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('boom\nsecond line');
          return;
        case '413':
          res.writeHead(413, { 'content-type': 'text/plain' });
          res.end('too large');
          return;
        case 'hang':
          return;
      }
    });
  });
  afterAll(async () => {
    await server.close();
  });

  const upstream = () =>
    new Upstream(
      { name: 'local', url: `${server.url}/base`, credential: { kind: 'basic', username: 'x-access-token', password: secret }, idleTimeoutMs: 500 },
      { mask: (s) => s.split(secret).join('[MASKED]') },
    );

  it('sends its own credential and only allow-listed headers, and passes only allow-listed headers back', async () => {
    mode = 'ok';
    const u = upstream();
    const res = await u.request(
      infoRefs({
        headers: {
          authorization: 'Bearer caller-token',
          cookie: 'a=b',
          'git-protocol': 'version=2',
          'user-agent': 'git/2.39.5',
          'x-forwarded-for': '1.2.3.4',
          host: 'evil.example',
        },
        requestId: 'req-1',
      }),
    );
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('echo:GET:');
    expect(res.headers).toEqual({ 'content-type': 'application/x-git-upload-pack-advertisement' });
    const got = server.seen.at(-1)!;
    expect(got.url).toBe('/base/team/app.git/info/refs?service=git-upload-pack');
    expect(got.headers.authorization).toBe(basicAuthorization('x-access-token', secret));
    expect(got.headers['git-protocol']).toBe('version=2');
    expect(got.headers['user-agent']).toBe('git/2.39.5');
    expect(got.headers['x-request-id']).toBe('req-1');
    expect(got.headers.cookie).toBeUndefined();
    expect(got.headers['x-forwarded-for']).toBeUndefined();
    expect(got.headers.host).toBe(new URL(server.url).host);
    u.close();
  });

  it('streams a request body of many chunks', async () => {
    mode = 'ok';
    const u = upstream();
    const parts = Array.from({ length: 100 }, (_, i) => Buffer.from(`part${i};`));
    const res = await u.request({
      method: 'POST',
      repoPath: 'team/app.git',
      endpoint: 'git-upload-pack',
      headers: { 'content-type': 'application/x-git-upload-pack-request' },
      body: Readable.from(parts),
    });
    expect(await text(res.body)).toBe(`echo:POST:${Buffer.concat(parts).toString('utf8')}`);
    expect(server.seen.at(-1)!.headers['transfer-encoding']).toBe('chunked');
    u.close();
  });

  it('sends no Authorization at all when the upstream has no credential', async () => {
    mode = 'ok';
    const u = new Upstream({ name: 'open', url: server.url, credential: { kind: 'none' } });
    await text((await u.request(infoRefs({ headers: { authorization: 'Basic Zm9vOmJhcg==' } }))).body);
    expect(server.seen.at(-1)!.headers.authorization).toBeUndefined();
    expect(server.seen.at(-1)!.url).toBe('/team/app.git/info/refs?service=git-upload-pack');
    u.close();
  });

  it.each([
    ['redirect', 'UPSTREAM_REDIRECT', 502],
    ['401', 'UPSTREAM_AUTH_REFUSED', 502],
    ['404', 'UPSTREAM_NOT_FOUND', 404],
    ['500', 'UPSTREAM_ERROR_STATUS', 502],
    ['413', 'UPSTREAM_REQUEST_REFUSED', 413],
  ] as const)('maps an upstream %s to %s (client status %d) without following or leaking', async (m, code, status) => {
    mode = m;
    const u = upstream();
    const err = await rejection(u.request(infoRefs()));
    expect(err.code).toBe(code);
    expect(err.delivery).toEqual({ kind: 'http', status });
    expect(JSON.stringify(err.toJSON())).not.toContain(secret);
    expect(err.message).not.toContain('evil.example');
    if (m === '500') expect(err.message).toContain('boom second line');
    expect(server.seen.at(-1)!.url.startsWith('/base/')).toBe(true);
    u.close();
  });

  it('reports an unreachable upstream', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const u = new Upstream({ name: 'gone', url: `http://127.0.0.1:${port}`, credential: { kind: 'none' } });
    const err = await rejection(u.request(infoRefs()));
    expect(err.code).toBe('UPSTREAM_UNREACHABLE');
    expect(err.data?.syscallCode).toBe('ECONNREFUSED');
    expect(err.delivery).toEqual({ kind: 'http', status: 502 });
    u.close();
  });

  it('times out an upstream that never answers', async () => {
    mode = 'hang';
    const u = upstream();
    const err = await rejection(u.request(infoRefs()));
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(err.delivery).toEqual({ kind: 'http', status: 502 });
    u.close();
  });

  it('never builds a URL outside the configured prefix', () => {
    const u = upstream();
    expect(u.repoUrl('team/app.git')).toBe(`${server.url}/base/team/app.git`);
    expect(() => u.repoUrl('../other')).toThrow(UpstreamError);
    expect(() => u.repoUrl('//evil.example/x')).toThrow(UpstreamError);
    u.close();
  });

  it('refuses URLs with credentials or other schemes', () => {
    expect(() => new Upstream({ name: 'x', url: 'http://u:p@127.0.0.1/', credential: { kind: 'none' } })).toThrow(/credentials/);
    expect(() => new Upstream({ name: 'x', url: 'file:///srv/git', credential: { kind: 'none' } })).toThrow(/http or https/);
  });
});
