/**
 * Policy end to end: the real git client pushes through the gateway (inspection, content scan,
 * evaluate, settle) to a real upstream (`git http-backend`), with the policy written in the
 * gateway's YAML config as an operator would. For each decision: what git shows (`ng` per ref,
 * `remote:` lines), what the upstream has afterwards (nothing of a denied or held push), and the
 * audit row (outcome, every reason). A secret found in a push never appears unmasked in git's
 * output, the gateway's log or the audit table. The scenarios marked `both` also run on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { issueToken } from '@pushgate/auth';
import type { Decision, Reason as PolicyReason } from '@pushgate/policy';
import { listAuditEvents, type AuditEventRecord } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import { createGitEnv, startGitUpstream, type GitEnv, type GitUpstream } from '@pushgate/testkit';
import { loadConfig } from './config';
import { createGateway, type Gateway } from './gateway';
import { NO_RULES, type PushPolicy } from './policy';
import { startHarness, type Harness } from './testing/harness';

const backends = await testDatabases();

/** The policy under test, as it is written in the config file. */
const POLICY = {
  rules: [
    { id: 'no-force-push-main', description: 'main is never rewritten', refs: ['refs/heads/main'], when: { forcePush: true }, action: 'deny' },
    { id: 'no-secrets', when: { secrets: true }, action: 'deny' },
    { id: 'protected-deploy', paths: ['deploy/**'], action: 'hold', approvers: { groups: ['release-managers'], count: 1 } },
    { id: 'no-log-files', when: { extensions: ['.log'] }, action: 'deny', mode: 'evaluate' },
    { id: 'no-branch-deletion', when: { deletion: true }, action: 'deny', except: { subjects: ['release-bot'] } },
  ],
};

/** Characters of AWS access key ids (base32) and secret keys (base64). */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function randomFrom(alphabet: string, n: number): string {
  return Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');
}

/** A fresh AWS-shaped credential pair: made at test time, so no real or documented key is ever in the tree. */
function awsCredentials(): { keyId: string; secretKey: string } {
  return { keyId: `AKIA${randomFrom(BASE32, 16)}`, secretKey: randomFrom(BASE64, 40) };
}

/** Plain text lines (nothing a detector could take for a credential). */
function filler(lines: number, from = 0): string {
  let out = '';
  for (let i = from; i < from + lines; i++) out += `setting_${i} = the quick brown fox jumps over the lazy dog, line ${i}\n`;
  return out;
}

interface Pushed {
  readonly code: number;
  readonly stderr: string;
  readonly row: AuditEventRecord;
}

interface Reason {
  readonly rule: string;
  readonly mode: string;
  readonly outcome: string;
  readonly message: string;
  readonly exempt?: boolean;
  readonly commit?: string;
  readonly path?: string;
  readonly line?: number;
  readonly finding?: string;
}

interface Scenario {
  readonly name: string;
  readonly both: boolean;
  readonly run: (t: PolicyTest) => Promise<void>;
}

interface PolicyTest {
  readonly h: Harness;
  readonly work: string;
  readonly upstreamRepo: string;
  /** Pushes with `token` (alice's by default); returns git's result and the push's audit row. */
  push(args: readonly string[], token?: string): Promise<Pushed>;
  upstreamRefs(): Promise<Map<string, string>>;
  /** Resets the working clone to the upstream's main. */
  sync(): Promise<void>;
  botToken: string;
}

function decisionOf(row: AuditEventRecord): { kind: string; reasons: Reason[] } {
  const decision = (row.detail as { decision?: { kind: string; reasons: Reason[] } } | null)?.decision;
  if (decision === undefined) throw new Error(`the push's audit row has no decision: ${JSON.stringify(row.detail)}`);
  return decision;
}

