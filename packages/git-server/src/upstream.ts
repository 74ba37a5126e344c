/**
 * A real Git server for the demo, `pushgate dev-upstream` and the tests: an HTTP server (on
 * 127.0.0.1:0 unless told otherwise) that runs `git http-backend` as a CGI program per request (gitprotocol-http(5), git-http-backend(1), RFC 3875). Request bodies
 * are streamed into the backend's stdin and its stdout streamed back, both with back-pressure, so
 * a clone or push of hundreds of MB passes with flat memory. Every request is logged (method,
 * path, the Authorization header exactly as received, encodings, bytes, status, the backend's
 * stderr) so tests can assert what reached the upstream and with which credential.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gitEnvironment, killGitGroup, runGit, spawnGit } from '@pushgate/core';
import { CgiResponseParser, cgiVariables, type CgiBodyLength, type CgiHead } from './cgi';
import { GitServerError } from './errors';
import { FastImport, drained } from './fast-import';
import { fastImportChange, type FileChanges } from './files';

/** What a fault hook sees of a request (before anything else is done with it). */
export interface FaultRequest {
  /** 0 for the first request the upstream received, 1 for the next, … */
  readonly index: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
}

/** A fault to inject: answer with this HTTP status, drop the connection, or (undefined) serve normally. */
export type FaultAnswer = number | 'close' | undefined;

/** Options of `startGitUpstream`. */
export interface GitUpstreamOptions {
  /** Directory holding the repositories (GIT_PROJECT_ROOT); a fresh temporary one when omitted. */
  readonly root?: string;
  /** When set, every request must carry exactly this Basic credential or it gets 401. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Called for every request first; a status or 'close' replaces the normal answer. */
  readonly fault?: (req: FaultRequest) => FaultAnswer;
  /**
   * Where to listen: 127.0.0.1 and a free port by default (tests); `pushgate dev-upstream` (docker
   * compose's demo upstream) gives a fixed address.
   */
  readonly listen?: { readonly host: string; readonly port: number };
}

/** How a logged request ended (so far). */
export type UpstreamOutcome =
  | { readonly kind: 'in-flight' }
  /** http-backend ran and its whole answer was sent; `exitCode` is the backend's. */
  | { readonly kind: 'served'; readonly exitCode: number | null }
  /** The credential was missing or wrong: 401. */
  | { readonly kind: 'unauthorized' }
  /** The path or URL was malformed: 400, http-backend not run. */
  | { readonly kind: 'bad-request'; readonly reason: string }
  /** The fault hook answered. */
  | { readonly kind: 'fault'; readonly fault: number | 'close' }
  /** The backend failed or the client went away mid-answer. */
  | { readonly kind: 'failed'; readonly error: string };

/** One request as the upstream received it. Fields fill in as the request proceeds; see `settled()`. */
export interface UpstreamRequestLog {
  /** Position in arrival order, from 0. */
  readonly id: number;
  readonly method: string;
  /** The decoded URL path, e.g. `/org/repo.git/info/refs`. */
  readonly path: string;
  /** The raw query string without `?`, e.g. `service=git-upload-pack`. */
  readonly query: string;
  /** The Authorization header exactly as received, or undefined when there was none. */
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  /** Content-Encoding of the request body (`gzip` when git compressed an upload-pack request). */
  readonly contentEncoding: string | undefined;
  /** Content-Length when the client sent one (a chunked body has none). */
  readonly contentLength: number | undefined;
  readonly transferEncoding: string | undefined;
  /** The Git-Protocol header (`version=2` for protocol v2). */
  readonly gitProtocol: string | undefined;
  readonly userAgent: string | undefined;
  /** Request body bytes as received (compressed bytes for a gzip body, de-chunked). */
  readonly requestBytes: number;
  /** Response body bytes sent. */
  readonly responseBytes: number;
  /** The HTTP status answered; undefined until decided (and for a dropped connection). */
  readonly status: number | undefined;
  /** What http-backend (and the git programs it ran) wrote to stderr, captured rather than printed. */
  readonly stderr: string;
  readonly outcome: UpstreamOutcome;
}

/** Options of `createRepo`. */
export interface CreateRepoOptions {
  readonly objectFormat?: 'sha1' | 'sha256';
  /** `true` commits a README.md; a file map commits those files; both on `main` with a fixed date. */
  readonly initialCommit?: boolean | FileChanges;
}

