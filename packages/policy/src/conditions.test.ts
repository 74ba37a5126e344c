/**
 * Every condition and scope, positive and negative, on one real push built with the git CLI: a
 * fast-forward of main (commits that add a secret, files of every kind, a foreign author, a merge
 * whose result adds a secret), a new branch and a signed commit, a force-push, a deletion, a tag
 * moved and a tag created. The change set and the content findings are what the gateway builds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PushScenario, withContent } from '@pushgate/changes/test-support';
import type { ChangeSet } from '@pushgate/changes';
import type { Identity } from '@pushgate/core';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { scanContent } from './content';
import { evaluate } from './evaluate';
import { renderDecision } from './render';
import { Rng, checksummedToken } from './secrets/corpus.test-support';
import type { ContentFindings, Reason } from './types';

const OLD_SECRET = checksummedToken(new Rng(101), 'ghp_');
const NEW_SECRET = checksummedToken(new Rng(102), 'ghp_');
const MERGE_SECRET = checksummedToken(new Rng(103), 'ghp_');
const ANN: Identity = { sub: 'ann', issuer: 'https://idp.example.com', email: 'ann@example.com', groups: ['dev'], agent: false };

let s: PushScenario;
let changeSet: ChangeSet;
let content: ContentFindings;
const labels = new Map<string, string>();

beforeAll(async () => {
  s = PushScenario.create('policy-conditions', (w) => {
    w.write('README.md', '# app\n\nintro\n');
    w.write('src/config.ts', `export const token = "${OLD_SECRET}";\nexport const a = 1;\n`);
    w.write('deploy/prod/run.sh', 'echo run\n');
    w.write('legacy/keep.txt', 'a file that is kept but moved\nwith a few lines\nof text\n');
    w.commit('initial');
    w.git('branch', 'old');
    w.git('tag', 'v0');
    w.git('checkout', '-q', '-b', 'rewrite');
    w.write('u.txt', 'upstream only\n');
    w.commit('upstream work');
    w.git('checkout', '-q', 'main');
  });
  const w = s.work;
  const label = (name: string) => labels.set(s.rev('HEAD'), name);

  w.write('src/config.ts', `export const token = "${OLD_SECRET}";\nexport const a = 1;\nexport const b = 2;\n`);
  w.write('src/keys.ts', `// client\nconst GITHUB_TOKEN = "${NEW_SECRET}";\n`);
  w.commit('feat: api client');
  label('edit');

  w.write('.env', 'X=1\n');
  w.write('assets/logo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0, 1, 2, 3]));
  w.write('tools/run.exe', 'not really a program\n');
  w.write('data/big.txt', `${'x'.repeat(199_999)}\n`);
  w.write(`a/${'d'.repeat(120)}/f.txt`, 'deep\n');
  w.write('deploy/prod/run.sh', 'echo run\n', 0o755);
  w.symlink('.ci/link', '../deploy');
  w.commit('add assets');
  label('files');

  w.write('archive/keep.txt', 'a file that is kept but moved\nwith a few lines\nof text\n');
  w.remove('legacy/keep.txt');
  w.write('notes.txt', 'notes\n');
  w.git('add', '-A');
  w.gitBytes(['commit', '-q', '-m', 'WIP'], undefined, { GIT_AUTHOR_EMAIL: 'bob@elsewhere.org', GIT_AUTHOR_NAME: 'Bob' });
  label('foreign');

  w.git('checkout', '-q', '-b', 'topic');
  w.write('README.md', '# app\n\nintro\nside line\n');
  w.commit('side work');
  label('side');
  w.git('checkout', '-q', 'main');
  w.write('main.txt', 'main work\n');
  w.commit('main work');
  label('mainwork');
  w.git('merge', '-q', '--no-ff', '--no-commit', 'topic');
  // An evil merge: the result has a line neither parent has.
  w.write('README.md', `# app\n\nintro\nside line\ntoken: ${MERGE_SECRET}\n`);
  w.git('add', 'README.md');
  w.git('commit', '-q', '-m', 'Merge topic');
  label('merge');

  // A signed commit by the pusher as author and committer.
  w.git('checkout', '-q', '-b', 'feature', 'main~5');
  const key = join(w.dir, '.git', 'signing-key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  w.git('config', 'gpg.format', 'ssh');
  w.git('config', 'user.signingkey', key);
  w.write('signed.txt', 'signed\n');
  w.git('add', '-A');
  w.gitBytes(['commit', '-q', '-S', '-m', 'signed work'], undefined, { GIT_COMMITTER_EMAIL: 'ann@example.com', GIT_COMMITTER_NAME: 'Ann Author' });
  label('signed');

  // A force-push: rewrite loses the upstream's commit.
  w.git('checkout', '-q', 'rewrite');
  w.git('reset', '-q', '--hard', 'main~5');
  w.write('r.txt', 'rewritten\n');
  w.commit('rewritten');
  label('rewrite');
  w.git('checkout', '-q', 'main');

  const main = s.rev('main');
  const updates = {
    'refs/heads/main': main,
    'refs/heads/topic': s.rev('topic'),
    'refs/heads/feature': s.rev('feature'),
    'refs/heads/rewrite': s.rev('rewrite'),
    'refs/heads/old': null,
    'refs/tags/v0': main,
    'refs/tags/v1': main,
  };
  const policy = { rules: [{ id: 'content', when: { secrets: true, unscannable: true }, action: 'deny' as const }] };
  changeSet = await withContent(s, updates, {}, async (cs, reader) => {
    content = await scanContent({ changeSet: cs, content: reader, policy });
    return cs;
  });
}, 120_000);
afterAll(() => s?.cleanup());

/** `ref commit-label path:line` of a reason. */
const where = (r: Reason): string =>
  [r.ref ?? '-', r.commit === undefined ? '-' : labels.get(r.commit) ?? r.commit.slice(0, 7), r.path === undefined ? '-' : r.line === undefined ? r.path : `${r.path}:${r.line}`].join(' ');

