/**
 * Helpers of the held-push tests: the holds API as a reviewer's (or the pusher's) client calls
 * it, a held push made with the real git client, waiting on a condition (never on time), and what
 * the upstream saw and has: its refs, each ref's reflog, and the git-receive-pack POSTs in its
 * request log — the proof that a push was sent once.
 */
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { GitEnv, GitUpstream, UpstreamRequestLog } from '@pushgate/testkit';
import { startHarness, type Harness, type HarnessOptions } from './harness';

/** A JSON value as the API answers it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** One answer of the API: its status and its JSON body (undefined when the body was not JSON). */
export interface ApiAnswer {
  readonly status: number;
  readonly body: Json | undefined;
  /** The body as text, for failure messages. */
  readonly text: string;
}

/**
 * A hold as `GET /api/holds/<id>` shows it (the fields the tests read): `state` names the state,
 * whose fields (`attempts`, `moved`, `comment`, `by`, `expiresAt` …) sit beside it.
 */
export interface HoldView {
  readonly id: string;
  readonly pushId: string;
  readonly state: string;
  readonly digest: string;
  readonly repo: string;
  readonly attempts?: number;
  readonly expiresAt?: string;
  readonly approvals: readonly { readonly by: { readonly sub: string }; readonly [key: string]: Json | undefined | object }[];
  readonly [key: string]: Json | undefined | object;
}

/** The holds API of one gateway, called with one token (Bearer). */
export interface HoldsApi {
  list(query?: string): Promise<ApiAnswer>;
  get(id: string): Promise<ApiAnswer>;
  /** `GET /api/holds/<id>`, throwing unless it answers 200. */
  hold(id: string): Promise<HoldView>;
  approve(id: string, body?: { comment?: string; digest?: string }): Promise<ApiAnswer>;
  reject(id: string, body: { comment?: string }): Promise<ApiAnswer>;
  cancel(id: string, body?: { comment?: string }): Promise<ApiAnswer>;
}

/** The holds API at `baseUrl` (a gateway's URL) as the holder of `token` calls it. */
export function holdsApi(baseUrl: string, token: string): HoldsApi {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer> => {
    const res = await fetch(`${baseUrl}/api/holds${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Json | undefined;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      json = undefined;
    }
    return { status: res.status, body: json, text };
  };
  const id_ = (id: string) => `/${encodeURIComponent(id)}`;
  return {
    list: (query = '') => call('GET', query === '' ? '' : `?${query}`),
    get: (id) => call('GET', id_(id)),
    async hold(id) {
      const a = await call('GET', id_(id));
      if (a.status !== 200) throw new Error(`GET /api/holds/${id} answered ${a.status}: ${a.text}`);
      return holdOf(a);
    },
    approve: (id, body = {}) => call('POST', `${id_(id)}/approve`, body),
    reject: (id, body) => call('POST', `${id_(id)}/reject`, body),
    cancel: (id, body = {}) => call('POST', `${id_(id)}/cancel`, body),
  };
}

/** The hold an API answer carries (`GET /api/holds/<id>` and the actions answer with the hold). */
export function holdOf(answer: ApiAnswer): HoldView {
  const body = answer.body as { id?: unknown } | undefined;
  if (body === undefined || body === null || typeof body !== 'object' || typeof body.id !== 'string') {
    throw new Error(`no hold in the answer (${answer.status}): ${answer.text}`);
  }
  return body as unknown as HoldView;
}

/** The error code of an API error answer (`{error:{code,message}}`). */
export function errorCode(answer: ApiAnswer): string | undefined {
  const error = (answer.body as { error?: { code?: unknown } } | undefined)?.error;
  return typeof error?.code === 'string' ? error.code : undefined;
}

/** The ids of the holds in a list answer (`{holds: […]}`). */
export function listedIds(answer: ApiAnswer): string[] {
  const items = (answer.body as { holds?: unknown } | undefined)?.holds;
  if (!Array.isArray(items)) throw new Error(`no list of holds in the answer (${answer.status}): ${answer.text}`);
  return items.map((h) => (h as { id: string }).id);
}

/** Calls `probe` until it returns something other than undefined, or fails after `timeoutMs` saying what was awaited. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the hold's state is one of `kinds` and returns the hold. */
export async function waitForState(api: HoldsApi, id: string, kinds: readonly string[], timeoutMs?: number): Promise<HoldView> {
  let seen = '';
  try {
    return await waitFor(
      `hold ${id} to be ${kinds.join(' or ')}`,
      async () => {
        const h = await api.hold(id);
        seen = JSON.stringify({ state: h.state, attempts: h.attempts, lastError: h.lastError, message: h.message });
        return kinds.includes(h.state) ? h : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message} (last state ${seen})`);
  }
}

/** The URL of `repo` on the upstream `local` of the gateway at `gatewayUrl`, with `token` as the Basic password. */
export function gatewayRemote(gatewayUrl: string, repo: string, token: string): string {
  const url = new URL(`${gatewayUrl}/local/${repo}`);
  url.username = 'x-token';
  url.password = token;
  return url.toString();
}

