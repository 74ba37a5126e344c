/**
 * Push inspection end to end with the real git client: every push is spooled, indexed against
 * the upstream mirror and turned into a change set before it is relayed; the client sees the
 * gateway's progress on side-band 2; a push that fails inspection is refused with `remote:` and
 * `ng` lines naming the error, and nothing of it reaches the upstream; the audit record carries
 * the inspection's summary and timings.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { startHarness, type Harness } from './testing/harness';

describe('push inspection through the gateway', () => {
  let h: Harness;
  let token: string;
  let upstreamRepo: string;
  let work: string;

  /** receive-pack POSTs the upstream has received so far. */
  const relayedPushes = () => h.upstream.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;
  const upstreamRef = async (ref: string) => (await h.git.git(['--git-dir', upstreamRepo, 'rev-parse', '--verify', '-q', ref])).stdout.trim();

  beforeAll(async () => {
    h = await startHarness();
    token = await h.token({ sub: 'alice' });
    upstreamRepo = await h.upstream.createRepo('team/app.git', { initialCommit: { 'README.md': 'hello\n' } });
    work = join(h.git.dir, 'work');
    await h.git.gitOk(['clone', '-q', h.remote('team/app.git', token), work]);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('inspects a push, shows progress, relays it and records what it changed', async () => {
    await h.git.commitFiles(work, { 'src/a.txt': 'one\ntwo\n', 'src/b.txt': 'bee\n' }, 'add a and b');
    const tip = await h.git.commitFiles(work, { 'src/a.txt': 'one\ntwo\nthree\n' }, 'extend a');
    const before = relayedPushes();
    const r = await h.git.git(['push', '--progress', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/remote: pushgate: indexing objects: 100% \(\d+\/\d+\), done\./);
    expect(r.stderr).toMatch(/remote: pushgate: inspecting commits: 100% \(2\/2\), done\./);
    expect(relayedPushes()).toBe(before + 1);
    expect(await upstreamRef('refs/heads/main')).toBe(tip);

    const rows = await h.auditRows();
    const row = rows.filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack').pop()!;
    expect(row.outcome).toBe('ok');
    const inspection = (row.detail as { inspection: Record<string, any> }).inspection;
    expect(inspection.changes.commits).toBe(2);
    expect(inspection.changes.refs[0]).toMatchObject({ ref: 'refs/heads/main', kind: 'update', fastForward: true, commits: 2 });
    expect(inspection.pack.objects).toBeGreaterThan(0);
    expect(inspection.upstream.pushedRefs['refs/heads/main']).toMatch(/^[0-9a-f]{40}$/);
    for (const stage of ['spoolMs', 'mirrorMs', 'indexMs', 'changesMs', 'totalMs']) expect(typeof inspection.timings[stage]).toBe('number');
  });

  it('refuses a push whose tree holds a .git entry, telling the client why, and sends the upstream nothing', async () => {
    // A tree entry named ".git" cannot be made with `git add`; build it with plumbing.
    const blob = (await h.git.gitOk(['hash-object', '-w', '--stdin'], { cwd: work, input: '[core]\n\thooksPath = /tmp\n' })).stdout.trim();
    const inner = (await h.git.gitOk(['mktree'], { cwd: work, input: `100644 blob ${blob}\tconfig\n` })).stdout.trim();
    const tree = (await h.git.gitOk(['mktree'], { cwd: work, input: `040000 tree ${inner}\t.git\n` })).stdout.trim();
    const head = await h.git.revParse(work, 'HEAD');
    const commit = (await h.git.gitOk(['commit-tree', tree, '-p', head, '-m', 'hostile'], { cwd: work })).stdout.trim();
    const before = relayedPushes();
    const upstreamMain = await upstreamRef('refs/heads/main');

    const r = await h.git.git(['push', 'origin', `${commit}:refs/heads/hostile`], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/remote: pushgate: push refused: OBJ_HAS_DOTGIT/);
    expect(r.stderr).toMatch(/! \[remote rejected\] +\S+ -> hostile \(OBJ_HAS_DOTGIT/);
    expect(relayedPushes()).toBe(before);
    expect(await upstreamRef('refs/heads/hostile')).toBe('');
    expect(await upstreamRef('refs/heads/main')).toBe(upstreamMain);

    const row = (await h.auditRows()).filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack').pop()!;
    expect(row.outcome).toBe('client-error');
    expect((row.detail as { error: { code: string } }).error.code).toBe('OBJ_HAS_DOTGIT');
  });

  it('refuses without progress too (quiet push): the report alone names the error', async () => {
    const head = await h.git.revParse(work, 'HEAD');
    // `git mktree` refuses a ".." entry, so the tree is written byte by byte.
    const empty = (await h.git.gitOk(['hash-object', '-w', '--stdin'], { cwd: work, input: '' })).stdout.trim();
    const raw = Buffer.concat([Buffer.from('100644 ..\0'), Buffer.from(empty, 'hex')]);
    const tree = (await h.git.gitOk(['hash-object', '-t', 'tree', '--literally', '-w', '--stdin'], { cwd: work, input: raw })).stdout.trim();
    const commit = (await h.git.gitOk(['commit-tree', tree, '-p', head, '-m', 'dotdot'], { cwd: work })).stdout.trim();
    const before = relayedPushes();
    const r = await h.git.git(['push', '--quiet', 'origin', `${commit}:refs/heads/dotdot`], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/OBJ_HAS_DOTDOT/);
    expect(relayedPushes()).toBe(before);
  });

  it('relays deletions (no pack) and pushes of objects the upstream already has (empty pack)', async () => {
    const head = await h.git.revParse(work, 'HEAD');
    const created = await h.git.git(['push', 'origin', 'HEAD:refs/heads/copy'], { cwd: work });
    expect(created.code).toBe(0);
    expect(await upstreamRef('refs/heads/copy')).toBe(head);
    const row = (await h.auditRows()).filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack').pop()!;
    const inspection = (row.detail as { inspection: Record<string, any> }).inspection;
    expect(inspection.changes.refs[0]).toMatchObject({ ref: 'refs/heads/copy', kind: 'create', commits: 0 });

    const deleted = await h.git.git(['push', 'origin', ':refs/heads/copy'], { cwd: work });
    expect(deleted.code).toBe(0);
    expect(await upstreamRef('refs/heads/copy')).toBe('');
  });

  it('relays the deletion of a ref the upstream does not have, which git answers with a warning and ok', async () => {
    // git sends zero to zero here, since the remote advertised no such ref.
    const before = relayedPushes();
    const r = await h.git.git(['push', 'origin', ':refs/heads/never-existed'], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('remote: warning: deleting a non-existent ref');
    expect(r.stderr).toMatch(/- \[deleted\] +never-existed/);
    expect(relayedPushes()).toBe(before + 1);
    expect(await upstreamRef('refs/heads/never-existed')).toBe('');

    const row = (await h.auditRows()).filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack').pop()!;
    expect(row.outcome).toBe('ok');
    const zero = '0'.repeat(40);
    expect(row.refUpdates).toEqual([{ ref: 'refs/heads/never-existed', oldOid: zero, newOid: zero }]);
    const inspection = (row.detail as { inspection: Record<string, any> }).inspection;
    expect(inspection.changes.refs[0]).toMatchObject({ ref: 'refs/heads/never-existed', kind: 'delete' });
    expect(inspection.pack).toBeUndefined();
  });

  it('inspects concurrent pushes to one repository whose mirror does not exist yet: each gets what the upstream decides', async () => {
    const repo = await h.upstream.createRepo('team/race.git', { initialCommit: { 'README.md': 'race\n' } });
    const base = (await h.git.gitOk(['--git-dir', repo, 'rev-parse', 'refs/heads/main'])).stdout.trim();
    const clones = ['r1', 'r2', 'r3'].map((n) => join(h.git.dir, n));
    for (const dir of clones) await h.git.gitOk(['clone', '-q', h.remote('team/race.git', token), dir]);
    const [a, b, c] = clones;
    const tipA = await h.git.commitFiles(a, { 'a.txt': 'from a\n' }, 'a on main');
    const tipB = await h.git.commitFiles(b, { 'b.txt': 'from b\n' }, 'b on main');
    const tipC = await h.git.commitFiles(c, { 'c.txt': 'from c\n' }, 'c on a branch');
    const before = (await h.auditRows()).length;

    // Three pushes at once: two race for main (both inspected against the same upstream tip), one
    // creates a branch. The upstream's compare-and-swap on the old id decides the race.
    const [ra, rb, rc] = await Promise.all([
      h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: a }),
      h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: b }),
      h.git.git(['push', 'origin', 'HEAD:refs/heads/feature'], { cwd: c }),
    ]);
    expect(rc.code).toBe(0);
    expect((await h.git.gitOk(['--git-dir', repo, 'rev-parse', 'refs/heads/feature'])).stdout.trim()).toBe(tipC);
    const main = (await h.git.gitOk(['--git-dir', repo, 'rev-parse', 'refs/heads/main'])).stdout.trim();
    // Both are children of the same base, so exactly one can win; the loser is refused (by the
    // upstream's compare-and-swap), never half-applied.
    const winners = [ra, rb].filter((r) => r.code === 0);
    expect(winners).toHaveLength(1);
    expect(main).toBe(ra.code === 0 ? tipA : tipB);
    expect(main).not.toBe(base);
    expect((ra.code === 0 ? rb : ra).stderr).toMatch(/\[(remote )?rejected\]/);
    const fsck = await h.git.git(['--git-dir', repo, 'fsck', '--no-dangling']);
    expect(fsck.code).toBe(0);

    const rows = (await h.auditRows()).slice(before).filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack' && (e.detail as { method?: string }).method === 'POST' && (e.repo ?? '').startsWith('team/race'));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect((row.detail as { inspection?: { changes: { commits: number } } }).inspection?.changes.commits).toBe(1);
  });
});
