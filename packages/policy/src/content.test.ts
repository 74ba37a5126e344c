/**
 * scanContent's decisions that a real push rarely shows: a diff skipped (fail closed), the path
 * allowlist applied per site, content the upstream already has, a merge's own lines, and no
 * reading at all when no rule needs content. The content source is a stand-in; blobs scanned ahead
 * come from a real prescan (a worker thread running dist/prescan-worker.js, `npm run build`).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import type { AddedContent, BlobContent, FileChange, MergeChange, MergeContent, NewBlob } from '@pushgate/changes';
import type { Oid } from '@pushgate/core';
import { changeSet, commit, input, oid, side, update } from './changeset.test-support';
import { evaluate } from './evaluate';
import { compilePolicy } from './compile';
import { scanContent, type ContentSource } from './content';
import type { PolicyConfigInput } from './config';
import { BlobScanPool, type PrescannedBlobs } from './prescan';
import { Rng, checksummedToken } from './secrets/corpus.test-support';

const SECRET = checksummedToken(new Rng(7), 'ghp_');
const SECRETS_RULE: PolicyConfigInput = { rules: [{ id: 's', when: { secrets: true }, action: 'deny' }] };

/** A content source over fixed blobs and added lines, counting what is read. */
function source(o: { blobs: Record<string, BlobContent>; sites: Record<string, Array<{ commit: string; path: string }>>; added?: Record<string, AddedContent>; inUpstream?: string[]; merge?: MergeContent }) {
  const reads: string[] = [];
  const src: ContentSource = {
    newBlobs: (): NewBlob[] =>
      Object.keys(o.blobs).map((k) => ({ oid: oid(k), size: 10, kind: 'regular', inUpstream: o.inUpstream?.includes(k) ?? false, sites: o.sites[k].map((s) => ({ commit: oid(s.commit), path: s.path })) })),
    blob: async (id: Oid) => {
      const k = Object.keys(o.blobs).find((x) => oid(x) === id) ?? '';
      reads.push(`blob ${k}`);
      return o.blobs[k];
    },
    change: (c: Oid, path: string): FileChange => ({ status: 'added', new: { ...side(path), oid: oid(`${c}:${path}`) } }),
    addedLinesOf: async (f: FileChange) => {
      const path = f.status === 'deleted' ? f.old.path : f.new.path;
      reads.push(`added ${path}`);
      return o.added?.[path] ?? { kind: 'none' };
    },
    mergeContentOf: async (m: MergeChange) => {
      reads.push(`merge ${m.path}`);
      return o.merge ?? { kind: 'none' };
    },
  };
  return { src, reads };
}

const text = (s: string): BlobContent => ({ kind: 'text', data: Buffer.from(s) });
const lines = (...n: number[]): AddedContent => ({ kind: 'text', coarse: false, lines: n.map((line) => ({ line, text: '' })) });
const cs = changeSet([], [commit('c1'), commit('c2')]);

