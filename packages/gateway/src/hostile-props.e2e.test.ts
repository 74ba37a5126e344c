/**
 * Property tests of the push route, end to end: random bytes as a receive-pack body, and
 * mutations (bit flips, truncations, splices, duplicated and deleted regions) of real pushes
 * captured from the git client. Every answer must be a coded refusal (HTTP 4xx with a text body,
 * or a report whose `unpack`/`ng` lines carry a code), never a 5xx or INTERNAL, never a hang; and
 * nothing may reach the upstream unless it was still a valid push — which the upstream, running
 * git's receive-pack with receive.fsckObjects, must then accept (`unpack ok`).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Capabilities, decodeReportResponse } from '@pushgate/protocol';
import { HOSTILE_GATEWAYS, startPushCapture, type PushCapture } from '@pushgate/testkit';
import { basicAuthorization } from '@pushgate/relay';
import { postBody } from './hostile-http';
import { startHarness, type Harness } from './testing/harness';

/** A capture to mutate: the body, and the Content-Encoding it is sent with. */
interface Seed {
  readonly name: string;
  readonly body: Buffer;
  readonly encoding?: 'gzip';
}

/** How one answer was classified. */
type Verdict = 'http-refused' | 'report-refused' | 'no-commands' | 'relayed';

const CODE = /^[A-Z]+(?:_[A-Z0-9]+)+: /;
const REPO = 'props/app.git';