const run = (rule: Record<string, unknown>, identity: Identity = ANN): string[] =>
  evaluate({ upstream: 'github', repo: 'acme/app.git', identity, pushOptions: [], changeSet, content }, { rules: [{ id: 'r', action: 'deny', ...rule }] }).reasons.map(where);

describe('scanContent on a real push', () => {
  it('finds the secrets the push adds, and not one already in a file it edits', () => {
    expect(content.secrets.map((h) => `${labels.get(h.commit)} ${h.path}:${h.line} ${h.detector} ${h.masked}`).sort()).toEqual([
      `edit src/keys.ts:2 github-pat ghp_****`,
      `merge README.md:5 github-pat ghp_****`,
    ]);
    expect(content.scannedBytes).toBeGreaterThan(200_000);
    expect(content.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('reports what it could not scan', () => {
    expect(content.unscanned.map((u) => `${labels.get(u.commit)} ${u.path} ${u.reason}`)).toEqual(['files assets/logo.png binary']);
  });
});

describe('conditions', () => {
  const table: ReadonlyArray<readonly [string, Record<string, unknown>, string[]]> = [
    ['forcePush', { when: { forcePush: true } }, ['refs/heads/rewrite - -']],
    ['forcePush: a fast-forward is not', { refs: ['refs/heads/main'], when: { forcePush: true } }, []],
    ['deletion', { when: { deletion: true } }, ['refs/heads/old - -']],
    ['deletion: an update is not', { refs: ['refs/heads/main'], when: { deletion: true } }, []],
    ['creation', { when: { creation: true } }, ['refs/heads/topic - -', 'refs/heads/feature - -', 'refs/tags/v1 - -']],
    ['creation: an update is not', { refs: ['refs/heads/main'], when: { creation: true } }, []],
    ['tag: any change', { when: { tag: true } }, ['refs/tags/v0 - -', 'refs/tags/v1 - -']],
    ['tag: move', { when: { tag: ['move'] } }, ['refs/tags/v0 - -']],
    ['tag: delete (none)', { when: { tag: ['delete'] } }, []],
    ['secrets', { when: { secrets: true } }, ['refs/heads/main edit src/keys.ts:2', 'refs/heads/main merge README.md:5']],
    ['secrets: within paths', { paths: ['src/**'], when: { secrets: true } }, ['refs/heads/main edit src/keys.ts:2']],
    ['secrets: not on other refs', { refs: ['refs/heads/feature'], when: { secrets: true } }, []],
    ['secretFiles', { when: { secretFiles: true } }, ['refs/heads/main files .env']],
    ['secretFiles: none', { refs: ['refs/heads/feature'], when: { secretFiles: true } }, []],
    ['authorEmail require', { when: { authorEmail: { require: '@example\\.com$' } } }, ['refs/heads/main foreign -']],
    ['authorEmail forbid', { when: { authorEmail: { forbid: ['@elsewhere\\.org$'] } } }, ['refs/heads/main foreign -']],
    ['authorEmail: all match', { refs: ['refs/heads/feature'], when: { authorEmail: { require: '@EXAMPLE\\.com$' } } }, []],
    ['committerEmail forbid', { refs: ['refs/heads/rewrite'], when: { committerEmail: { forbid: '^cid@' } } }, ['refs/heads/rewrite rewrite -']],
    ['committerEmail: not forbidden', { refs: ['refs/heads/feature'], when: { committerEmail: { forbid: '^cid@' } } }, []],
    ['notPusher', { refs: ['refs/heads/rewrite'], when: { notPusher: true } }, ['refs/heads/rewrite rewrite -']],
    ['notPusher: the pusher authored and committed', { refs: ['refs/heads/feature'], when: { notPusher: true } }, []],
    ['message forbid', { when: { message: { forbid: '^WIP' } } }, ['refs/heads/main foreign -']],
    ['message require', { refs: ['refs/heads/feature'], when: { message: { require: '(?i)^(feat|fix|signed)' } } }, []],
    ['fileSizeOver', { when: { fileSizeOver: 100_000 } }, ['refs/heads/main files data/big.txt']],
    ['fileSizeOver: under', { when: { fileSizeOver: 1_000_000 } }, []],
    ['extensions', { when: { extensions: ['.EXE', 'dll'] } }, ['refs/heads/main files tools/run.exe']],
    ['extensions: none', { when: { extensions: ['dll'] } }, []],
    ['pathLengthOver', { when: { pathLengthOver: 100 } }, [`refs/heads/main files a/${'d'.repeat(120)}/f.txt`]],
    ['pathLengthOver: under', { when: { pathLengthOver: 1000 } }, []],
    ['merges', { when: { merges: true } }, ['refs/heads/main merge -']],
    ['merges: none', { refs: ['refs/heads/feature'], when: { merges: true } }, []],
    ['unsigned', { refs: ['refs/heads/rewrite'], when: { unsigned: true } }, ['refs/heads/rewrite rewrite -']],
    ['unsigned: signed', { refs: ['refs/heads/feature'], when: { unsigned: true } }, []],
    ['commitsOver', { refs: ['refs/heads/main'], when: { commitsOver: 5 } }, ['refs/heads/main - -']],
    ['commitsOver: at the limit', { refs: ['refs/heads/main'], when: { commitsOver: 6 } }, []],
    ['filesOver', { refs: ['refs/heads/main'], when: { filesOver: 3 } }, ['refs/heads/main - -']],
    ['filesOver: within paths', { refs: ['refs/heads/main'], paths: ['src/**'], when: { filesOver: 3 } }, []],
    ['unscannable', { when: { unscannable: true } }, ['refs/heads/main files assets/logo.png']],
    ['unscannable: other reasons', { when: { unscannable: ['too-large', 'budget-exhausted'] } }, []],
    ['all conditions must hold', { when: { merges: true, forcePush: true } }, []],
    ['all conditions hold: both reported', { refs: ['refs/heads/rewrite'], when: { unsigned: true, forcePush: true } }, ['refs/heads/rewrite - -', 'refs/heads/rewrite rewrite -']],
  ];
  it.each(table)('%s', (_name, rule, expected) => {
    expect(run(rule)).toEqual(expected);
  });
});

describe('paths scope', () => {
  const table: ReadonlyArray<readonly [string, string[], string[]]> = [
    ['a mode change', ['deploy/prod/**'], ['refs/heads/main files deploy/prod/run.sh']],
    ['a symlink added', ['.ci/**'], ['refs/heads/main files .ci/link']],
    ['a rename out of', ['legacy/**'], ['refs/heads/main foreign legacy/keep.txt']],
    ['a rename into', ['archive/**'], ['refs/heads/main foreign archive/keep.txt']],
    ['a merge changing a path', ['README.md'], ['refs/heads/main side README.md', 'refs/heads/main merge README.md']],
    ['only the net change (a force-push dropping a file)', ['u.txt'], ['refs/heads/rewrite - u.txt']],
    ['nothing matching', ['docs/**'], []],
  ];
  it.each(table)('%s', (_name, paths, expected) => {
    expect(run({ paths })).toEqual(expected);
  });
});

describe('scopes on a real push', () => {
  const AGENT: Identity = { sub: 'agent-42', issuer: 'https://idp.example.com', email: 'agent@example.com', groups: ['bots'], agent: true };
  type Push = { repo?: string; identity?: Identity; pushOptions?: string[] };
  const refsOf = (rule: Record<string, unknown>, push: Push = {}): string[] => [
    ...new Set(
      evaluate({ upstream: 'github', repo: push.repo ?? 'acme/app.git', identity: push.identity ?? ANN, pushOptions: push.pushOptions ?? [], changeSet, content }, { rules: [{ id: 'r', action: 'deny', when: { deletion: true }, ...rule }] }).reasons.map((r) => r.ref ?? '-'),
    ),
  ];
  const table: ReadonlyArray<readonly [string, Record<string, unknown>, Push, string[]]> = [
    ['repos: matches', { repos: ['github/acme/app'] }, {}, ['refs/heads/old']],
    ['repos: another repository', { repos: ['github/acme/other'] }, {}, []],
    ['repos: a repository path without .git', { repos: ['github/acme/*'] }, { repo: 'acme/app' }, ['refs/heads/old']],
    ['refs: matches', { refs: ['refs/heads/o*'] }, {}, ['refs/heads/old']],
    ['refs: another ref', { refs: ['refs/heads/main'] }, {}, []],
    ['actors: agents only, pushed by an agent', { actors: { agent: true } }, { identity: AGENT }, ['refs/heads/old']],
    ['actors: agents only, pushed by a person', { actors: { agent: true } }, {}, []],
    ['actors: a group', { actors: { groups: ['dev'] } }, {}, ['refs/heads/old']],
    ['actors: another group', { actors: { groups: ['ops'] } }, {}, []],
    ['pushOptions: present', { pushOptions: ['force-delete'] }, { pushOptions: ['force-delete'] }, ['refs/heads/old']],
    ['pushOptions: absent', { pushOptions: ['force-delete'] }, { pushOptions: ['ci.skip'] }, []],
  ];
  it.each(table)('%s', (_name, rule, push, expected) => {
    expect(refsOf(rule, push)).toEqual(expected);
  });
});

describe('what the pusher sees', () => {
  it('never shows a secret unmasked, in the decision or the remote lines', () => {
    const d = evaluate({ upstream: 'github', repo: 'acme/app', identity: ANN, pushOptions: [], changeSet, content }, {
      rules: [
        { id: 'secrets', when: { secrets: true }, action: 'deny' },
        { id: 'secrets-dry', when: { secrets: true }, action: 'hold', approvers: { groups: ['sec'], count: 1 }, mode: 'evaluate' },
      ],
    });
    expect(d.kind).toBe('deny');
    const rendered = renderDecision(d, { refs: changeSet.refs.map((r) => r.ref) });
    const all = JSON.stringify(d) + JSON.stringify([...rendered.refLines]) + JSON.stringify(rendered.remoteLines);
    for (const secret of [OLD_SECRET, NEW_SECRET, MERGE_SECRET]) {
      expect(all.includes(secret)).toBe(false);
      expect(all.includes(secret.slice(0, 12))).toBe(false);
    }
    expect(all).toContain('ghp_****');
    expect(rendered.remoteLines).toContain(`rule secrets: ${s.rev('main~4').slice(0, 7)} src/keys.ts:2: secret (github-pat) ghp_**** — remove the secret from the commit (git rebase -i, or git commit --amend) and revoke it`);
    expect(rendered.remoteLines.some((l) => l.startsWith('[evaluate] rule secrets-dry would hold: '))).toBe(true);
    expect(rendered.refLines.get('refs/heads/main')).toBe('denied by policy rule secrets');
    expect(rendered.refLines.get('refs/heads/old')).toBe('denied with the rest of the push (policy)');
  });
});