/** A running loopback upstream. */
export interface GitUpstream {
  /** Base URL, `http://127.0.0.1:<port>`; a repository `<name>` is at `${url}/${name}`. */
  readonly url: string;
  /** The directory holding the repositories. */
  readonly root: string;
  /** Creates a bare repository at `<root>/<name>` that accepts pushes; returns its absolute path. */
  createRepo(name: string, options?: CreateRepoOptions): Promise<string>;
  /** The URL of repository `name`, with a credential in it when given. */
  repoUrl(name: string, credential?: { readonly username: string; readonly password: string }): string;
  /** Every request received, in arrival order. */
  readonly requests: readonly UpstreamRequestLog[];
  /** Resolves once every request received so far has finished (answer sent, backend exited). */
  settled(): Promise<void>;
  /** Stops the server, kills running backends, and removes the temporary directories it made. */
  close(): Promise<void>;
}

type MutableLog = { -readonly [K in keyof UpstreamRequestLog]: UpstreamRequestLog[K] };

/**
 * Config of the server's own HOME: features real hosting services offer (so they can pass through
 * a gateway), and nothing that would run after a request ends or ask anyone anything.
 */
const SERVER_GITCONFIG = `[user]
\tname = Pushgate Upstream
\temail = upstream@pushgate.invalid
[init]
\tdefaultBranch = main
[credential]
\t# An empty value clears any helper list, so git never asks a keychain or a terminal.
\thelper =
[core]
\tautocrlf = false
[gc]
\t# Background auto-gc after a push would outlive the request and race with removing the directory.
\tauto = 0
[maintenance]
\tauto = false
[uploadpack]
\tallowFilter = true
[receive]
\tadvertisePushOptions = true
`;

const STDERR_KEEP_CHARS = 64 * 1024;

/** Author and committer of the initial commits `createRepo` makes. */
export const INITIAL_COMMIT_SIGNATURE = { name: 'Pushgate Upstream', email: 'upstream@pushgate.invalid' } as const;

/** Date of the initial commits `createRepo` makes: 2023-11-14T22:13:20Z, fixed so their ids never depend on today. */
export const INITIAL_COMMIT_TIME = 1_700_000_000;

/** `<root>/<name>` after checking `name` is a plain relative path (no `..`, no absolute, no empty segment). */
function repoPath(root: string, name: string): string {
  const segments = name.split('/');
  if (name === '' || segments.some((s) => s === '' || s === '.' || s === '..') || name.includes('\0') || name.includes('\\')) {
    throw new GitServerError('GIT_SERVER_BAD_REPO_PATH', `repository name ${JSON.stringify(name)} is not a plain relative path`, { name });
  }
  const abs = resolve(root, ...segments);
  if (!abs.startsWith(resolve(root) + sep)) {
    throw new GitServerError('GIT_SERVER_BAD_REPO_PATH', `repository name ${JSON.stringify(name)} resolves outside ${root}`, { name, root });
  }
  return abs;
}

/** Why a URL path cannot be handed to http-backend, or undefined when it can. */
function badPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'path does not start with /';
  if (path.includes('\0')) return 'path contains NUL';
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'path has an empty, "." or ".." segment';
  return undefined;
}

/** True when `header` is exactly the Basic credential `username:password`. */
function credentialMatches(header: string | undefined, auth: { username: string; password: string }): boolean {
  if (header === undefined) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  return m !== null && Buffer.from(m[1] ?? '', 'base64').toString('utf8') === `${auth.username}:${auth.password}`;
}

/** A pass-through stream that reports the bytes flowing through it. */
function counter(add: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      add(chunk.length);
      done(null, chunk);
    },
  });
}

/**
 * Streams the request body into the backend's stdin. When the backend stops reading (it answered
 * without needing the body, e.g. 403), the rest is read and dropped so the answer can still be sent.
 */
async function feedBody(req: IncomingMessage, stdin: Writable, count: (bytes: number) => void): Promise<void> {
  let open = true;
  stdin.on('error', () => {
    open = false;
  });
  for await (const chunk of req as AsyncIterable<Buffer>) {
    count(chunk.length);
    if (open && !stdin.write(chunk)) await drained(stdin);
  }
  if (open) stdin.end();
}