async function* bytesOf(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

describe('random and mutated pushes through the gateway', () => {
  let h: Harness;
  let token: string;
  let upstreamRepo: string;
  let baseRefs: string;
  const seeds: Seed[] = [];

  const refsNow = async () => (await h.git.gitOk(['--git-dir', upstreamRepo, 'for-each-ref', '--format=%(objectname) %(refname)'])).stdout;
  const receivePackPosts = () => h.upstream.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;

  /** Puts the upstream's refs back as they were before a relayed (valid) mutation changed them. */
  async function restoreRefs(): Promise<void> {
    const want = new Map(baseRefs.trim().split('\n').map((l) => [l.split(' ')[1], l.split(' ')[0]] as const));
    for (const line of (await refsNow()).trim().split('\n').filter(Boolean)) {
      const [oid, ref] = line.split(' ');
      if (!want.has(ref)) await h.git.gitOk(['--git-dir', upstreamRepo, 'update-ref', '-d', ref]);
      else if (want.get(ref) !== oid) await h.git.gitOk(['--git-dir', upstreamRepo, 'update-ref', ref, want.get(ref)!]);
    }
    for (const [ref, oid] of want) await h.git.gitOk(['--git-dir', upstreamRepo, 'update-ref', ref, oid]);
    expect(await refsNow()).toBe(baseRefs);
  }

  /** POSTs one body and checks the promises; returns how it was answered. */
  async function judge(body: Buffer, encoding: string | undefined): Promise<Verdict> {
    const posts = receivePackPosts();
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/x-git-receive-pack-request' };
    if (encoding !== undefined) headers['content-encoding'] = encoding;
    // A hang is a failure: every answer must come well within this.
    const answer = await postBody(`${h.gateway.url}/local/${REPO}/git-receive-pack`, headers, body, 20_000);
    const text = answer.body.toString('latin1');
    const context = { status: answer.status, text: text.slice(0, 300) };
    expect({ ...context, serverError: answer.status >= 500 }).toEqual({ ...context, serverError: false });
    expect(text).not.toContain('INTERNAL');
    await h.upstream.settled();
    const relayed = receivePackPosts() > posts;

    if (answer.status !== 200) {
      expect({ ...context, relayed }).toEqual({ ...context, relayed: false });
      expect(text).toMatch(/^pushgate: [A-Z]+(?:_[A-Z0-9]+)+: /);
      expect(await refsNow()).toBe(baseRefs);
      return 'http-refused';
    }
    if (answer.body.length === 0) {
      // No commands at all (git's receive-pack answers such a body with nothing too).
      expect(relayed).toBe(false);
      expect(await refsNow()).toBe(baseRefs);
      return 'no-commands';
    }
    // A report: on side-band when its first packet starts with a band byte, bare otherwise.
    const sideband = answer.body[4] === 1 || answer.body[4] === 2 || answer.body[4] === 3;
    const decoded = await decodeReportResponse(bytesOf(answer.body), { capabilities: Capabilities.parse(sideband ? 'report-status side-band-64k' : 'report-status') });
    if (!relayed) {
      expect({ ...context, kind: decoded.kind }).toEqual({ ...context, kind: 'report' });
      if (decoded.kind !== 'report') return 'report-refused';
      const reasons = [...(decoded.report.unpack.ok ? [] : [decoded.report.unpack.error]), ...decoded.report.refs.map((r) => (r.ok ? 'ok' : r.reason))];
      expect(reasons.some((r) => CODE.test(r))).toBe(true);
      for (const r of reasons) expect(r).toMatch(/^(?:[A-Z]+(?:_[A-Z0-9]+)+: |not applied: )/);
      expect(await refsNow()).toBe(baseRefs);
      return 'report-refused';
    }
    // It was still a valid push: git itself, checking every object, must have taken the pack.
    if (decoded.kind === 'report') expect({ ...context, unpack: decoded.report.unpack }).toEqual({ ...context, unpack: { ok: true } });
    else expect((await h.git.git(['--git-dir', upstreamRepo, 'fsck', '--strict', '--no-dangling'])).code).toBe(0);
    await restoreRefs();
    return 'relayed';
  }

  beforeAll(async () => {
    h = await startHarness({ config: { limits: HOSTILE_GATEWAYS.strict.limits, log: { level: 'warn' } } });
    token = await h.token({ sub: 'fuzzer' });
    const big = Array.from({ length: 300 }, (_, i) => `line ${i} of a file long enough for git to send a delta against it\n`).join('');
    upstreamRepo = await h.upstream.createRepo(REPO, { initialCommit: { 'README.md': 'hello\n', 'big.txt': big } });
    // The oracle: the upstream checks every object it is given, as git's fsck does.
    await h.git.gitOk(['--git-dir', upstreamRepo, 'config', 'receive.fsckObjects', 'true']);
    baseRefs = await refsNow();

    // Real pushes, captured against the upstream's true state (so they are thin where git makes them thin).
    const credential = { username: 'x-access-token', password: h.secret };
    const capture: PushCapture = await startPushCapture({ target: h.upstream.repoUrl(REPO), authorization: basicAuthorization(credential.username, credential.password) });
    try {
      const work = join(h.git.dir, 'work');
      await h.git.gitOk(['clone', '-q', h.upstream.repoUrl(REPO, credential), work]);
      const push = async (name: string, args: string[]) => {
        const before = capture.bodies.length;
        await h.git.git(['push', ...args], { cwd: work });
        expect(capture.bodies.length).toBe(before + 1);
        seeds.push({ name, body: capture.bodies.at(-1)!.body });
      };
      await h.git.commitFiles(work, { 'big.txt': `${big}one more line\n`, 'src/a.txt': 'a\n' }, 'grow big, add a');
      await h.git.commitFiles(work, { 'src/a.txt': 'a\nb\n', 'README.md': null }, 'edit a, drop the README');
      await push('thin fast-forward of main (quiet)', [capture.url, 'HEAD:refs/heads/main']);
      await h.git.gitOk(['tag', 'v1'], { cwd: work });
      await h.git.annotatedTag(work, 'v2', 'release two');
      await push('branch and two tags (progress)', ['--progress', capture.url, 'HEAD:refs/heads/feature', 'v1', 'v2']);
      await push('push options', ['-o', 'ci.skip', '-o', 'agent-session=42', capture.url, 'HEAD:refs/heads/main']);
      await push('delete and create', [capture.url, ':refs/heads/main', 'HEAD:refs/heads/renamed']);
    } finally {
      await capture.close();
    }
    seeds.push({ name: 'thin fast-forward of main, gzip', body: gzipSync(seeds[0].body), encoding: 'gzip' });
    // Every seed as captured is a valid push the gateway relays (the mutations start from good input).
    for (const seed of seeds) expect([seed.name, await judge(seed.body, seed.encoding)]).toEqual([seed.name, 'relayed']);
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('answers random bytes with a coded 4xx or report, and relays nothing', async () => {
    const afterCommand = (tail: Uint8Array) =>
      Buffer.concat([Buffer.from(seeds[0].body.subarray(0, seeds[0].body.indexOf('0000PACK') + 4)), Buffer.from(tail)]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
          // Hex-looking prefixes get past the first length check more often.
          fc.tuple(fc.constantFrom('0000', '0004', '0032', '00a0', 'fff0', 'PACK'), fc.uint8Array({ maxLength: 256 })).map(([p, b]) => Buffer.concat([Buffer.from(p), b])),
          // Valid commands, then random bytes where the pack belongs.
          fc.uint8Array({ maxLength: 512 }).map(afterCommand),
          fc.uint8Array({ maxLength: 256 }).map((b) => afterCommand(Buffer.concat([Buffer.from('PACK\0\0\0\x02\0\0\0\x03', 'latin1'), b]))),
        ),
        async (body) => {
          expect(await judge(body, undefined)).not.toBe('relayed');
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);

  it('answers mutated real pushes with a coded refusal, or relays them only when git accepts them', async () => {
    type Mutation =
      | { kind: 'flip'; at: number; bit: number }
      | { kind: 'truncate'; at: number }
      | { kind: 'splice'; at: number; bytes: Uint8Array }
      | { kind: 'duplicate'; from: number; length: number; to: number }
      | { kind: 'delete'; from: number; length: number };
    // Positions are taken modulo the body's length; small ones land in the commands more often.
    const position = fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 1 << 20 }));
    const mutation: fc.Arbitrary<Mutation> = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: position }),
      fc.record({ kind: fc.constant('splice' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
      fc.record({ kind: fc.constant('duplicate' as const), from: position, length: fc.integer({ min: 1, max: 200 }), to: position }),
      fc.record({ kind: fc.constant('delete' as const), from: position, length: fc.integer({ min: 1, max: 64 }) }),
    );
    const apply = (body: Buffer, m: Mutation): Buffer => {
      const n = Math.max(body.length, 1);
      switch (m.kind) {
        case 'flip': {
          const out = Buffer.from(body);
          if (out.length > 0) out[m.at % n] ^= 1 << m.bit;
          return out;
        }
        case 'truncate':
          return body.subarray(0, m.at % n);
        case 'splice': {
          const at = m.at % n;
          return Buffer.concat([body.subarray(0, at), m.bytes, body.subarray(Math.min(body.length, at + m.bytes.length))]);
        }
        case 'duplicate': {
          const from = m.from % n;
          const to = m.to % n;
          return Buffer.concat([body.subarray(0, to), body.subarray(from, from + m.length), body.subarray(to)]);
        }
        case 'delete': {
          const from = m.from % n;
          return Buffer.concat([body.subarray(0, from), body.subarray(from + m.length)]);
        }
      }
    };
    const seen: Record<Verdict, number> = { 'http-refused': 0, 'report-refused': 0, 'no-commands': 0, relayed: 0 };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (which, mutations) => {
        const seed = seeds[which];
        // gzip seeds are mutated after compression: the gateway must survive a broken gzip stream too.
        const body = mutations.reduce(apply, seed.body);
        seen[await judge(body, seed.encoding)]++;
      }),
      { numRuns: 120 },
    );
    // The runs reached both the decoder's refusals and the pack's, not just one of them.
    expect(seen['http-refused']).toBeGreaterThan(0);
    expect(seen['report-refused']).toBeGreaterThan(0);
  }, 180_000);

  it('still serves a normal clone and push afterwards', async () => {
    const work = join(h.git.dir, 'after');
    await h.git.gitOk(['clone', '-q', h.remote(REPO, token), work]);
    const tip = await h.git.commitFiles(work, { 'after.txt': 'after the fuzzing\n' }, 'after');
    expect((await h.git.git(['push', 'origin', 'HEAD:refs/heads/after'], { cwd: work })).code).toBe(0);
    expect((await h.git.gitOk(['--git-dir', upstreamRepo, 'rev-parse', 'refs/heads/after'])).stdout.trim()).toBe(tip);
  });
});