/** A push the gateway held. */
export interface HeldPush {
  readonly id: string;
  readonly code: number;
  readonly stderr: string;
}

/** The hold id in git's output of a held push (`held for approval (<id>)` or the review link). */
export function holdIdIn(stderr: string): string | undefined {
  return /held for approval \(([A-Za-z0-9_-]+)\)/.exec(stderr)?.[1] ?? /\/review\/holds\/([A-Za-z0-9_-]+)/.exec(stderr)?.[1];
}

/**
 * Pushes with the real git client (`git push <remote> <refspecs>` in `work`, with X-Request-Id
 * `requestId` when given) and returns the hold it made, throwing when the push was not held.
 */
export async function pushHeld(git: GitEnv, work: string, remote: string, refspecs: readonly string[], requestId?: string): Promise<HeldPush> {
  const extra = requestId === undefined ? [] : ['-c', `http.extraHeader=X-Request-Id: ${requestId}`];
  const r = await git.git([...extra, 'push', '--porcelain', remote, ...refspecs], { cwd: work });
  const id = holdIdIn(r.stderr) ?? holdIdIn(r.stdout);
  if (id === undefined) throw new Error(`the push was not held (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return { id, code: r.code, stderr: `${r.stdout}\n${r.stderr}` };
}

/** The refs of the upstream repository `repo`, read from its directory. */
export async function upstreamRefs(git: GitEnv, upstream: GitUpstream, repo: string): Promise<Map<string, string>> {
  const out = (await git.gitOk(['--git-dir', join(upstream.root, repo), 'for-each-ref', '--format=%(refname) %(objectname)'])).stdout;
  return new Map(
    out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(' ') as [string, string]),
  );
}

/** Makes the upstream repository keep a reflog of every ref (a bare repository keeps none by default). */
export async function keepReflogs(git: GitEnv, upstream: GitUpstream, repo: string): Promise<void> {
  await git.gitOk(['--git-dir', join(upstream.root, repo), 'config', 'core.logAllRefUpdates', 'always']);
}

/** How many times the upstream set `ref` to `oid`, from its reflog (see keepReflogs). */
export async function timesSetTo(git: GitEnv, upstream: GitUpstream, repo: string, ref: string, oid: string): Promise<number> {
  const r = await git.git(['--git-dir', join(upstream.root, repo), 'reflog', 'show', '--format=%H', ref]);
  if (r.code !== 0) return 0;
  return r.stdout.split('\n').filter((l) => l === oid).length;
}

/** The git-receive-pack POSTs the upstream received for `repo` (every one, whatever its answer). */
export function receivePackPosts(upstream: GitUpstream, repo: string): UpstreamRequestLog[] {
  return upstream.requests.filter((r) => r.method === 'POST' && r.path === `/${repo}/git-receive-pack`);
}

/** A git-receive-pack POST as the upstream's log has it, in a word or two: `200 served`, `fault 503`, `200 failed: …`. */
export function postOutcome(r: UpstreamRequestLog): string {
  const o = r.outcome;
  return o.kind === 'fault' ? `fault ${o.fault}` : o.kind === 'failed' ? `${r.status ?? '-'} failed: ${o.error}` : `${r.status ?? '-'} ${o.kind}`;
}

/**
 * The outcomes (see postOutcome) of every git-receive-pack POST the upstream received for `repo`,
 * once each has finished: a relay's report can reach the gateway before http-backend has exited
 * and the log says `served`.
 */
export async function receivePackOutcomes(upstream: GitUpstream, repo: string): Promise<string[]> {
  await upstream.settled();
  return receivePackPosts(upstream, repo).map(postOutcome);
}

/** A receive hook of an upstream repository that waits for the test to let it go. */
export interface GateHook {
  /** Resolves once a push has reached the hook. */
  reached(timeoutMs?: number): Promise<void>;
  /**
   * Lets every waiting (and later) run of the hook go on; with `refuse`, the runs waiting now and
   * later fail (a pre-receive that fails leaves every ref where it was) until `release()` again.
   */
  release(options?: { readonly refuse?: boolean }): Promise<void>;
}

/**
 * Installs `pre-receive` (runs before any ref moves) or `post-receive` (after the refs moved,
 * before the upstream's answer ends) in the upstream repository: it records that it was reached
 * and waits until released, so a relay can be caught in flight. The upstream does not stop a
 * receive-pack whose client went away while a hook runs: what it does is decided by the release.
 * A hook never released gives up after `maxWaitSec` (failing), so a broken test leaves no process.
 */
export async function gateHook(repoDir: string, hook: 'pre-receive' | 'post-receive', maxWaitSec = 300): Promise<GateHook> {
  const reachedFile = join(repoDir, `${hook}.reached`);
  const releaseFile = join(repoDir, `${hook}.release`);
  const refuseFile = join(repoDir, `${hook}.refuse`);
  const script = `#!/bin/sh
cat >/dev/null
: > '${reachedFile}'
i=0
while [ ! -e '${releaseFile}' ]; do
  i=$((i + 1))
  if [ "$i" -gt ${maxWaitSec * 10} ]; then echo "gate not released" >&2; exit 1; fi
  sleep 0.1
done
if [ -e '${refuseFile}' ]; then echo "refused by the test's gate" >&2; exit 1; fi
exit 0
`;
  const path = join(repoDir, 'hooks', hook);
  await writeFile(path, script);
  await chmod(path, 0o755);
  return {
    reached: (timeoutMs) => waitFor(`the upstream's ${hook} hook to be reached`, () => (existsSync(reachedFile) ? true : undefined), timeoutMs).then(() => undefined),
    async release(options = {}) {
      if (options.refuse === true) await writeFile(refuseFile, '');
      else await rm(refuseFile, { force: true });
      await writeFile(releaseFile, '');
    },
  };
}