const scenarios: Scenario[] = [
  {
    name: 'a force push onto main is denied, nothing reaches the upstream; a normal push is allowed',
    both: true,
    async run(t) {
      await t.sync();
      const tip = await t.h.git.commitFiles(t.work, { 'src/app.txt': 'v2\n' }, 'a normal change');
      const allowed = await t.push(['origin', 'HEAD:refs/heads/main']);
      expect(allowed.code).toBe(0);
      expect((await t.upstreamRefs()).get('refs/heads/main')).toBe(tip);
      expect(allowed.row.outcome).toBe('ok');
      expect(decisionOf(allowed.row)).toEqual({ kind: 'allow', reasons: [] });

      await t.h.git.gitOk(['reset', '-q', '--hard', 'HEAD~1'], { cwd: t.work });
      await t.h.git.commitFiles(t.work, { 'src/app.txt': 'rewritten\n' }, 'rewrite history');
      const before = await t.upstreamRefs();
      const denied = await t.push(['--force', 'origin', 'HEAD:refs/heads/main']);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/! \[remote rejected\] HEAD -> main \(.*no-force-push-main.*\)/);
      expect(denied.stderr).toMatch(/remote: .*no-force-push-main/);
      expect(denied.stderr).toContain('nothing was sent to the upstream');
      expect(await t.upstreamRefs()).toEqual(before);
      expect(denied.row.outcome).toBe('denied');
      expect(denied.row.detail?.error).toBeUndefined();
      const decision = decisionOf(denied.row);
      expect(decision.kind).toBe('deny');
      expect(decision.reasons).toEqual([expect.objectContaining({ rule: 'no-force-push-main', mode: 'enforce', outcome: 'deny', ref: 'refs/heads/main' })]);
    },
  },
  {
    name: 'a secret hidden in a 2 MB file is denied, named by path:line and masked everywhere',
    both: true,
    async run(t) {
      await t.sync();
      const { keyId, secretKey } = awsCredentials();
      const before = filler(15_000);
      const line = 15_001;
      const text = `${before}aws_access_key_id = ${keyId}\naws_secret_access_key = ${secretKey}\n${filler(15_000, 20_000)}`;
      expect(Buffer.byteLength(text)).toBeGreaterThan(2_000_000);
      const commit = await t.h.git.commitFiles(t.work, { 'config/settings.ini': text }, 'settings');
      const refsBefore = await t.upstreamRefs();
      const denied = await t.push(['origin', 'HEAD:refs/heads/feature/settings']);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/! \[remote rejected\] HEAD -> feature\/settings \(.*no-secrets.*\)/);
      // One line per finding: the rule, the short commit, path:line and the masked secret.
      const found = denied.stderr.split('\n').filter((l) => l.startsWith('remote:') && l.includes(`config/settings.ini:${line}`));
      expect(found.length).toBeGreaterThanOrEqual(1);
      expect(found.join('\n')).toContain('no-secrets');
      expect(found.join('\n')).toContain(commit.slice(0, 7));
      expect(found.join('\n')).toContain('AKIA****');
      expect(await t.upstreamRefs()).toEqual(refsBefore);

      expect(denied.row.outcome).toBe('denied');
      const reasons = decisionOf(denied.row).reasons.filter((r) => r.rule === 'no-secrets');
      expect(reasons).toEqual(expect.arrayContaining([expect.objectContaining({ commit, path: 'config/settings.ini', line, finding: expect.stringContaining('AKIA****') })]));
      const inspection = (denied.row.detail as { inspection: { timings: Record<string, number>; scan: { scannedBytes: number; secrets: number } } }).inspection;
      expect(inspection.scan.scannedBytes).toBeGreaterThanOrEqual(Buffer.byteLength(text));
      expect(inspection.scan.secrets).toBeGreaterThanOrEqual(1);
      expect(inspection.timings.scanMs).toEqual(expect.any(Number));
      expect(inspection.timings.decideMs).toEqual(expect.any(Number));

      // Never unmasked: not in git's output, not in the gateway's log, not anywhere in the audit table.
      await t.h.inProcess!.idle();
      const logs = t.h.gateway.logs.join('\n');
      const dump = (await t.h.inProcess!.database.query<{ row: string }>('SELECT row_to_json(e)::text AS row FROM audit_events e ORDER BY id')).rows.map((r) => r.row).join('\n');
      expect(dump).toContain('AKIA****');
      for (const secret of [keyId, secretKey, keyId.slice(4), secretKey.slice(8)]) {
        expect(denied.stderr).not.toContain(secret);
        expect(logs).not.toContain(secret);
        expect(dump).not.toContain(secret);
      }
    },
  },
  {
    name: "a large push is scanned beside its inspection (the prescan's worker): the same denial, path:line and masked secret",
    both: true,
    async run(t) {
      await t.sync();
      // Random hex does not compress far: ~1.5 MB of pack, over the size from which packs are prescanned.
      const noise = Array.from({ length: 24_000 }, () => randomBytes(64).toString('hex')).join('\n');
      const { keyId, secretKey } = awsCredentials();
      const lines = [...Array.from({ length: 40 }, (_, i) => `option_${i} = plain value ${i}`), `aws_access_key_id = ${keyId}`, `aws_secret_access_key = ${secretKey}`];
      const commit = await t.h.git.commitFiles(t.work, { 'data/noise.txt': `${noise}\n`, 'config/cloud.ini': `${lines.join('\n')}\n` }, 'data and cloud settings');
      const refsBefore = await t.upstreamRefs();
      const denied = await t.push(['origin', 'HEAD:refs/heads/feature/large']);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/! \[remote rejected\] HEAD -> feature\/large \(.*no-secrets.*\)/);
      const found = denied.stderr.split('\n').filter((l) => l.startsWith('remote:') && l.includes('config/cloud.ini:41'));
      expect(found.join('\n')).toContain('AKIA****');
      expect(found.join('\n')).toContain(commit.slice(0, 7));
      expect(await t.upstreamRefs()).toEqual(refsBefore);
      expect(denied.row.outcome).toBe('denied');
      const reasons = decisionOf(denied.row).reasons.filter((r) => r.rule === 'no-secrets');
      expect(reasons).toEqual(expect.arrayContaining([expect.objectContaining({ commit, path: 'config/cloud.ini', line: 41, finding: expect.stringContaining('AKIA****') })]));
      const inspection = (denied.row.detail as { inspection: { pack: { bytes: number }; scan: { scannedBytes: number; scannedAhead?: number } } }).inspection;
      expect(inspection.pack.bytes).toBeGreaterThanOrEqual(1024 * 1024);
      // Both new blobs were scanned by the worker while the pack was indexed, none after.
      expect(inspection.scan.scannedAhead).toBe(2);
      expect(inspection.scan.scannedBytes).toBeGreaterThan(noise.length);
      for (const secret of [keyId, secretKey]) expect(denied.stderr).not.toContain(secret);

      // The same push without the secret is relayed.
      await t.h.git.gitOk(['reset', '-q', '--hard', 'HEAD~1'], { cwd: t.work });
      const clean = await t.h.git.commitFiles(t.work, { 'data/noise.txt': `${noise}\n`, 'config/cloud.ini': 'region = eu-west-1\n' }, 'data and cloud settings');
      const allowed = await t.push(['origin', 'HEAD:refs/heads/feature/large']);
      expect(allowed.code).toBe(0);
      expect((await t.upstreamRefs()).get('refs/heads/feature/large')).toBe(clean);
      expect((allowed.row.detail as { inspection: { scan: { scannedAhead?: number } } }).inspection.scan.scannedAhead).toBe(2);
    },
  },
  {
    name: 'a rename into a protected path is held: every ref refused under the stored hold, its review link shown, nothing reaches the upstream',
    both: true,
    async run(t) {
      await t.sync();
      await t.h.git.renameFile(t.work, 'tools/release.sh', 'deploy/release.sh', 'move the release script');
      const before = await t.upstreamRefs();
      // Two refs, one of them touching nothing protected: atomic, both are refused.
      const held = await t.push(['origin', 'HEAD:refs/heads/main', 'HEAD~1:refs/heads/unrelated']);
      expect(held.code).not.toBe(0);
      const holdId = (held.row.detail as { holdId?: string } | null)?.holdId;
      expect(holdId).toEqual(expect.any(String));
      expect(held.stderr).toContain(`! [remote rejected] HEAD -> main (held for approval (${holdId}))`);
      expect(held.stderr).toContain(`! [remote rejected] HEAD~1 -> unrelated (held for approval (${holdId}))`);
      expect(held.stderr).toContain(`remote: Push held for approval: http://pushgate.test/review/holds/${holdId}; nothing was pushed yet.`);
      expect(held.stderr).toMatch(/remote: .*protected-deploy/);
      expect(held.stderr).toMatch(/remote: .*release-managers/);
      expect(await t.upstreamRefs()).toEqual(before);
      expect(held.row.outcome).toBe('held');
      expect((await t.h.inProcess!.holds.get(holdId!))?.state.kind).toBe('pending');
      const decision = decisionOf(held.row) as { kind: string; reasons: Reason[]; approvers?: unknown };
      expect(decision.kind).toBe('hold');
      expect(decision.approvers).toEqual([{ groups: ['release-managers'], count: 1 }]);
      expect(decision.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'protected-deploy', outcome: 'hold', path: 'deploy/release.sh' })]));
    },
  },
  {
    name: 'a symlink swapped in for a file of a protected path is held',
    both: false,
    async run(t) {
      await t.sync();
      await t.h.git.commitFiles(t.work, { 'deploy/run.sh': { symlink: '../tools/anything.sh' } }, 'point run.sh elsewhere');
      const before = await t.upstreamRefs();
      const held = await t.push(['origin', 'HEAD:refs/heads/main']);
      expect(held.code).not.toBe(0);
      expect(held.stderr).toMatch(/! \[remote rejected\] HEAD -> main \(held for approval \([a-z0-9]+\)\)/);
      expect(await t.upstreamRefs()).toEqual(before);
      expect(held.row.outcome).toBe('held');
      expect(decisionOf(held.row).reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'protected-deploy', path: 'deploy/run.sh' })]));
    },
  },
  {
    name: 'an evil merge that adds a secret of its own is denied, the merge commit named',
    both: false,
    async run(t) {
      await t.sync();
      const { keyId, secretKey } = awsCredentials();
      await t.h.git.gitOk(['checkout', '-q', '-b', 'side'], { cwd: t.work });
      await t.h.git.commitFiles(t.work, { 'side.txt': 'from the side\n' }, 'side work');
      await t.h.git.gitOk(['checkout', '-q', 'main'], { cwd: t.work });
      await t.h.git.commitFiles(t.work, { 'main.txt': 'from main\n' }, 'main work');
      // Neither parent has the key: only the merge commit's own lines do.
      await t.h.git.gitOk(['merge', '-q', '--no-ff', '--no-commit', 'side'], { cwd: t.work });
      await t.h.git.commitFiles(t.work, { 'src/env.txt': `region = eu-west-1\naws_access_key_id = ${keyId}\naws_secret_access_key = ${secretKey}\n` }, 'Merge side');
      const merge = await t.h.git.revParse(t.work, 'HEAD');
      expect((await t.h.git.gitOk(['rev-list', '--parents', '-n', '1', merge], { cwd: t.work })).stdout.trim().split(' ')).toHaveLength(3);
      const before = await t.upstreamRefs();
      const denied = await t.push(['origin', 'HEAD:refs/heads/main']);
      expect(denied.code).not.toBe(0);
      expect(await t.upstreamRefs()).toEqual(before);
      expect(denied.row.outcome).toBe('denied');
      expect(decisionOf(denied.row).reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'no-secrets', commit: merge, path: 'src/env.txt', line: 2 })]));
      expect(denied.stderr).toContain(`src/env.txt:2`);
      for (const secret of [keyId, secretKey]) expect(denied.stderr).not.toContain(secret);
      await t.h.git.gitOk(['checkout', '-q', 'main'], { cwd: t.work });
    },
  },
  {
    name: 'a rule in evaluate mode lets the push through and says what it would have done',
    both: true,
    async run(t) {
      await t.sync();
      const tip = await t.h.git.commitFiles(t.work, { 'build/output.log': 'build ok\n' }, 'keep the build log');
      const p = await t.push(['origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      expect((await t.upstreamRefs()).get('refs/heads/main')).toBe(tip);
      expect(p.stderr).toMatch(/remote: .*\[evaluate\].*no-log-files/);
      expect(p.row.outcome).toBe('ok');
      const decision = decisionOf(p.row);
      expect(decision.kind).toBe('allow');
      expect(decision.reasons).toEqual([expect.objectContaining({ rule: 'no-log-files', mode: 'evaluate', outcome: 'deny', path: 'build/output.log' })]);
    },
  },
  {
    name: 'an exempt pusher is let through, and the exemption is reported and recorded',
    both: false,
    async run(t) {
      await t.sync();
      await t.push(['origin', 'HEAD:refs/heads/old-branch']);
      const byAlice = await t.push(['origin', ':refs/heads/old-branch']);
      expect(byAlice.code).not.toBe(0);
      expect(byAlice.row.outcome).toBe('denied');
      expect((await t.upstreamRefs()).has('refs/heads/old-branch')).toBe(true);

      const byBot = await t.push(['origin', ':refs/heads/old-branch'], t.botToken);
      expect(byBot.code).toBe(0);
      expect((await t.upstreamRefs()).has('refs/heads/old-branch')).toBe(false);
      expect(byBot.stderr).toMatch(/remote: .*no-branch-deletion/);
      expect(byBot.row.outcome).toBe('ok');
      expect(decisionOf(byBot.row)).toEqual({ kind: 'allow', reasons: [expect.objectContaining({ rule: 'no-branch-deletion', exempt: true })] });
    },
  },
];

describe.each(backends.map((db) => [db.name, db] as const))('policy through the gateway on %s', (name, db: TestDatabase) => {
  const t = {} as { -readonly [K in keyof PolicyTest]: PolicyTest[K] };
  let pushes = 0;
  beforeAll(async () => {
    t.h = await startHarness({ db, config: { log: { level: 'debug' }, policy: POLICY } });
    const token = await t.h.token({ sub: 'alice', email: 'alice@example.com' });
    t.botToken = await t.h.token({ sub: 'release-bot', email: 'bot@example.com', agent: true });
    t.upstreamRepo = await t.h.upstream.createRepo('policy/app.git', {
      initialCommit: { 'README.md': '# app\n', 'src/app.txt': 'v1\n', 'tools/release.sh': { executable: '#!/bin/sh\necho release\n' }, 'deploy/run.sh': { executable: '#!/bin/sh\necho run\n' } },
    });
    t.work = join(t.h.git.dir, 'work');
    await t.h.git.gitOk(['clone', '-q', t.h.remote('policy/app.git', token), t.work]);
    const remoteOf = (tok: string) => t.h.remote('policy/app.git', tok);
    t.upstreamRefs = async () => {
      const out = (await t.h.git.gitOk(['--git-dir', t.upstreamRepo, 'for-each-ref', '--format=%(objectname) %(refname)'])).stdout;
      return new Map(out.split('\n').filter(Boolean).map((l) => [l.split(' ')[1], l.split(' ')[0]] as const));
    };
    t.sync = async () => {
      await t.h.git.gitOk(['fetch', '-q', 'origin'], { cwd: t.work });
      await t.h.git.gitOk(['checkout', '-q', '-B', 'main', 'origin/main'], { cwd: t.work });
    };
    t.push = async (args, tok) => {
      const requestId = `policy-${name}-${++pushes}`;
      // Another pusher: the same repository by URL, with that pusher's token.
      const argv = tok === undefined ? args : args.map((a) => (a === 'origin' ? remoteOf(tok) : a));
      const r = await t.h.git.git(['-c', `http.extraHeader=X-Request-Id: ${requestId}`, 'push', ...argv], { cwd: t.work });
      await t.h.inProcess!.idle();
      const rows = await listAuditEvents(t.h.inProcess!.database, { requestId });
      // A push over git's http.postBuffer (1 MiB) is preceded by a probe POST of an empty request: the push is the POST with a pack.
      const posts = rows.filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack' && (e.detail as { method?: string } | null)?.method === 'POST');
      const row = posts.find((e) => (e.detail as { inspection?: unknown } | null)?.inspection !== undefined) ?? posts[0];
      if (row === undefined) throw new Error(`no audit row for the push (${requestId}): git said ${r.stderr}`);
      return { code: r.code, stderr: r.stderr, row };
    };
  }, 60_000);
  afterAll(async () => {
    await t.h?.stop();
    await db.cleanup();
  });
  it.each(scenarios.filter((s) => db.name === 'pglite' || s.both).map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    await s.run(t);
  });
});