describe('scanContent', () => {
  it('keeps a finding only for the sites that add its line', async () => {
    const { src } = source({
      blobs: { b: text(`one\ntoken = "${SECRET}"\n`) },
      sites: { b: [{ commit: 'c1', path: 'a.txt' }, { commit: 'c2', path: 'b.txt' }] },
      added: { 'a.txt': lines(1, 2), 'b.txt': lines(1) },
    });
    const found = await scanContent({ changeSet: cs, content: src, policy: SECRETS_RULE });
    expect(found.secrets.map((h) => `${h.path}:${h.line}`)).toEqual(['a.txt:2']);
  });

  it('fails closed: a site whose added lines are unknown keeps every finding', async () => {
    const { src } = source({
      blobs: { b: text(`token = "${SECRET}"\n`) },
      sites: { b: [{ commit: 'c1', path: 'a.txt' }, { commit: 'c2', path: 'b.txt' }] },
      added: { 'a.txt': { kind: 'skipped', reason: 'budget-exhausted', detail: 'spent' }, 'b.txt': { kind: 'binary' } },
    });
    const found = await scanContent({ changeSet: cs, content: src, policy: SECRETS_RULE });
    expect(found.secrets.map((h) => h.path)).toEqual(['a.txt', 'b.txt']);
  });

  it('applies allow.paths per site, and does not read a blob every site of which is allowlisted', async () => {
    const { src, reads } = source({
      blobs: { b: text(`token = "${SECRET}"\n`), t: text(`token = "${SECRET}"\n`) },
      sites: { b: [{ commit: 'c1', path: 'testdata/a.txt' }, { commit: 'c2', path: 'src/a.txt' }], t: [{ commit: 'c1', path: 'testdata/b.txt' }] },
      added: { 'src/a.txt': lines(1) },
    });
    const found = await scanContent({ changeSet: cs, content: src, policy: { ...SECRETS_RULE, secrets: { allow: { paths: ['testdata/**'] } } } });
    expect(found.secrets.map((h) => h.path)).toEqual(['src/a.txt']);
    expect(reads).toEqual(['blob b', 'added src/a.txt']);
  });

  it('skips content the upstream already has', async () => {
    const { src, reads } = source({ blobs: { b: text(`token = "${SECRET}"\n`) }, sites: { b: [{ commit: 'c1', path: 'a.txt' }] }, inUpstream: ['b'] });
    expect((await scanContent({ changeSet: cs, content: src, policy: SECRETS_RULE })).secrets).toEqual([]);
    expect(reads).toEqual([]);
  });

  it('reports binary, too-large and over-budget content as unscanned, per site', async () => {
    const { src } = source({
      blobs: { bin: { kind: 'binary', size: 3 }, big: { kind: 'skipped', reason: 'too-large', detail: '20 MB' } },
      sites: { bin: [{ commit: 'c1', path: 'a.png' }, { commit: 'c2', path: 'b.png' }], big: [{ commit: 'c1', path: 'dump.sql' }] },
    });
    const found = await scanContent({ changeSet: cs, content: src, policy: { rules: [{ id: 'u', when: { unscannable: true }, action: 'deny' }] } });
    expect(found.unscanned.map((u) => `${u.path} ${u.reason}`)).toEqual(['a.png binary', 'b.png binary', 'dump.sql too-large']);
  });

  it("scans a merge's own lines (an evil merge), numbered in the result", async () => {
    const merge = commit('m', { merge: true });
    const withMerge = changeSet([], [{ ...merge, merge: { kind: 'merge', introduced: [{ path: 'README.md', result: side('README.md'), parents: [side('README.md', 1, 'p1'), side('README.md', 1, 'p2')] }] } }]);
    const { src } = source({ blobs: {}, sites: {}, merge: { kind: 'text', coarse: false, introducedLines: [{ line: 12, text: 'ok' }, { line: 40, text: `token: ${SECRET}` }] } });
    const found = await scanContent({ changeSet: withMerge, content: src, policy: SECRETS_RULE });
    expect(found.secrets.map((h) => `${h.commit === merge.oid} ${h.path}:${h.line} ${h.masked}`)).toEqual(['true README.md:40 ghp_****']);
  });

  it('reads nothing when no enforce or evaluate rule needs content', async () => {
    const { src, reads } = source({ blobs: { b: text(`token = "${SECRET}"\n`) }, sites: { b: [{ commit: 'c1', path: 'a.txt' }] } });
    const policy: PolicyConfigInput = { rules: [{ id: 'off', when: { secrets: true }, action: 'deny', mode: 'off' }, { id: 'f', when: { forcePush: true }, action: 'deny' }] };
    expect(await scanContent({ changeSet: cs, content: src, policy })).toEqual({ secrets: [], unscanned: [], scannedBytes: 0, durationMs: 0 });
    expect(reads).toEqual([]);
  });

  it('finds .npmrc files that carry an auth token (secretFiles), reading no other blob', async () => {
    const { src, reads } = source({
      blobs: { auth: text('//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n'), plain: text('registry=https://registry.npmjs.org/\n'), other: text('x\n') },
      sites: { auth: [{ commit: 'c1', path: 'web/.npmrc' }], plain: [{ commit: 'c2', path: '.npmrc' }], other: [{ commit: 'c2', path: 'x.txt' }] },
    });
    const policy: PolicyConfigInput = { rules: [{ id: 'sf', when: { secretFiles: true }, action: 'deny' }] };
    const found = await scanContent({ changeSet: cs, content: src, policy });
    expect(found.secretFiles).toEqual([{ commit: oid('c1'), path: 'web/.npmrc', rule: '.npmrc with auth' }]);
    expect(reads).toEqual(['blob auth', 'blob plain']);
    const c1 = commit('c1', { files: [{ status: 'added', new: side('web/.npmrc') }] });
    const d = evaluate(input(changeSet([update('refs/heads/main', [c1])], [c1]), { content: found }), policy);
    expect(d.reasons.map((r) => `${r.path} ${r.message}`)).toEqual(['web/.npmrc web/.npmrc holds credentials (.npmrc with auth)']);
  });
});

