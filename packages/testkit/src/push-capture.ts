/**
 * Captures the exact request bodies the git client sends for a push (gitprotocol-http(5) "Smart
 * Service git-receive-pack"): a loopback HTTP server that passes `info/refs` through to a real
 * repository, so git negotiates against its true state, and keeps every `git-receive-pack` POST
 * body instead of applying it. The push then fails on the client's side (503) and nothing changes
 * anywhere; the bodies are real pushes for replay and mutation tests.
 *
 *   const capture = await startPushCapture({ target: upstream.repoUrl('org/app.git') });
 *   await env.git(['push', `${capture.url}`, 'HEAD:main'], { cwd: work });
 *   const body = capture.bodies.at(-1)!.body;
 */
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One captured POST. */
export interface CapturedPush {
  /** The body as git sent it, gzip undone when it used Content-Encoding: gzip. */
  readonly body: Buffer;
  readonly headers: IncomingHttpHeaders;
}

/** Options of startPushCapture. */
export interface PushCaptureOptions {
  /** The repository URL `info/refs` is read from (`http://host:port/path/repo.git`). */
  readonly target: string;
  /** An Authorization header for the target, when it needs one. */
  readonly authorization?: string;
}

/** A running capture server. */
export interface PushCapture {
  /** The URL to push to: it stands for the target repository. */
  readonly url: string;
  /** Every receive-pack body received, oldest first (git's empty `0000` probe excluded). */
  readonly bodies: readonly CapturedPush[];
  close(): Promise<void>;
}

/** The path the capture server stands in for the target repository under. */
const PREFIX = '/capture/repo.git/';

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Starts a capture server on 127.0.0.1, port 0. */
export async function startPushCapture(options: PushCaptureOptions): Promise<PushCapture> {
  const target = new URL(options.target.endsWith('/') ? options.target : `${options.target}/`);
  const bodies: CapturedPush[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://capture').pathname;
    if (req.method === 'POST' && path.endsWith('/git-receive-pack')) {
      void readAll(req).then((raw) => {
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        // git probes with a bare flush before a large chunked body; the probe only needs a 200.
        if (body.equals(Buffer.from('0000'))) {
          res.writeHead(200, { 'content-type': 'application/x-git-receive-pack-result' });
          res.end();
          return;
        }
        bodies.push({ body, headers: req.headers });
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('captured, not applied\n');
      });
      return;
    }
    // Everything else (info/refs) is read from the real repository.
    const rest = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : path.replace(/^\/+/, '');
    const upstreamUrl = new URL(`${rest}${new URL(req.url ?? '/', 'http://capture').search}`, target);
    const headers: Record<string, string> = {};
    for (const name of ['accept', 'git-protocol', 'user-agent']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    if (options.authorization !== undefined) headers.authorization = options.authorization;
    const up = request(upstreamUrl, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`capture could not reach ${target.origin}: ${e.message}\n`);
    });
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${PREFIX.slice(0, -1)}`,
    bodies,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