/** The policy of the hold tests: deploy/** needs one release manager; auth/** two people from release-managers or security. */
export const HOLD_TEST_POLICY = {
  rules: [
    { id: 'protected-deploy', paths: ['deploy/**'], action: 'hold', approvers: { groups: ['release-managers'], count: 1 } },
    { id: 'auth-review', paths: ['auth/**'], action: 'hold', approvers: { groups: ['release-managers', 'security'], count: 2 } },
  ],
};

/** Short relay settings (`holds.relay`), so a retry or a lease expiry happens within a test. */
export const HOLD_TEST_RELAY = { lease: '2s', retryInitial: '1s', retryMax: '2s' };

/** The files on main of every repository `HoldsWorld.repo` makes. */
export const HOLD_TEST_FILES = { 'README.md': '# app\n', 'deploy/app.yaml': 'replicas: 1\n', 'auth/policy.txt': 'allow: staff\n', 'src/app.txt': 'v1\n' };

/**
 * Who is who: alice pushes (no approver group); carol pushes and is a release manager herself;
 * rita and ravi are release managers, sam is in security, bea in both; olga is in no group.
 */
export const HOLD_TEST_PEOPLE = {
  alice: { sub: 'alice', email: 'alice@example.com', groups: ['developers'] },
  carol: { sub: 'carol', email: 'carol@example.com', groups: ['developers', 'release-managers'] },
  rita: { sub: 'rita', email: 'rita@example.com', groups: ['release-managers'] },
  ravi: { sub: 'ravi', email: 'ravi@example.com', groups: ['release-managers'] },
  sam: { sub: 'sam', email: 'sam@example.com', groups: ['security'] },
  bea: { sub: 'bea', email: 'bea@example.com', groups: ['release-managers', 'security'] },
  olga: { sub: 'olga', email: 'olga@example.com', groups: [] },
} as const;

/** One of HOLD_TEST_PEOPLE. */
export type Who = keyof typeof HOLD_TEST_PEOPLE;

/** A fresh hold encryption key (`PUSHGATE_HOLD_KEY`: 32 random bytes, base64). */
export function holdKey(): string {
  return randomBytes(32).toString('base64');
}

/** A harness for held pushes: everyone's token, the API as each of them, and repositories to push to. */
export interface HoldsWorld {
  readonly h: Harness;
  readonly tokens: Record<Who, string>;
  /** The API at `gatewayUrl` (the harness's gateway by default) as `who`. */
  api(who: Who, gatewayUrl?: string): HoldsApi;
  /** A fresh upstream repository `<name>.git` with HOLD_TEST_FILES on main (keeping reflogs), and a clone of it. */
  repo(name: string): Promise<{ repo: string; dir: string; work: string; base: string }>;
  /** The upstream's id of `ref` (main by default) in `repo`. */
  ref(repo: string, ref?: string): Promise<string | undefined>;
}

/** Starts a harness (see startHarness) and mints a token for each of HOLD_TEST_PEOPLE. */
export async function startHoldsWorld(options: HarnessOptions): Promise<HoldsWorld> {
  const h = await startHarness(options);
  const tokens = {} as Record<Who, string>;
  for (const who of Object.keys(HOLD_TEST_PEOPLE) as Who[]) tokens[who] = await h.token(HOLD_TEST_PEOPLE[who]);
  return {
    h,
    tokens,
    api: (who, gatewayUrl = h.gateway.url) => holdsApi(gatewayUrl, tokens[who]),
    async repo(name) {
      const repo = `${name}.git`;
      const dir = await h.upstream.createRepo(repo, { initialCommit: HOLD_TEST_FILES });
      await keepReflogs(h.git, h.upstream, repo);
      const work = join(h.git.dir, 'work', name);
      await h.git.gitOk(['clone', '-q', h.upstream.repoUrl(repo, { username: 'x-access-token', password: h.secret }), work]);
      return { repo, dir, work, base: await h.git.revParse(work, 'HEAD') };
    },
    async ref(repo, ref = 'refs/heads/main') {
      return (await upstreamRefs(h.git, h.upstream, repo)).get(ref);
    },
  };
}
