/**
 * The hostile-input corpus (fixtures/hostile/manifest.json) through the real gateway to a real
 * upstream. Every body is POSTed to `/local/<repo>/git-receive-pack` with a valid token, and for
 * every one: the answer names the corpus's error code in the form the manifest says (an HTTP
 * status with a text body, or `unpack`/`ng` lines of a report-status, inside side-band when the
 * request asked for it), the upstream received no receive-pack POST and its refs are unchanged,
 * the audit record and a log line carry the code. Afterwards the gateway still serves a normal
 * clone and push. The cases at git-sized limits run against a child process, which must survive
 * them with bounded memory (VmHWM from /proc/<pid>/status).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Capabilities, decodeReportResponse } from '@pushgate/protocol';
import { listAuditEvents, openDatabase, type AuditEventRecord, type Database } from '@pushgate/store';
import { testDatabases } from '@pushgate/store/testing';
import {
  HOSTILE_GATEWAYS,
  HOSTILE_REPOSITORIES,
  deltaChainPush,
  hostileCorpus,
  hostileCorpusDir,
  hostileManifest,
  type HostileGatewayName,
  type HostileManifest,
  type HostileManifestCase,
} from '@pushgate/testkit';
import { postBody, type PostAnswer } from './hostile-http';
import { startHarness, type Harness } from './testing/harness';

const MIB = 1024 * 1024;
const manifest = JSON.parse(await readFile(join(hostileCorpusDir(), 'manifest.json'), 'utf8')) as HostileManifest;
const bodies = new Map(hostileCorpus().map((c) => [c.id, c.body]));
const casesFor = (gateway: HostileGatewayName) => manifest.cases.filter((c) => c.gateway === gateway).map((c) => [c.id, c] as const);
/** A PostgreSQL test database of its own for each suite that uses one (when PostgreSQL is available). */
const postgresDatabase = async () => (await testDatabases()).find((b) => b.name === 'postgres');
const postgres = await postgresDatabase();
const childPostgres = await postgresDatabase();