describe('scanContent with blobs scanned ahead', () => {
  const pool = new BlobScanPool(compilePolicy(SECRETS_RULE).config, { batchBytes: 4096 });
  afterAll(() => pool.close());

  /** A real prescan of the given blobs, as indexing would feed it (binary content as bytes with a NUL). */
  async function prescan(blobs: Record<string, BlobContent>): Promise<PrescannedBlobs> {
    const session = pool.begin();
    for (const [k, b] of Object.entries(blobs)) {
      if (b.kind === 'text') session.add(oid(k), b.data);
      else if (b.kind === 'binary') session.add(oid(k), Buffer.alloc(b.size));
    }
    return session.finish();
  }

  const PEM = `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA${new Rng(3).str('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 48)}\n${Array.from({ length: 20 }, (_, i) => new Rng(i + 10).str('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 64)).join('\n')}\nAbCdEfGhIjKlMnOpQrStUvWxYz0123456789==\n-----END RSA PRIVATE KEY-----`;
  const scenarios: Array<{ name: string; policy: PolicyConfigInput; ahead: number; o: Parameters<typeof source>[0] }> = [
    {
      name: 'findings kept per site by added lines',
      policy: SECRETS_RULE,
      ahead: 2,
      o: {
        blobs: { b: text(`one\ntoken = "${SECRET}"\n`), p: text(`plain text\n`) },
        sites: { b: [{ commit: 'c1', path: 'a.txt' }, { commit: 'c2', path: 'b.txt' }], p: [{ commit: 'c1', path: 'p.txt' }] },
        added: { 'a.txt': lines(1, 2), 'b.txt': lines(1) },
      },
    },
    {
      name: 'a PEM key whose site adds only a line inside it',
      policy: SECRETS_RULE,
      ahead: 1,
      o: { blobs: { k: text(`# key\n${PEM}\n`) }, sites: { k: [{ commit: 'c1', path: 'id_rsa' }, { commit: 'c2', path: 'other' }] }, added: { id_rsa: lines(12), other: lines(1) } },
    },
    {
      name: 'unknown added lines keep every finding',
      policy: SECRETS_RULE,
      ahead: 1,
      o: {
        blobs: { b: text(`token = "${SECRET}"\n`) },
        sites: { b: [{ commit: 'c1', path: 'a.txt' }, { commit: 'c2', path: 'b.txt' }] },
        added: { 'a.txt': { kind: 'skipped', reason: 'budget-exhausted', detail: 'spent' }, 'b.txt': { kind: 'binary' } },
      },
    },
    {
      name: 'allow.paths per site, content the upstream has',
      policy: { ...SECRETS_RULE, secrets: { allow: { paths: ['testdata/**'] } } },
      ahead: 1,
      o: {
        blobs: { b: text(`token = "${SECRET}"\n`), t: text(`token = "${SECRET}"\n`), u: text(`token = "${SECRET}"\n`) },
        sites: { b: [{ commit: 'c1', path: 'testdata/a.txt' }, { commit: 'c2', path: 'src/a.txt' }], t: [{ commit: 'c1', path: 'testdata/b.txt' }], u: [{ commit: 'c2', path: 'u.txt' }] },
        added: { 'src/a.txt': lines(1) },
        inUpstream: ['u'],
      },
    },
    {
      name: 'binary and too-large content',
      policy: { rules: [...(SECRETS_RULE.rules ?? []), { id: 'u', when: { unscannable: true }, action: 'deny' }] },
      ahead: 2,
      o: {
        blobs: { bin: { kind: 'binary', size: 3 }, big: { kind: 'skipped', reason: 'too-large', detail: '20 MB' }, b: text(`x\ntoken = "${SECRET}"\n`) },
        sites: { bin: [{ commit: 'c1', path: 'a.png' }, { commit: 'c2', path: 'b.png' }], big: [{ commit: 'c1', path: 'dump.sql' }], b: [{ commit: 'c2', path: 'b.txt' }] },
        added: { 'b.txt': lines(2) },
      },
    },
  ];

  it.each(scenarios)('finds what the scan finds without them: $name', async ({ policy, ahead, o }) => {
    const plain = source(o);
    const without = await scanContent({ changeSet: cs, content: plain.src, policy });
    const prescanned = source(o);
    const withAhead = await scanContent({ changeSet: cs, content: prescanned.src, policy, prescanned: await prescan(o.blobs) });
    expect(withAhead.secrets).toEqual(without.secrets);
    expect(withAhead.unscanned).toEqual(without.unscanned);
    expect(withAhead.scannedBytes).toBe(without.scannedBytes);
    expect(withAhead.scannedAhead).toBe(ahead);
    expect(without.scannedAhead).toBeUndefined();
    // What was scanned ahead is not read again; what it did not know (too large) still is.
    expect(prescanned.reads.filter((r) => r.startsWith('blob '))).toEqual(plain.reads.filter((r) => r.startsWith('blob ') && o.blobs[r.slice(5)]?.kind === 'skipped'));
    expect(prescanned.reads.filter((r) => !r.startsWith('blob '))).toEqual(plain.reads.filter((r) => !r.startsWith('blob ')));
  });

  it('keeps a PEM key for the site that adds a line inside it (its span came from the worker), not for the one that adds another', async () => {
    const o = scenarios[1].o;
    const found = await scanContent({ changeSet: cs, content: source(o).src, policy: SECRETS_RULE, prescanned: await prescan(o.blobs) });
    expect(found.secrets.map((h) => `${h.path}:${h.line} ${h.detector}`)).toEqual(['id_rsa:3 private-key-pem']);
  });

  describe("a merge's own lines", () => {
    const merge = commit('m', { merge: true });
    const withMerge = changeSet([], [
      { ...merge, merge: { kind: 'merge', introduced: [{ path: 'README.md', result: side('README.md', 10, 'r'), parents: [side('README.md', 1, 'p1'), side('README.md', 1, 'p2')] }] } },
    ]);
    const own: MergeContent = { kind: 'text', coarse: false, introducedLines: [{ line: 3, text: `token: ${SECRET}` }] };
    const mergeSource = (result: string) =>
      source({ blobs: { r: text(result) }, sites: { r: [{ commit: 'm', path: 'README.md' }] }, added: { 'README.md': lines(1) }, merge: own });

    it.each([
      ['scanned ahead', true],
      ['scanned when judged', false],
    ])('are not diffed when the result, %s, holds no keyword', async (_name, ahead) => {
      const { src, reads } = mergeSource('# readme\nnothing here\n');
      const found = await scanContent({ changeSet: withMerge, content: src, policy: SECRETS_RULE, ...(ahead ? { prescanned: await prescan({ r: text('# readme\nnothing here\n') }) } : {}) });
      expect(reads.filter((r) => r.startsWith('merge '))).toEqual([]);
      expect(found.secrets).toEqual([]);
      expect(found.scannedAhead).toBe(ahead ? 1 : undefined);
    });

    it.each([
      ['scanned ahead', true],
      ['scanned when judged', false],
    ])('are diffed when the result, %s, holds a keyword', async (_name, ahead) => {
      const result = '# readme\nset your token in the settings\n';
      const { src, reads } = mergeSource(result);
      const found = await scanContent({ changeSet: withMerge, content: src, policy: SECRETS_RULE, ...(ahead ? { prescanned: await prescan({ r: text(result) }) } : {}) });
      expect(reads.filter((r) => r.startsWith('merge '))).toEqual(['merge README.md']);
      expect(found.secrets.map((h) => `${h.path}:${h.line}`)).toEqual(['README.md:3']);
      expect(found.scannedAhead).toBe(ahead ? 1 : undefined);
    });
  });
});
