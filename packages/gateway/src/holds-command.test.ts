/**
 * `pushgate holds` end to end: `runCli` against a listening gateway with a real hold store (PGlite
 * and PostgreSQL) and real tokens — each command's text and `--json`, refusals (exit 1 with the
 * API's code), usage mistakes (2), a gateway that cannot be reached (3), and the token never
 * printed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { FINAL_HOLD_STATES, type HoldRecord, type HoldStore } from '@pushgate/holds';
import { testDatabases } from '@pushgate/store/testing';
import { runCli } from './commands';
import type { HoldListView, HoldView } from './holds-api';
import { printable } from './holds-command';
import { startHoldsApiEnv, type HoldsApiEnv, type TestPerson } from './testing/holds-api-env';

const alice: TestPerson = { sub: 'alice', email: 'alice@example.com', groups: ['dev'], agent: true };
const bob: TestPerson = { sub: 'bob', email: 'bob@example.com', groups: ['security'] };
const carol: TestPerson = { sub: 'carol', groups: ['security', 'leads'] };
const eve: TestPerson = { sub: 'eve', groups: ['dev'] };
const rita: TestPerson = { sub: 'rita', email: 'rita@example.com', groups: ['release'] };
const SECURITY = [{ groups: ['security'], count: 1 }];
const TWO = [{ groups: ['security', 'leads'], count: 2 }];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  err.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await runCli(args, { stdout: out, stderr: err, env, stopSignal: () => new Promise(() => {}) });
  return { code, stdout, stderr };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * The hold once it is in a final state: read again whenever the store says it changed (its own
 * notifications, not a timer), bounded by the test's timeout.
 */
async function finalState(store: HoldStore, id: string): Promise<HoldRecord> {
  let wake = (): void => undefined;
  const stop = await store.watch((changed) => {
    if (changed === id) wake();
  });
  try {
    for (;;) {
      const changed = new Promise<void>((resolve) => (wake = resolve));
      const hold = await store.get(id);
      if (hold !== undefined && FINAL_HOLD_STATES.includes(hold.state.kind)) return hold;
      await changed;
    }
  } finally {
    await stop();
  }
}

const backends = await testDatabases();