/** Starts a loopback upstream serving the repositories under `root` through `git http-backend`. */
export async function startGitUpstream(options: GitUpstreamOptions = {}): Promise<GitUpstream> {
  const base = await mkdtemp(join(tmpdir(), 'pushgate-upstream-'));
  const root = resolve(options.root ?? join(base, 'repos'));
  const home = join(base, 'home');
  await mkdir(root, { recursive: true });
  await mkdir(join(home, '.config'), { recursive: true });
  await writeFile(join(home, '.gitconfig'), SERVER_GITCONFIG);
  const gitVars = gitEnvironment({ home });

  /** Runs git for `createRepo`, throwing GIT_SERVER_GIT_FAILED unless it succeeds. */
  const gitOk = async (args: readonly string[], cwd: string): Promise<void> => {
    const r = await runGit({ args, cwd, home }).catch((e: unknown) => {
      throw new GitServerError('GIT_SERVER_GIT_FAILED', `cannot run git ${args[0]}: ${(e as Error).message}`, { args: [...args] }, e);
    });
    if (r.code !== 0) {
      throw new GitServerError('GIT_SERVER_GIT_FAILED', `git ${args.join(' ')} failed (exit ${r.code}) in ${cwd}:\n${r.stderr.trim()}`, {
        args: [...args],
        cwd,
        code: r.code,
        stderr: r.stderr,
      });
    }
  };

  const requests: MutableLog[] = [];
  const children = new Set<ChildProcess>();
  const inflight = new Set<Promise<void>>();
  let closing = false;

  const server = createServer((req, res) => {
    const done = handle(req, res).catch(() => {
      // handle() records its own failures in the log; nothing may escape into the process.
    });
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
  });
  // A push of hundreds of MB may take longer than Node's default 5-minute request timeout.
  server.requestTimeout = 0;

  function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(text.endsWith('\n') ? text : `${text}\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const h = req.headers;
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rawPath = target.pathname;
    const query = target.search.replace(/^\?/, '');
    let path = rawPath;
    let decodeError: string | undefined;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      decodeError = `path ${JSON.stringify(rawPath)} is not valid percent-encoding`;
    }
    const contentLength = h['content-length'] === undefined ? undefined : Number(h['content-length']);
    const entry: MutableLog = {
      id: requests.length,
      method: req.method ?? 'GET',
      path,
      query,
      authorization: h.authorization,
      contentType: h['content-type'],
      contentEncoding: h['content-encoding'],
      contentLength,
      transferEncoding: h['transfer-encoding'],
      gitProtocol: typeof h['git-protocol'] === 'string' ? h['git-protocol'] : undefined,
      userAgent: h['user-agent'],
      requestBytes: 0,
      responseBytes: 0,
      status: undefined,
      stderr: '',
      outcome: { kind: 'in-flight' },
    };
    requests.push(entry);
    const refuse = (status: number, outcome: UpstreamOutcome, text: string, headers?: Record<string, string>): void => {
      entry.status = status;
      entry.outcome = outcome;
      plain(res, status, text, headers);
      // The body is not wanted; reading it lets the connection be reused (and counts it).
      req.on('data', (chunk: Buffer) => (entry.requestBytes += chunk.length));
      req.resume();
    };

    let fault: FaultAnswer;
    try {
      fault = options.fault?.({ index: entry.id, method: entry.method, path, query, headers: h });
    } catch (e) {
      refuse(500, { kind: 'failed', error: `fault hook threw: ${String(e)}` }, 'fault hook threw');
      return;
    }
    if (fault === 'close') {
      entry.outcome = { kind: 'fault', fault };
      req.socket.destroy();
      return;
    }
    if (fault !== undefined) {
      refuse(fault, { kind: 'fault', fault }, `fault injected: ${fault}`);
      return;
    }
    if (options.auth && !credentialMatches(h.authorization, options.auth)) {
      refuse(401, { kind: 'unauthorized' }, 'authentication required', { 'www-authenticate': 'Basic realm="pushgate git-server"' });
      return;
    }
    const why = decodeError ?? badPath(path);
    if (why !== undefined) {
      refuse(400, { kind: 'bad-request', reason: why }, why);
      return;
    }

    const body: CgiBodyLength =
      contentLength !== undefined && h['transfer-encoding'] === undefined ? { kind: 'length', bytes: contentLength } : { kind: 'until-eof' };
    const port = (server.address() as AddressInfo).port;
    // Its own process group (spawnGit), so upload-pack / pack-objects die with it when a client goes away.
    const child = spawnGit({
      args: ['http-backend'],
      cwd: root,
      home,
      env: {
        ...cgiVariables({
          method: entry.method,
          pathInfo: path,
          query,
          headers: h,
          body,
          remoteAddr: req.socket.remoteAddress ?? '127.0.0.1',
          remoteUser: options.auth?.username,
          serverPort: port,
        }),
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
      },
    });
    children.add(child);
    const exited = new Promise<number | null>((resolveExit) => {
      child.on('error', (e) => {
        entry.stderr += `cannot run git http-backend: ${e.message}\n`;
        resolveExit(-1);
      });
      child.on('close', (code) => resolveExit(code));
    }).finally(() => children.delete(child));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (entry.stderr.length < STDERR_KEEP_CHARS) entry.stderr += chunk.slice(0, STDERR_KEEP_CHARS - entry.stderr.length);
    });

    const fed = feedBody(req, child.stdin, (n) => (entry.requestBytes += n)).catch((e: unknown) => {
      // The client went away mid-body: the backend would wait for the rest forever.
      killGitGroup(child);
      throw e;
    });
    const parser = new CgiResponseParser();
    const fromBackend = pipeline(child.stdout, parser);
    // Either may fail while the head is awaited; they are awaited (and their errors used) below.
    fed.catch(() => {});
    fromBackend.catch(() => {});
    try {
      let head: CgiHead;
      try {
        head = await parser.head;
      } catch (e) {
        // Its answer is already unusable; do not let it sit waiting on a slow request body.
        killGitGroup(child);
        await exited;
        const message = e instanceof Error ? e.message : String(e);
        entry.status = 502;
        entry.outcome = { kind: 'failed', error: message };
        plain(res, 502, `git http-backend gave no valid CGI response: ${message}\n${entry.stderr}`);
        await fed.catch(() => {});
        return;
      }
      entry.status = head.status;
      const headers = new Map<string, string[]>();
      for (const [name, value] of head.headers) headers.set(name, [...(headers.get(name) ?? []), value]);
      for (const [name, values] of headers) res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values);
      res.statusCode = head.status;
      if (head.reason !== '') res.statusMessage = head.reason;
      await pipeline(parser, counter((n) => (entry.responseBytes += n)), res);
      await fromBackend;
      await fed;
      entry.outcome = { kind: 'served', exitCode: await exited };
    } catch (e) {
      killGitGroup(child);
      // A half-sent answer must not look complete to the client: drop the connection.
      if (!res.writableEnded) res.destroy();
      entry.outcome = { kind: 'failed', error: e instanceof Error ? e.message : String(e) };
      await Promise.allSettled([exited, fed, fromBackend]);
    }
  }

  server.listen(options.listen?.port ?? 0, options.listen?.host ?? '127.0.0.1');
  await once(server, 'listening');
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;

  const settled = async (): Promise<void> => {
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
  };

  return {
    url,
    root,
    requests,
    settled,

    repoUrl(name, credential) {
      repoPath(root, name);
      if (credential === undefined) return `${url}/${name}`;
      const userinfo = `${encodeURIComponent(credential.username)}:${encodeURIComponent(credential.password)}`;
      return `http://${userinfo}@${url.slice('http://'.length)}/${name}`;
    },

    async createRepo(name, repoOptions = {}) {
      const abs = repoPath(root, name);
      await mkdir(dirname(abs), { recursive: true });
      await gitOk(['init', '-q', '--bare', '-b', 'main', `--object-format=${repoOptions.objectFormat ?? 'sha1'}`, abs], root);
      await gitOk(['config', 'http.receivepack', 'true'], abs);
      const initial = repoOptions.initialCommit ?? false;
      if (initial !== false) {
        const files: FileChanges = initial === true ? { 'README.md': `# ${name}\n` } : initial;
        const fi = await FastImport.start(abs, gitVars);
        try {
          await fi.commit({
            ref: 'refs/heads/main',
            author: INITIAL_COMMIT_SIGNATURE,
            committer: INITIAL_COMMIT_SIGNATURE,
            time: INITIAL_COMMIT_TIME,
            message: 'Initial commit\n',
            changes: Object.entries(files).map(([path, content]) => fastImportChange(path, content)),
          });
          await fi.finish();
        } catch (e) {
          await fi.abort();
          throw e;
        }
      }
      return abs;
    },

    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.closeAllConnections();
      for (const child of children) killGitGroup(child);
      await settled();
      await closed;
      await rm(base, { recursive: true, force: true });
    },
  };
}
