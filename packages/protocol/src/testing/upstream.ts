/**
 * A test upstream that records what crosses the wire: a loopback HTTP server in front of the real
 * `git http-backend` (run as CGI), keeping every request and response body, with the ref
 * advertisement optionally passed through filterAdvertisement. Real git clients push through it,
 * so tests can assert on the exact bytes git sends and git http-backend answers.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { filterAdvertisement, type GitService } from '../advertisement';

/** One request and its answer. */
export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly service: string | undefined;
  readonly gitProtocol: string | undefined;
  readonly requestBody: Buffer;
  readonly status: number;
  /** What the client received (after filterAdvertisement, when enabled). */
  readonly responseBody: Buffer;
  /** What git http-backend answered. */
  readonly upstreamBody: Buffer;
}

/** What a git command printed. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with `input` on stdin; never rejects for a non-zero exit. */
export function run(command: string, args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv; input?: Buffer }): Promise<RunResult & { stdoutBytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

/** Options of CaptureUpstream.start. */
export interface CaptureOptions {
  /** Put the info/refs response through filterAdvertisement (the gateway's path). */
  readonly filterAdvertisement: boolean;
}

/** A recording `git http-backend` on 127.0.0.1, with a scratch directory for repositories and clients. */
export class CaptureUpstream {
  readonly exchanges: Exchange[] = [];

  private constructor(
    readonly dir: string,
    private readonly server: Server,
    private readonly options: CaptureOptions,
  ) {}

  /** Starts the server on port 0 with a fresh temporary directory. */
  static async start(options: CaptureOptions): Promise<CaptureUpstream> {
    const dir = await mkdtemp(join(tmpdir(), 'pushgate-protocol-'));
    let upstream: CaptureUpstream | undefined;
    const server = createServer((req, res) => {
      upstream!.handle(req, res).catch((e: unknown) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
    upstream = new CaptureUpstream(dir, server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return upstream;
  }

  /** Where repositories served by the backend live. */
  get root(): string {
    return join(this.dir, 'srv');
  }

  /** The clone URL of `repo` (e.g. `up.git`). */
  url(repo: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/${repo}`;
  }

  /** An isolated environment for git: no system or user config, no prompts, no proxies. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: join(this.dir, 'home'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'A U Thor',
      GIT_AUTHOR_EMAIL: 'author@example.com',
      GIT_COMMITTER_NAME: 'C O Mitter',
      GIT_COMMITTER_EMAIL: 'committer@example.com',
      GIT_AUTHOR_DATE: '1700000000 +0000',
      GIT_COMMITTER_DATE: '1700000000 +0000',
      ...extra,
    };
  }

  /** Runs git; throws with its stderr when it fails and `mayFail` is not set. */
  async git(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; mayFail?: boolean } = {}): Promise<RunResult> {
    const result = await run('git', args, { cwd: options.cwd ?? this.dir, env: this.env(options.env) });
    if (result.code !== 0 && !options.mayFail) throw new Error(`git ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return result;
  }

  /** Calls the backend directly, as the server does, without recording. */
  async cgi(method: string, path: string, query: string, body: Buffer, gitProtocol?: string): Promise<{ status: number; body: Buffer }> {
    const service = path.endsWith('/git-receive-pack') ? 'receive-pack' : 'upload-pack';
    const result = await run('git', ['http-backend'], {
      env: this.env({
        GIT_PROJECT_ROOT: this.root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: method,
        PATH_INFO: path,
        QUERY_STRING: query,
        CONTENT_TYPE: method === 'POST' ? `application/x-git-${service}-request` : '',
        CONTENT_LENGTH: String(body.length),
        REMOTE_USER: 'x',
        REMOTE_ADDR: '127.0.0.1',
        ...(gitProtocol ? { GIT_PROTOCOL: gitProtocol } : {}),
      }),
      input: body,
    });
    const raw = result.stdoutBytes;
    const split = raw.indexOf('\r\n\r\n');
    if (split < 0) throw new Error(`http-backend answered no CGI headers: ${result.stderr}`);
    const status = /^Status: (\d+)/m.exec(raw.subarray(0, split).toString('latin1'));
    return { status: status ? Number(status[1]) : 200, body: raw.subarray(split + 4) };
  }

  /** Stops the server and removes the directory. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const gitProtocol = typeof req.headers['git-protocol'] === 'string' ? req.headers['git-protocol'] : undefined;
    const service = url.searchParams.get('service') ?? undefined;
    const answer = await this.cgi(req.method ?? 'GET', url.pathname, url.search.slice(1), body, gitProtocol);
    let responseBody = answer.body;
    if (this.options.filterAdvertisement && service && answer.status === 200) {
      const filtered = await filterAdvertisement(
        (async function* () {
          yield answer.body;
        })(),
        { service: service as GitService },
      );
      const parts: Buffer[] = [];
      for await (const c of filtered.body) parts.push(c);
      responseBody = Buffer.concat(parts);
    }
    this.exchanges.push({ method: req.method ?? 'GET', path: url.pathname, service, gitProtocol, requestBody: body, status: answer.status, responseBody, upstreamBody: answer.body });
    res.statusCode = answer.status;
    if (service) res.setHeader('Content-Type', `application/x-${service}-advertisement`);
    else res.setHeader('Content-Type', `application/x-git-${url.pathname.endsWith('receive-pack') ? 'receive' : 'upload'}-pack-result`);
    res.setHeader('Cache-Control', 'no-cache');
    res.end(responseBody);
  }
}