describe.each(backends)('pushgate holds against a gateway on $name', (backend) => {
  let env: HoldsApiEnv;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    env = await startHoldsApiEnv(backend);
    for (const p of [alice, bob, carol, eve, rita]) tokens.set(p.sub, await env.token(p));
  });
  afterAll(async () => {
    await env?.stop();
    await backend.cleanup();
  });

  /** Runs as `who`, the gateway and token from the environment as a reviewer would set them. */
  const as = (who: TestPerson, args: readonly string[]) => cli(['holds', ...args], { PUSHGATE_URL: env.url, PUSHGATE_TOKEN: tokens.get(who.sub) });
  const noToken = (r: Run) => {
    for (const t of tokens.values()) expect(`${r.stdout}${r.stderr}`).not.toContain(t);
  };

  it('list: a table of the holds the caller may review; --mine the ones they pushed; --json the API answer', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    const deletion = await env.createHold({ pusher: alice, approvers: TWO, push: 'delete', repo: 'team/other.git' });

    const table = await as(bob, ['list']);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +STATE +REPO +PUSHER +REFS +APPROVALS +CREATED$/);
    const row = lines.find((l) => l.startsWith(hold.id));
    expect(row).toMatch(new RegExp(`^${hold.id} +pending +local/team/app\\.git +alice \\(agent\\) +refs/heads/main +0/1 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`));
    expect(lines.find((l) => l.startsWith(deletion.id))).toMatch(/ 0\/2 /);
    noToken(table);

    const json = await as(bob, ['list', '--json']);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as HoldListView;
    expect(listed.holds.map((h) => h.id)).toEqual(expect.arrayContaining([hold.id, deletion.id]));

    const mine = await as(alice, ['list', '--mine']);
    expect(mine.code).toBe(0);
    expect(mine.stdout).toContain(hold.id);
    expect(mine.stdout).toContain(deletion.id);
    expect((await as(alice, ['list'])).stdout).toBe('no pending holds you may review\n');
    expect((await as(eve, ['list', '--state', 'rejected'])).stdout).toBe('no rejected holds you may review\n');
    expect((await as(eve, ['list', '--mine'])).stdout).toBe('no holds you pushed\n');
  });

  it('show: a readable block (state, link, pusher, refs old → new, rules, approvals, what is missing); --json the API answer', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: TWO, pushOptions: ['ci.skip'] });
    const command = hold.commands[0];
    const approved = await as(carol, ['approve', hold.id, '--comment', 'schema change reviewed']);
    expect(approved).toMatchObject({ code: 0, stdout: `approved hold ${hold.id}; still missing: 1 from security or leads\n`, stderr: '' });

    const block = await as(bob, ['show', hold.id]);
    expect(block.code).toBe(0);
    const text = block.stdout;
    expect(text.split('\n')[0]).toMatch(new RegExp(`^Hold ${hold.id}: pending, expires \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`));
    expect(text).toContain(`Link:       ${env.publicUrl}/review/holds/${hold.id}\n`);
    expect(text).toContain('Repo:       team/app.git on local\n');
    expect(text).toContain('Pusher:     alice <alice@example.com> (AI agent)\n');
    expect(text).toContain(`  refs/heads/main  ${command.oldOid.slice(0, 7)} → ${command.newOid.slice(0, 7)}  (update)\n`);
    expect(text).toContain('Options:    ci.skip\n');
    expect(text).toContain('Rules:\n  guard-1 (hold): changes refs/heads/main [refs/heads/main]\n');
    expect(text).toContain('Approvers:  2 from security or leads\n');
    expect(text).toMatch(/Approvals:\n {2}carol \d{4}-\d\d-\d\d \d\d:\d\d UTC: schema change reviewed\n/);
    expect(text).toContain('Missing:    1 from security or leads\n');
    expect(text).toContain(`Digest:     ${hold.digest}\n`);
    expect(text).toContain('You may:    approve, reject\n');

    const json = await as(bob, ['show', hold.id, '--json']);
    const view = JSON.parse(json.stdout) as HoldView;
    expect(view).toMatchObject({ id: hold.id, state: 'pending', digest: hold.digest, mayReview: true, approvals: [{ by: { sub: 'carol' }, comment: 'schema change reviewed' }] });
    expect((await as(alice, ['show', hold.id])).stdout).toContain('You may:    cancel\n');

    const outsider = await as(eve, ['show', hold.id]);
    expect(outsider.code).toBe(1);
    expect(outsider.stdout).toBe('');
    expect(outsider.stderr).toMatch(new RegExp(`^pushgate: HOLD_NOT_FOUND: no hold "${hold.id}" that you may see \\(request id [0-9a-f-]{36}\\)\\n$`));
    const outsiderJson = await as(eve, ['show', hold.id, '--json']);
    expect(outsiderJson.code).toBe(1);
    expect(JSON.parse(outsiderJson.stdout)).toMatchObject({ error: { code: 'HOLD_NOT_FOUND' } });
  });

  it('approve: records, completes the quorum, binds to --digest; refusals exit 1 with the code', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: TWO });
    const self = await as(alice, ['approve', hold.id]);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/^pushgate: HOLD_SELF_APPROVAL: /);
    expect((await as(eve, ['approve', hold.id])).stderr).toMatch(/^pushgate: HOLD_NOT_APPROVER: /);
    const wrongDigest = await as(carol, ['approve', hold.id, '--digest', 'f'.repeat(64)]);
    expect(wrongDigest.code).toBe(1);
    expect(wrongDigest.stderr).toMatch(/^pushgate: HOLD_DIGEST_MISMATCH: /);

    expect((await as(carol, ['approve', hold.id, '--digest', hold.digest])).code).toBe(0);
    const twice = await as(carol, ['approve', hold.id]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/^pushgate: HOLD_ALREADY_APPROVED: /);
    const last = await as(bob, ['approve', hold.id, '--json']);
    expect(last.code).toBe(0);
    expect(JSON.parse(last.stdout)).toMatchObject({ id: hold.id, state: 'approved', missing: [] });
    const late = await as(bob, ['show', hold.id]);
    // Approved, and from then on the relay's: relaying, retried or done, whatever it has reached.
    expect(late.stdout.split('\n')[0]).toMatch(new RegExp(`^Hold ${hold.id}: (approved|relayed|rejected by the upstream|stale) `));
    noToken(late);
  });

  it('reject: needs --comment (usage, exit 2) and shows the reason afterwards; approving it then exits 1', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    const bare = await as(bob, ['reject', hold.id]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('holds reject needs --comment <text>');
    const rejected = await as(bob, ['reject', hold.id, '--comment', 'drops\na table\u001b[31m']);
    expect(rejected).toMatchObject({ code: 0, stdout: `rejected hold ${hold.id}\n` });
    const shown = await as(alice, ['show', hold.id]);
    expect(shown.stdout.split('\n')[0]).toMatch(new RegExp(`^Hold ${hold.id}: rejected by bob <bob@example.com> `));
    // The reviewer's line break kept, their escape sequence not passed to the terminal.
    expect(shown.stdout).toContain('Reason:     drops\n            a table\uFFFD[31m\n');
    expect(shown.stdout).not.toContain('\u001b');
    const after = await as(carol, ['approve', hold.id]);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^pushgate: HOLD_NOT_PENDING: /);
  });

  it('cancel: only the pusher', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY, push: 'delete' });
    const byBob = await as(bob, ['cancel', hold.id]);
    expect(byBob.code).toBe(1);
    expect(byBob.stderr).toMatch(/^pushgate: HOLD_NOT_PUSHER: /);
    expect(await as(alice, ['cancel', hold.id, '--comment', 'wrong branch'])).toMatchObject({ code: 0, stdout: `cancelled hold ${hold.id}\n` });
    expect((await as(alice, ['show', hold.id])).stdout.split('\n')[0]).toMatch(new RegExp(`^Hold ${hold.id}: cancelled by alice <alice@example.com> \\(AI agent\\) `));
  });

  it('reviews a push a policy rule held (a real git push): listed for the rule\'s group only, shown with the rule and path, approved', async () => {
    const held = await env.gitPush(alice, 'deploy/run.sh');
    expect(held.code).not.toBe(0);
    const id = /held for approval \(([A-Za-z0-9_-]+)\)/.exec(held.stderr)?.[1];
    expect(id).toEqual(expect.any(String));
    expect(held.stderr).toContain(`${env.publicUrl}/review/holds/${id}`);

    expect((await as(bob, ['list'])).stdout).not.toContain(id);
    const listed = await as(rita, ['list']);
    expect(listed.stdout).toMatch(new RegExp(`^${id} +pending +local/app\\.git +alice \\(agent\\) +refs/heads/main +0/1 `, 'm'));
    const shown = await as(rita, ['show', id!]);
    expect(shown.stdout).toContain('Pusher:     alice <alice@example.com> (AI agent)\n');
    expect(shown.stdout).toMatch(/Rules:\n {2}protected-deploy \(hold\): .*deploy\/run\.sh/);
    expect(shown.stdout).toContain('Approvers:  1 from release\n');
    const view = JSON.parse((await as(rita, ['show', id!, '--json'])).stdout) as HoldView;
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'protected-deploy', path: 'deploy/run.sh' })]));

    expect((await as(alice, ['approve', id!])).stderr).toMatch(/^pushgate: HOLD_SELF_APPROVAL: /);
    const approved = await as(rita, ['approve', id!, '--digest', view.digest, '--comment', 'release window open']);
    expect(approved).toMatchObject({ code: 0, stderr: '' });
    expect(approved.stdout).toMatch(new RegExp(`^approved hold ${id}: the approvals are complete`));
    expect((await env.store.get(id!))?.approvals.map((a) => [a.by.sub, a.comment])).toEqual([['rita', 'release window open']]);

    // The gateway relays what was approved; the pusher reads that it landed.
    const done = await finalState(env.store, id!);
    expect(done.state.kind).toBe('relayed');
    expect(await env.upstreamRef('refs/heads/main')).toBe(view.commands[0].newOid);
    const mine = await as(alice, ['show', id!]);
    expect(mine.stdout.split('\n')[0]).toMatch(new RegExp(`^Hold ${id}: relayed `));
    expect(mine.stdout).toContain('  upstream: refs/heads/main ok\n');
  });

  it('takes --gateway and --token over the environment, and never prints a token', async () => {
    const hold = await env.createHold({ pusher: alice, approvers: SECURITY });
    const r = await cli(['holds', 'show', hold.id, '--gateway', `${env.url}/`, '--token', tokens.get('bob') ?? ''], { PUSHGATE_URL: 'http://127.0.0.1:1', PUSHGATE_TOKEN: 'wrong' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Hold ${hold.id}: pending`);
    const bad = await cli(['holds', 'list'], { PUSHGATE_URL: env.url, PUSHGATE_TOKEN: 'not.a.token' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^pushgate: AUTH_INVALID_TOKEN: /);
    expect(bad.stderr).not.toContain('not.a.token');
  });
});

describe('pushgate holds without a gateway', () => {
  it('exits 3 when the gateway cannot be reached, naming it but not the token', async () => {
    const port = await closedPort();
    const r = await cli(['holds', 'list'], { PUSHGATE_URL: `http://127.0.0.1:${port}`, PUSHGATE_TOKEN: 'secret-token-value' });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`pushgate: cannot reach the gateway at http://127.0.0.1:${port}: ECONNREFUSED\n`);
    expect(r.stderr).not.toContain('secret-token-value');
  });

  it('exits 2 for usage mistakes', async () => {
    const env = { PUSHGATE_URL: 'http://127.0.0.1:1', PUSHGATE_TOKEN: 't' };
    const cases: [string[], Record<string, string>, string][] = [
      [['holds', 'frobnicate'], env, 'unknown holds subcommand "frobnicate"'],
      [['holds', 'show'], env, 'holds show takes exactly one hold id'],
      [['holds', 'show', 'a', 'b'], env, 'holds show takes exactly one hold id'],
      [['holds', 'list', '--state', 'done'], env, '--state must be one of pending, approved'],
      [['holds', 'list', '--comment', 'x'], env, 'holds list does not take --comment'],
      [['holds', 'approve', 'h1', '--bogus'], env, "Unknown option '--bogus'"],
      [['holds', 'list'], { PUSHGATE_TOKEN: 't' }, 'give --gateway <url> or set PUSHGATE_URL'],
      [['holds', 'list'], { PUSHGATE_URL: 'http://127.0.0.1:1' }, 'give --token <token> or set PUSHGATE_TOKEN'],
      [['holds', 'list'], { PUSHGATE_URL: 'http://x:secret-in-url@127.0.0.1:1', PUSHGATE_TOKEN: 't' }, 'must not carry credentials'],
      [['holds', 'list'], { PUSHGATE_URL: 'ftp://127.0.0.1', PUSHGATE_TOKEN: 't' }, 'http:// or https://'],
      [['holds', 'show', '../etc'], env, 'is not a hold id'],
    ];
    for (const [args, vars, says] of cases) {
      const r = await cli(args, vars);
      expect({ args, code: r.code, says: r.stderr.includes(says), hint: r.stderr.includes('pushgate holds --help') }).toEqual({ args, code: 2, says: true, hint: true });
      expect(r.stderr).not.toContain('secret-in-url');
    }
    const help = await cli(['holds', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('pushgate holds list [--state <state>] [--mine] [--json]');
    expect((await cli(['--help'])).stdout).toContain('holds list|show|approve|reject|cancel');
  });

  it('prints others\' text without control characters', () => {
    expect(printable('ok\u001b]0;owned\u0007 \u202eevil')).toBe('ok\uFFFD]0;owned\uFFFD \uFFFDevil');
    expect(printable('a\r\nb')).toBe('a\uFFFDb');
    expect(printable('a\r\nb', { indent: '  ' })).toBe('a\n  b');
  });
});