describe('the hostile corpus', () => {
  it('is what its generator writes: the manifest, and every body byte for byte', () => {
    expect(hostileManifest()).toEqual(manifest);
    for (const c of manifest.cases) {
      const body = bodies.get(c.id)!;
      expect({ id: c.id, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') }).toEqual({ id: c.id, bytes: c.body.bytes, sha256: c.body.sha256 });
    }
  });

  it('covers every kind of bad input the product promises to refuse', () => {
    const codes = new Set(manifest.cases.map((c) => c.expect.code));
    for (const code of [
      'PKT_TRUNCATED', 'PKT_INVALID_LENGTH', 'LIMIT_PKT_LINE', 'PROTO_TRUNCATED', 'PROTO_BAD_REF_NAME', 'PROTO_DUPLICATE_REF', 'PROTO_UNEXPECTED_DATA',
      'PROTO_UNEXPECTED_PUSH_OPTIONS', 'PROTO_UNSUPPORTED_CAPABILITY', 'PROTO_UNSUPPORTED_OBJECT_FORMAT', 'PUSH_BAD_BODY', 'PACK_TRUNCATED',
      'PACK_OBJECT_COUNT_MISMATCH', 'PACK_BAD_TRAILER', 'PACK_ZLIB_CORRUPT', 'PACK_SIZE_MISMATCH', 'PACK_DELTA_OUT_OF_RANGE', 'PACK_DELTA_BASE_MISSING',
      'PACK_DELTA_CYCLE', 'LIMIT_DELTA_DEPTH', 'LIMIT_OBJECT_SIZE', 'LIMIT_OBJECT_COUNT', 'LIMIT_COMMANDS', 'LIMIT_PUSH_OPTIONS', 'LIMIT_COMMITS',
      'OBJ_HAS_DOTGIT', 'OBJ_HAS_DOTDOT', 'OBJ_HAS_DOT', 'OBJ_FULL_PATHNAME', 'OBJ_DUPLICATE_ENTRIES', 'OBJ_TREE_NOT_SORTED', 'OBJ_BAD_FILEMODE',
      'OBJ_MISSING_TREE', 'OBJ_BAD_TIMEZONE', 'OBJ_NUL_IN_HEADER', 'OBJ_MISSING_TAG_ENTRY', 'CHANGES_WRONG_OBJECT_TYPE', 'CHANGES_NON_COMMIT_BRANCH',
      'CHANGES_MISSING_OBJECT',
    ]) {
      expect([code, codes.has(code)]).toEqual([code, true]);
    }
  });
});

/** `bytes` as the stream a decoder reads. */
async function* bytesOf(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** What a test needs to run corpus cases against one gateway. */
interface Target {
  readonly h: Harness;
  readonly token: string;
  /** The audit events of one request (after it has been recorded); undefined when the test cannot read them. */
  audit: ((requestId: string) => Promise<AuditEventRecord[]>) | undefined;
}

/** The upstream's refs of a corpus repository, read with git from its bare directory. */
async function upstreamRefs(h: Harness, path: string): Promise<string> {
  return (await h.git.gitOk(['--git-dir', join(h.upstream.root, path), 'for-each-ref', '--format=%(objectname) %(refname)'])).stdout;
}

const receivePackPosts = (h: Harness) => h.upstream.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;

/** Creates the corpus's repositories at the upstream and checks they are in the state the bodies expect. */
async function createRepositories(h: Harness): Promise<void> {
  for (const repo of Object.values(HOSTILE_REPOSITORIES)) {
    await h.upstream.createRepo(repo.path, { objectFormat: repo.objectFormat, initialCommit: repo.files ?? false });
    if (repo.objectFormat !== 'sha1') continue;
    const expected = Object.entries(repo.refs).map(([ref, oid]) => `${oid} ${ref}\n`).join('');
    expect(await upstreamRefs(h, repo.path)).toBe(expected);
  }
}

/** Checks the answer against the manifest's expectation. */
async function checkAnswer(c: HostileManifestCase, answer: PostAnswer, requestId: string): Promise<void> {
  const e = c.expect;
  const context = { id: c.id, status: answer.status, body: answer.body.toString('latin1').slice(0, 600) };
  if (e.kind === 'http') {
    expect({ ...context, status: answer.status }).toEqual({ ...context, status: e.status });
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    expect(answer.body.toString('utf8')).toMatch(new RegExp(`^pushgate: ${e.code}: .+ \\(request id ${requestId}\\)\\n$`, 's'));
    return;
  }
  expect({ ...context, status: answer.status }).toEqual({ ...context, status: 200 });
  expect(answer.headers['content-type']).toBe('application/x-git-receive-pack-result');
  const capabilities = Capabilities.parse(e.sideband ? 'report-status side-band-64k' : 'report-status');
  const decoded = await decodeReportResponse(bytesOf(answer.body), { capabilities });
  if (decoded.kind !== 'report') throw new Error(`${c.id}: expected a report, got ${JSON.stringify(decoded)}`);
  const { report } = decoded;
  if (e.unpack === 'ok') expect({ id: c.id, unpack: report.unpack }).toEqual({ id: c.id, unpack: { ok: true } });
  else expect({ id: c.id, unpack: report.unpack.ok ? 'ok' : report.unpack.error }).toEqual({ id: c.id, unpack: expect.stringMatching(new RegExp(`^${e.code}: `)) });
  const refs = Object.fromEntries(report.refs.map((r) => [r.ref, r.ok ? 'ok' : r.reason]));
  const want = Object.fromEntries(
    Object.entries(e.refs).map(([ref, what]) => [ref, expect.stringMatching(what === 'refused' ? new RegExp(`^${e.code}: `) : /^not applied: /)]),
  );
  expect({ id: c.id, refs }).toEqual({ id: c.id, refs: want });
  if (e.sideband) {
    expect(decoded.messages).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^pushgate: push refused: ${e.code}: `)), `pushgate: nothing was sent to the upstream (request id ${requestId})`]),
    );
  } else {
    // A bare report: nothing but pkt-lines of text, no side-band framing.
    expect(answer.body.subarray(4, 11).toString('latin1')).toBe('unpack ');
  }
}

/** POSTs one corpus case and checks everything the product promises about it. */
async function runCase(t: Target, c: HostileManifestCase): Promise<void> {
  const { h, token } = t;
  const repo = HOSTILE_REPOSITORIES[c.repo];
  const requestId = `hostile-${c.id}`;
  const postsBefore = receivePackPosts(h);
  const refsBefore = await upstreamRefs(h, repo.path);
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/x-git-receive-pack-request',
    'x-request-id': requestId,
    ...(c.contentEncoding === undefined ? {} : { 'content-encoding': c.contentEncoding }),
  };
  const answer = await postBody(`${h.gateway.url}/local/${repo.path}/git-receive-pack`, headers, bodies.get(c.id)!);
  await checkAnswer(c, answer, requestId);

  // Nothing reached the upstream: no receive-pack request at all, and its refs are as they were.
  await h.upstream.settled();
  expect({ id: c.id, posts: receivePackPosts(h) }).toEqual({ id: c.id, posts: postsBefore });
  expect(await upstreamRefs(h, repo.path)).toBe(refsBefore);

  // The audit record and the log say what happened and why.
  if (t.audit !== undefined) {
    const rows = await t.audit(requestId);
    const request = rows.find((r) => r.kind === 'http.request');
    expect({ id: c.id, outcome: request?.outcome, code: (request?.detail as { error?: { code?: string } } | null)?.error?.code }).toEqual({
      id: c.id,
      outcome: c.outcome ?? 'client-error',
      code: c.expect.code,
    });
  }
  const logged = h.gateway.logs.some((line) => line.includes(`"requestId":"${requestId}"`) && line.includes(`"code":"${c.expect.code}"`));
  expect({ id: c.id, logged }).toEqual({ id: c.id, logged: true });
}

/** A normal clone and push through the gateway, relayed and recorded: it still works. */
async function stillServes(t: Target, name: string): Promise<void> {
  const { h, token } = t;
  const repo = HOSTILE_REPOSITORIES['one-commit'];
  const work = join(h.git.dir, name);
  await h.git.gitOk(['clone', '-q', h.remote(repo.path, token), work]);
  const tip = await h.git.commitFiles(work, { [`${name}.txt`]: 'after the corpus\n' }, `a normal push after the corpus (${name})`);
  const pushed = await h.git.git(['push', 'origin', `HEAD:refs/heads/${name}`], { cwd: work });
  expect(pushed.code).toBe(0);
  expect((await h.git.gitOk(['--git-dir', join(h.upstream.root, repo.path), 'rev-parse', `refs/heads/${name}`])).stdout.trim()).toBe(tip);
}

describe('the hostile corpus through the gateway (strict limits, in-process, PGlite)', () => {
  const t = {} as { -readonly [K in keyof Target]: Target[K] };

  beforeAll(async () => {
    t.h = await startHarness({ config: { limits: HOSTILE_GATEWAYS.strict.limits, log: { level: 'info' } } });
    t.token = await t.h.token({ sub: 'mallory' });
    t.audit = async (requestId) => {
      await t.h.inProcess!.idle();
      return listAuditEvents(t.h.inProcess!.database, { requestId });
    };
    await createRepositories(t.h);
  }, 60_000);
  afterAll(async () => {
    await t.h?.stop();
  });

  it.each(casesFor('strict'))('%s', async (_id, c) => {
    await runCase(t, c);
  });

  it('still serves a normal clone and push afterwards', async () => {
    await stillServes(t, 'after-strict');
  });
});

(postgres === undefined ? describe.skip : describe)('the hostile corpus on PostgreSQL (a representative subset)', () => {
  const db = postgres!;
  const t = {} as { -readonly [K in keyof Target]: Target[K] };
  const subset = new Set(['pkt-length-not-hex', 'refname-dotdot', 'gzip-truncated-in-pack', 'pack-bad-trailer', 'ref-delta-cycle', 'tree-dotgit-hfs-zwnj', 'commit-bad-timezone', 'one-bad-ref-of-two', 'too-many-commits']);

  beforeAll(async () => {
    t.h = await startHarness({ db, config: { limits: HOSTILE_GATEWAYS.strict.limits, log: { level: 'info' } } });
    t.token = await t.h.token({ sub: 'mallory' });
    t.audit = async (requestId) => {
      await t.h.inProcess!.idle();
      return listAuditEvents(t.h.inProcess!.database, { requestId });
    };
    await createRepositories(t.h);
  }, 60_000);
  afterAll(async () => {
    await t.h?.stop();
    await db.cleanup();
  });

  it.each(casesFor('strict').filter(([id]) => subset.has(id)))('%s', async (_id, c) => {
    await runCase(t, c);
  });
});

async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

describe('the hostile corpus at git-sized limits (child process)', () => {
  const t = {} as { -readonly [K in keyof Target]: Target[K] };
  const limits = HOSTILE_GATEWAYS.standard.limits;
  let baseline: { rss: number; hwm: number };
  let auditDb: Database | undefined;

  beforeAll(async () => {
    // The test reads the child's audit record from PostgreSQL (the embedded database belongs to the
    // running process); without PostgreSQL the child runs on its embedded one, checked by its logs.
    t.h = await startHarness({ mode: 'child', ...(childPostgres === undefined ? {} : { db: childPostgres }), config: { limits, log: { level: 'info' } } });
    t.token = await t.h.token({ sub: 'mallory' });
    if (childPostgres !== undefined) {
      const db = (auditDb = await openDatabase({ ...(await childPostgres.options()), dataDir: t.h.gateway.dataDir }));
      t.audit = async (requestId) => {
        // The child records a request after answering it; wait for its row.
        for (let i = 0; i < 100; i++) {
          const rows = await listAuditEvents(db, { requestId });
          if (rows.some((r) => r.kind === 'http.request')) return rows;
          await new Promise((r) => setTimeout(r, 50));
        }
        return listAuditEvents(db, { requestId });
      };
    }
    await createRepositories(t.h);
    // Warm up (code paths, the mirror), then reset the peak: what follows is the corpus's.
    await stillServes(t, 'warm-up');
    await writeFile(`/proc/${t.h.gateway.pid!}/clear_refs`, '5');
    baseline = await memory(t.h.gateway.pid!);
  }, 120_000);
  afterAll(async () => {
    await auditDb?.close();
    await t.h?.stop();
    await childPostgres?.cleanup();
  });

  it.each(casesFor('standard'))('%s', async (_id, c) => {
    await runCase(t, c);
  });

  it('survived them all in bounded memory: growth stays within one object at the limit, never the declared or inflated sizes', async () => {
    const after = await memory(t.h.gateway.pid!);
    expect(t.h.gateway.pid).toBeDefined();
    expect(await Promise.race([t.h.gateway.exited!.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 100))])).toBe('running');
    // One buffer of maxObjectBytes (the bomb declaring exactly the limit) plus V8's slack; the bombs
    // inflate to 256 MiB and declare up to 1 TiB, the chain resolves 4096 objects.
    expect(after.hwm - baseline.rss).toBeLessThan(limits.maxObjectBytes + 64 * MIB);
  });

  it('accepts a chain of exactly 4095 deltas (the limit is exact) and still serves a normal clone and push', async () => {
    const { body, commit } = deltaChainPush(limits.maxDeltaDepth, 'refs/heads/chain-4095', ['report-status', 'side-band-64k', 'ofs-delta', 'agent=pushgate-hostile/1']);
    const repo = HOSTILE_REPOSITORIES['one-commit'];
    const answer = await postBody(`${t.h.gateway.url}/local/${repo.path}/git-receive-pack`, { authorization: `Bearer ${t.token}`, 'content-type': 'application/x-git-receive-pack-request' }, body);
    expect(answer.status).toBe(200);
    const decoded = await decodeReportResponse(bytesOf(answer.body), { capabilities: Capabilities.parse('report-status side-band-64k') });
    expect(decoded).toMatchObject({ kind: 'report', report: { unpack: { ok: true }, refs: [{ ref: 'refs/heads/chain-4095', ok: true }] } });
    expect((await t.h.git.gitOk(['--git-dir', join(t.h.upstream.root, repo.path), 'rev-parse', 'refs/heads/chain-4095'])).stdout.trim()).toBe(commit);
    await stillServes(t, 'after-standard');
  });
});