/**
 * The settle step with a policy handed to the gateway (GatewayDeps.policy): a scan that fails
 * refuses the push (never fail open), and the answers of a push that asked for no progress
 * (`--quiet`), which the gateway gives in one piece rather than streamed.
 */
describe('the policy step with an injected policy', () => {
  let dir: string;
  let upstream: GitUpstream;
  let git: GitEnv;
  let gateway: Gateway;
  let work: string;
  let repo: string;
  const logs: string[] = [];
  let next: { scan: 'fail' } | { decide: Decision } = { decide: { kind: 'allow', reasons: [] } };
  const policy: PushPolicy = {
    scan: async (changeSet, content) => {
      if ('scan' in next) throw new Error('read failed: the object store went away');
      return NO_RULES.scan(changeSet, content);
    },
    evaluate: () => ('decide' in next ? next.decide : { kind: 'allow', reasons: [] }),
  };
  const dryRun: PolicyReason = { rule: 'no-logs', mode: 'evaluate', outcome: 'deny', condition: 'extensions', message: 'adds build.log' };
  const upstreamMain = async () => (await git.gitOk(['--git-dir', repo, 'rev-parse', 'main'])).stdout.trim();
  let pushes = 0;
  const push = async (args: readonly string[]) => {
    const requestId = `injected-${++pushes}`;
    const r = await git.git(['-c', `http.extraHeader=X-Request-Id: ${requestId}`, 'push', ...args], { cwd: work });
    await gateway.idle();
    const row = (await listAuditEvents(gateway.database, { requestId })).find((e) => e.kind === 'http.request' && (e.detail as { method?: string } | null)?.method === 'POST');
    if (row === undefined) throw new Error(`no audit row for the push: ${r.stderr}`);
    return { ...r, row };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushgate-policy-step-'));
    const secret = `upstream-${randomInt(1e9)}-${randomInt(1e9)}`;
    upstream = await startGitUpstream({ auth: { username: 'x-access-token', password: secret } });
    git = await createGitEnv();
    repo = await upstream.createRepo('step/app.git', { initialCommit: true });
    const configPath = join(dir, 'pushgate.yaml');
    await writeFile(
      configPath,
      stringify({
        listen: { host: '127.0.0.1', port: 0 },
        publicUrl: 'http://pushgate.test',
        dataDir: './data',
        upstreams: [{ name: 'local', url: upstream.url, username: 'x-access-token', passwordEnv: 'STEP_UPSTREAM_TOKEN' }],
      }),
    );
    const config = await loadConfig(configPath, { env: { STEP_UPSTREAM_TOKEN: secret } });
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    gateway = await createGateway(config, { logStream, policy });
    const address = await gateway.listen();
    const token = await issueToken(gateway.signingKeys, { issuer: config.auth.gateway.issuer, audience: config.auth.gateway.audience, sub: 'alice', agentClaim: 'agent', ttl: '1h' });
    const remote = new URL(`${address.url}/local/step/app.git`);
    remote.username = 'x';
    remote.password = token;
    work = join(git.dir, 'work');
    await git.gitOk(['clone', '-q', remote.toString(), work]);
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await git?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a push whose content cannot be scanned, saying so, and relays nothing', async () => {
    const before = await upstreamMain();
    await git.commitFiles(work, { 'a.txt': 'a\n' }, 'a');
    next = { scan: 'fail' };
    const p = await push(['origin', 'HEAD:main']);
    expect(p.code).not.toBe(0);
    expect(p.stderr).toMatch(/! \[remote rejected\] HEAD -> main \(PUSH_POLICY_FAILED: the push's content could not be scanned for policy/);
    expect(p.stderr).toContain('nothing was sent to the upstream');
    expect(await upstreamMain()).toBe(before);
    expect(p.row.outcome).toBe('error');
    expect((p.row.detail as { error: { code: string } }).error.code).toBe('PUSH_POLICY_FAILED');
    expect(logs.join('')).toContain('scanning a push for policy failed');
  });

  it('answers a quiet push in one piece: dry-run notes before the upstream answer, a denial per ref', async () => {
    next = { decide: { kind: 'allow', reasons: [dryRun] } };
    const tip = await git.commitFiles(work, { 'build.log': 'ok\n' }, 'log');
    const allowed = await push(['--quiet', 'origin', 'HEAD:main']);
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toContain('remote: [evaluate] rule no-logs would deny: adds build.log');
    expect(await upstreamMain()).toBe(tip);
    expect(allowed.row.outcome).toBe('ok');

    next = { decide: { kind: 'deny', reasons: [{ ...dryRun, mode: 'enforce', ref: 'refs/heads/main' }] } };
    await git.commitFiles(work, { 'build.log': 'again\n' }, 'log again');
    const denied = await push(['--quiet', 'origin', 'HEAD:main', 'HEAD:refs/heads/other']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('! [remote rejected] HEAD -> main (denied by policy rule no-logs)');
    expect(denied.stderr).toMatch(/! \[remote rejected\] HEAD -> other \(denied with the rest of the push/);
    expect(await upstreamMain()).toBe(tip);
    expect(denied.row.outcome).toBe('denied');
  });
});
