/**
 * The content prescan against the scan it stands in for: a real worker thread (dist/prescan-worker.js,
 * `npm run build`), real packs made by git and indexed by indexPack. Whatever the prescan says of a
 * blob must be what scanContent's own scan would say; whatever goes wrong must leave blobs unknown
 * (scanned again when the push is judged), never reported clean.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { GitFixture, PushScenario, thinPack } from '@pushgate/changes/test-support';
import { indexPack } from '@pushgate/pack';
import { GitDirObjectStore } from '@pushgate/objects';
import { compilePolicy } from './compile';
import type { PolicyConfigInput } from './config';
import { BlobScanPool, prescanWorkerScript, type BlobScanPoolOptions, type PrescannedBlob, type PrescannedBlobs } from './prescan';
import { Rng, negativeSamples, positiveSamples } from './secrets/corpus.test-support';
import { BUILTIN_DETECTORS } from './secrets/detectors';
import { isBinary } from './secrets/scanner';
import { findingSpans } from './secrets/spans';

const POLICY: PolicyConfigInput = { rules: [{ id: 'secrets', when: { secrets: true }, action: 'deny' }] };
const compiled = compilePolicy(POLICY);
const scanner = compiled.scanner();
const BUILTIN_KEYWORDS = BUILTIN_DETECTORS.flatMap((d) => d.keywords);

/** What scanContent's own scan makes of a blob, in the prescan's terms. */
function inline(data: Buffer): PrescannedBlob {
  if (isBinary(data)) return { kind: 'binary', size: data.length };
  const result = scanner.scan(data);
  if (result.kind !== 'scanned') throw new Error(`unexpected ${result.kind}`);
  return { kind: 'text', bytes: data.length, findings: result.findings, spans: findingSpans(data, result.findings), keywordFree: result.keywordFree === true };
}

/** A fake id (the pool does not hash): the SHA-1 of a label. */
const fakeOid = (label: string): Oid => createHash('sha1').update(label).digest('hex') as Oid;

const pools: BlobScanPool[] = [];
function pool(options: BlobScanPoolOptions = {}): BlobScanPool {
  const p = new BlobScanPool(compiled.config, options);
  pools.push(p);
  return p;
}
afterAll(async () => {
  for (const p of pools) await p.close();
});

const tmpDirs: string[] = [];
function tmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pg-${prefix}-`));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A PEM private key of `lines` lines of base64. */
function pemKey(r: Rng, lines: number): string {
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const body = Array.from({ length: lines }, (_, i) => (i === 0 ? 'MIIEowIBAAKCAQEA' + r.str(b64, 48) : r.str(b64, 64)));
  return `-----BEGIN RSA PRIVATE KEY-----\n${body.join('\n')}\n${r.str(b64, 40)}==\n-----END RSA PRIVATE KEY-----\n`;
}

/** The blobs of every kind the equivalence is checked on, by label. */
function sampleBlobs(): Map<string, Buffer> {
  const r = new Rng(1234);
  const blobs = new Map<string, Buffer>();
  for (const [i, s] of positiveSamples(11, 2).entries()) blobs.set(`positive ${i} ${s.detector}`, Buffer.from(`// config\n${s.text}\nother = 1\n`));
  for (const [i, s] of negativeSamples(12, 1).entries()) blobs.set(`negative ${i} ${s.category}`, Buffer.from(`${s.text}\n`));
  blobs.set('keyword without finding', Buffer.from('function readToken(token) {\n  return token.trim();\n}\n'));
  blobs.set('keyword-free source', Buffer.from('export function add(a, b) {\n  return a + b;\n}\n'.repeat(20)));
  const binary = r.bytes(3000);
  binary[100] = 0;
  blobs.set('binary', Buffer.concat([binary, Buffer.from(`\nGITHUB_TOKEN=${positiveSamples(3, 1).find((s) => s.detector === 'github-pat')?.secret}\n`)]));
  const pat = positiveSamples(5, 1).find((s) => s.detector === 'github-pat');
  blobs.set('invalid UTF-8 with a secret', Buffer.concat([Buffer.from('héllo wörld ✓\n'), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x0a]), Buffer.from(`ünïcode = 1\n${pat?.text}\n`), Buffer.from([0xe2, 0x82])]));
  // Larger than a batch (4096 bytes in these tests), a secret near its end.
  blobs.set('larger than a batch', Buffer.from(`${'const x = 1;\n'.repeat(900)}${positiveSamples(6, 1)[0].text}\n`));
  blobs.set('PEM key over many lines', Buffer.from(`# key\n${pemKey(r, 25)}# end\n`));
  blobs.set('empty', Buffer.alloc(0));
  return blobs;
}

function expectSame(got: PrescannedBlob | undefined, data: Buffer, label: string): void {
  expect({ label, got }).toEqual({ label, got: inline(data) });
}

describe('BlobScanPool', () => {
  it('the worker must be built (npm run build)', () => {
    expect(prescanWorkerScript()).toBeDefined();
  });

  it('says of every blob handed over what the inline scan says', async () => {
    const blobs = sampleBlobs();
    const p = pool({ batchBytes: 4096 });
    const session = p.begin();
    for (const [label, data] of blobs) session.add(fakeOid(label), data);
    // The same blob again (another path, another commit): handed over once.
    const [firstLabel, firstData] = [...blobs][0];
    session.add(fakeOid(firstLabel), firstData);
    const ahead = await session.finish();
    for (const [label, data] of blobs) expectSame(ahead.get(fakeOid(label)), data, label);
    expect(ahead.stats.blobs).toBe(blobs.size);
    expect(ahead.stats.bytes).toBe([...blobs.values()].reduce((n, b) => n + b.length, 0));
    expect(ahead.stats.left).toBe(0);
    expect(ahead.get(fakeOid('never added'))).toBeUndefined();
    // The set is worth its name: it holds findings, binaries, keyword-free texts, a multi-line span.
    const results = [...blobs.keys()].map((l) => ahead.get(fakeOid(l)));
    expect(results.some((b) => b?.kind === 'binary')).toBe(true);
    expect(results.filter((b) => b?.kind === 'text' && b.findings.length > 0).length).toBeGreaterThan(40);
    expect(results.some((b) => b?.kind === 'text' && b.keywordFree)).toBe(true);
    expect(results.some((b) => b?.kind === 'text' && !b.keywordFree && b.findings.length === 0)).toBe(true);
    const pem = ahead.get(fakeOid('PEM key over many lines'));
    expect(pem?.kind === 'text' && pem.spans.some(([first, last]) => last - first >= 20)).toBe(true);
    const mixed = ahead.get(fakeOid('invalid UTF-8 with a secret'));
    expect(mixed?.kind === 'text' && mixed.findings.some((f) => f.detector === 'github-pat')).toBe(true);
  });

  it('leaves a blob over MAX_PRESCAN_BLOB_BYTES to the scan when judged', async () => {
    const session = pool().begin();
    const small = Buffer.from('plain text\n');
    session.add(fakeOid('small'), small);
    session.add(fakeOid('huge'), Buffer.alloc(16 * 1024 * 1024 + 1, 0x61));
    const ahead = await session.finish();
    expect(ahead.get(fakeOid('huge'))).toBeUndefined();
    expectSame(ahead.get(fakeOid('small')), small, 'small');
    expect(ahead.stats).toMatchObject({ blobs: 1, left: 1 });
  });
});

/** A repository with secrets and plain text over a few commits, all its objects in one pack, indexed. */
async function packedRepository(): Promise<{ packPath: string; idxPath: string; blobs: Map<Oid, Buffer>; mirrorGitDir: string; add(into: { add(oid: Oid, data: Uint8Array): void }): Promise<void> }> {
  const repo = GitFixture.create('prescan-repo');
  const mirror = GitFixture.create('prescan-mirror', { bare: true });
  tmpDirs.push(repo.dir, mirror.dir);
  const r = new Rng(77);
  const positives = positiveSamples(21, 1);
  for (let c = 0; c < 4; c++) {
    for (let i = 0; i < 12; i++) {
      const s = positives[(c * 12 + i) % positives.length];
      repo.write(`src/config-${i}.env`, `# commit ${c}\nname = "service-${i}"\n${s.text}\n${'x = 1\n'.repeat(r.int(0, 50))}`);
      repo.write(`src/plain-${i}.ts`, `export const n${i} = ${c};\n${'export function f() { return 1; }\n'.repeat(r.int(1, 80))}`);
    }
    repo.write(`docs/key-${c}.pem`, pemKey(r, 20));
    repo.write(`assets/blob-${c}.bin`, Buffer.concat([Buffer.from([0, 1, 2]), r.bytes(2000)]));
    repo.commit(`commit ${c}`);
  }
  const dir = tmp('prescan-pack');
  const list = repo.git('rev-list', '--objects', '--all');
  const packPath = join(dir, 'push.pack');
  writeFileSync(packPath, repo.gitBytes(['pack-objects', '--stdout', '-q'], list));
  const blobs = new Map<Oid, Buffer>();
  const idxPath = (
    await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      onObject: (o) => {
        if (o.type === 'blob') blobs.set(o.oid, Buffer.from(o.data));
      },
    })
  ).idxPath;
  return {
    packPath,
    idxPath,
    blobs,
    mirrorGitDir: mirror.dir,
    // Blobs handed over as indexPack hands them (its buffers are not kept by the session).
    add: async (into) => {
      await indexPack(packPath, { limits: DEFAULT_LIMITS, idxPath: join(dir, 'again.idx'), onObject: (o) => (o.type === 'blob' ? into.add(o.oid, o.data) : undefined) });
    },
  };
}

/** How many blobs the prescan does not know; every one it knows must say what the inline scan says. */
function unknownOrSame(ahead: PrescannedBlobs, blobs: ReadonlyMap<Oid, Buffer>): number {
  let unknown = 0;
  for (const [oid, data] of blobs) {
    const got = ahead.get(oid);
    if (got === undefined) unknown++;
    else expectSame(got, data, oid);
  }
  return unknown;
}

describe('BlobScanPool within its memory bound', () => {
  it('leaves unknown what found no room when no pack is named, and counts it', async () => {
    const repo = await packedRepository();
    const session = pool({ maxInFlightBytes: 1024 }).begin();
    await repo.add(session);
    const ahead = await session.finish();
    const unknown = unknownOrSame(ahead, repo.blobs);
    expect(unknown).toBeGreaterThan(repo.blobs.size / 2);
    expect(ahead.stats.left).toBe(unknown);
    expect(ahead.stats.blobs).toBe(repo.blobs.size - unknown);
  });

  it('reads what found no room from the indexed pack, and says of it what the inline scan says', async () => {
    const repo = await packedRepository();
    const session = pool({ maxInFlightBytes: 1024 }).begin();
    await repo.add(session);
    session.indexed({ packPath: repo.packPath, idxPath: repo.idxPath, mirrorGitDir: repo.mirrorGitDir, limits: DEFAULT_LIMITS });
    const ahead = await session.finish();
    for (const [oid, data] of repo.blobs) expectSame(ahead.get(oid), data, oid);
    expect(ahead.stats).toMatchObject({ blobs: repo.blobs.size, left: 0, bytes: [...repo.blobs.values()].reduce((n, b) => n + b.length, 0) });
    const results = [...repo.blobs.keys()].map((oid) => ahead.get(oid));
    expect(results.filter((b) => b?.kind === 'text' && b.findings.length > 0).length).toBeGreaterThan(10);
    expect(results.some((b) => b?.kind === 'binary')).toBe(true);
  });

  it("reads a thin pack's blobs, deltas on the mirror's objects included", async () => {
    const r = new Rng(31);
    const big = Array.from({ length: 400 }, (_, i) => `const value${i} = "${r.str('abcdefghijklmnop', 40)}";`).join('\n');
    const scenario = PushScenario.create('prescan-thin', (w) => {
      w.write('src/big.ts', `${big}\n`);
      w.write('config/app.env', 'name = "app"\n');
      w.commit('initial');
    });
    try {
      const old = scenario.rev('HEAD');
      const pat = positiveSamples(32, 1).find((s) => s.detector === 'github-pat');
      scenario.work.write('src/big.ts', `${big}\n// ${pat?.text}\n`);
      scenario.work.write('config/app.env', `name = "app"\n${positiveSamples(33, 1)[0].text}\n`);
      scenario.work.write('src/new.ts', 'export const fresh = true;\n');
      const tip = scenario.work.commit('secrets');
      const pack = thinPack(scenario.work, [tip, `^${old}`], tmp('prescan-thin-pack'));
      expect(pack.externalBases).toBeGreaterThan(0);
      const listed = scenario.work.gitBytes(['show-index'], readFileSync(pack.idxPath)).toString('latin1').trim().split('\n').map((l) => l.split(' ')[1]);
      const blobs = new Map<Oid, Buffer>();
      for (const oid of listed) if (scenario.work.git('cat-file', '-t', oid).trim() === 'blob') blobs.set(oid as Oid, scenario.work.gitBytes(['cat-file', 'blob', oid]));
      expect(blobs.size).toBe(3);
      const session = pool({ maxInFlightBytes: 16 }).begin();
      for (const [oid, data] of blobs) session.add(oid, data);
      session.indexed({ packPath: pack.packPath, idxPath: pack.idxPath, mirrorGitDir: scenario.mirror.dir, limits: DEFAULT_LIMITS });
      const ahead = await session.finish();
      for (const [oid, data] of blobs) expectSame(ahead.get(oid), data, oid);
      expect(ahead.stats).toMatchObject({ blobs: 3, left: 0 });
      expect([...blobs.keys()].filter((oid) => (ahead.get(oid) as { findings?: unknown[] }).findings?.length)).toHaveLength(2);
    } finally {
      scenario.cleanup();
    }
  });

  it('takes 20 MB of blobs through 64 KiB batches and 1 MiB in flight, and knows every one once the pack is indexed', async () => {
    const pat = positiveSamples(8, 1).find((s) => s.detector === 'github-pat');
    const repo = GitFixture.create('prescan-many', { bare: true });
    tmpDirs.push(repo.dir);
    const dir = tmp('prescan-many');
    const paths: string[] = [];
    for (let i = 0; i < 200; i++) {
      const data = Buffer.alloc(100 * 1024);
      data.fill(`line of blob ${i}: nothing to see here, just text\n`);
      if (i % 7 === 0) Buffer.from(`\n${pat?.text}\n`).copy(data, 1000 + i * 100);
      const path = join(dir, `b${i}`);
      writeFileSync(path, data);
      paths.push(path);
    }
    const oids = repo.git('hash-object', '-w', '--', ...paths).trim().split('\n');
    const packPath = join(dir, 'many.pack');
    writeFileSync(packPath, repo.gitBytes(['pack-objects', '--stdout', '-q', '--window=0'], `${oids.join('\n')}\n`));
    const blobs = new Map<Oid, Buffer>();
    const p = pool({ batchBytes: 64 * 1024, maxInFlightBytes: 1024 * 1024 });
    const session = p.begin();
    const { idxPath } = await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      readBytes: 64 * 1024,
      onObject: (o) => {
        blobs.set(o.oid, Buffer.from(o.data));
        session.add(o.oid, o.data);
      },
    });
    session.indexed({ packPath, idxPath, mirrorGitDir: repo.dir, limits: DEFAULT_LIMITS });
    const ahead = await session.finish();
    expect(blobs.size).toBe(200);
    for (const [oid, data] of blobs) expectSame(ahead.get(oid), data, oid);
    expect(ahead.stats).toMatchObject({ blobs: 200, left: 0, bytes: 200 * 100 * 1024 });
    expect([...blobs.keys()].filter((oid) => (ahead.get(oid) as { findings?: unknown[] }).findings?.length === 1)).toHaveLength(29);

    // A second push on the same pool, whose batches may be the memory the first one's gave back.
    const second = p.begin();
    for (const [oid, data] of blobs) second.add(oid, data);
    const again = await second.finish();
    let known = 0;
    for (const [oid, data] of blobs) {
      const got = again.get(oid);
      if (got === undefined) continue;
      known++;
      expectSame(got, data, oid);
    }
    expect(known).toBeGreaterThan(0);
    expect(known + again.stats.left).toBe(200);
  });
});

/** A prescan that knows none of `oids`, and says so. */
function expectNothingKnown(ahead: PrescannedBlobs, oids: Iterable<Oid>): void {
  for (const oid of oids) expect(ahead.get(oid)).toBeUndefined();
  expect(ahead.stats.blobs).toBe(0);
  expect(ahead.stats.bytes).toBe(0);
}

describe('a cancelled prescan', () => {
  it('knows nothing, and does not disturb another push on the same worker', async () => {
    const blobs = sampleBlobs();
    const p = pool({ batchBytes: 4096 });
    const cancelled = p.begin();
    const kept = p.begin();
    // Interleaved, as two pushes indexed at the same time are.
    for (const [label, data] of blobs) {
      cancelled.add(fakeOid(label), data);
      kept.add(fakeOid(label), data);
    }
    cancelled.cancel();
    cancelled.cancel();
    cancelled.add(fakeOid('after cancel'), Buffer.from('x'));
    cancelled.indexed({ packPath: '/nonexistent.pack', idxPath: '/nonexistent.idx', mirrorGitDir: '/nonexistent', limits: DEFAULT_LIMITS });
    expectNothingKnown(await cancelled.finish(), [...blobs.keys(), 'after cancel'].map(fakeOid));
    const ahead = await kept.finish();
    for (const [label, data] of blobs) expectSame(ahead.get(fakeOid(label)), data, label);
    // The worker goes on serving the pool.
    const third = p.begin();
    const data = blobs.get('PEM key over many lines') ?? Buffer.alloc(0);
    third.add(fakeOid('third'), data);
    expectSame((await third.finish()).get(fakeOid('third')), data, 'third');
  });

  it('cancelled while it finishes, knows nothing either (its skipped batches are not clean)', async () => {
    const blobs = sampleBlobs();
    const session = pool({ batchBytes: 4096 }).begin();
    for (const [label, data] of blobs) session.add(fakeOid(label), data);
    const finishing = session.finish();
    session.cancel();
    expectNothingKnown(await finishing, [...blobs.keys()].map(fakeOid));
  });
});

describe('a prescan that fails', () => {
  const secret = Buffer.from(`${positiveSamples(4, 1)[0].text}\n`);

  /** A pool whose worker cannot start, the errors it reports, and its first session fed a blob. */
  function failing(workerScript: string) {
    const errors: string[] = [];
    let reported: () => void = () => undefined;
    const error = new Promise<void>((resolve) => (reported = resolve));
    const p = pool({ workerScript, onError: (m) => (errors.push(m), reported()) });
    return { p, errors, error };
  }

  function throwingScript(): string {
    const script = join(tmp('prescan-worker'), 'throws.mjs');
    writeFileSync(script, "throw new Error('the worker cannot start');\n");
    return script;
  }

  it.each([
    ['throws as it loads', throwingScript],
    ['is missing', () => join(tmpdir(), 'pg-no-such-dir', 'prescan-worker.js')],
  ])('whose worker %s knows nothing, and says why', async (_name, script) => {
    const { p, errors, error } = failing(script());
    const session = p.begin();
    session.add(fakeOid('secret'), secret);
    const ahead = await session.finish();
    expectNothingKnown(ahead, [fakeOid('secret')]);
    await error;
    expect(errors.length).toBeGreaterThan(0);
  });

  it('knows nothing when its worker was lost before it finished', async () => {
    const { p, errors, error } = failing(throwingScript());
    const session = p.begin();
    session.add(fakeOid('secret'), secret);
    // The worker is gone before the push is judged (the change set takes a while).
    await error;
    expectNothingKnown(await session.finish(), [fakeOid('secret')]);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('knows nothing once the pool is closed, whether begun before or after', async () => {
    const p = pool();
    const before = p.begin();
    before.add(fakeOid('secret'), secret);
    await p.close();
    expectNothingKnown(await before.finish(), [fakeOid('secret')]);
    const after = p.begin();
    after.add(fakeOid('secret'), secret);
    after.indexed({ packPath: '/nonexistent.pack', idxPath: '/nonexistent.idx', mirrorGitDir: '/nonexistent', limits: DEFAULT_LIMITS });
    expectNothingKnown(await after.finish(), [fakeOid('secret')]);
  });

  it('leaves unknown what it cannot read from the pack named', async () => {
    const session = pool({ maxInFlightBytes: 16 }).begin();
    session.add(fakeOid('secret'), secret);
    const dir = tmp('prescan-nopack');
    session.indexed({ packPath: join(dir, 'gone.pack'), idxPath: join(dir, 'gone.idx'), mirrorGitDir: dir, limits: DEFAULT_LIMITS });
    const ahead = await session.finish();
    expectNothingKnown(ahead, [fakeOid('secret')]);
    expect(ahead.stats.left).toBe(1);
  });
});

/**
 * A history of a few files of a few KB in many versions, packed with a deep delta window so that
 * most versions are deltas: keywords at inserts, a keyword made by a joint of two distant copies,
 * a secret added then removed, binary versions, keyword-free versions.
 */
async function deltaHistory(): Promise<{ packPath: string; idxPath: string; mirrorGitDir: string; blobs: Map<Oid, Buffer>; deltas: number; feed(into: { add(oid: Oid, data: Uint8Array, delta?: { base: Oid; instructions: Uint8Array }): void }): Promise<void> }> {
  const repo = GitFixture.create('prescan-deltas');
  const mirror = GitFixture.create('prescan-deltas-mirror', { bare: true });
  tmpDirs.push(repo.dir, mirror.dir);
  const r = new Rng(4242);
  const lines = Array.from({ length: 120 }, (_, i) => `const item${i} = compute(${i}, "${r.str('abcdefghijklmnopqrstuvwxyz', 20)}");`);
  const joint = 'const compass = 1, wordcount = 2;';
  const plain = (ls: readonly string[]): string => `${ls.join('\n')}\n`;
  const secret = positiveSamples(41, 1)[0].text;
  const versions: Array<(ls: string[]) => string> = [
    (ls) => plain([...ls.slice(0, 60), joint, ...ls.slice(60)]),
    // A keyword inserted.
    (ls) => plain([...ls.slice(0, 30), 'const password = lookup("db");', ...ls.slice(30, 60), joint, ...ls.slice(60)]),
    // Keyword-free edits.
    (ls) => plain([...ls.slice(0, 60), joint, ...ls.slice(61, 100), 'const extra = 7;', ...ls.slice(100)]),
    // The joint: "compass" then "wordcount", the bytes between dropped — "password" across two copies.
    (ls) => plain([...ls.slice(0, 60), 'const compasswordcount = 2;', ...ls.slice(60)]),
    (ls) => plain([...ls.slice(0, 60), joint, ...ls.slice(60, 90), secret, ...ls.slice(90)]),
    (ls) => plain([...ls.slice(0, 60), joint, ...ls.slice(60, 90), ...ls.slice(91)]),
    (ls) => plain([...ls.slice(5, 60), joint, ...ls.slice(60), ...ls.slice(0, 5)]),
    (ls) => plain([...ls.slice(0, 20), 'let token = next();', ...ls.slice(20, 60), joint, ...ls.slice(60)]),
  ];
  for (const [c, version] of versions.entries()) {
    const ls = [...lines];
    ls[(c * 7) % ls.length] = `const changed${c} = ${c};`;
    repo.write('src/app.ts', version(ls));
    repo.write('src/util.ts', plain(ls.slice(0, 80 + c).map((l) => l.replace('compute', 'derive'))));
    const bin = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1]), Buffer.from(plain(ls.slice(c, 60)))]);
    repo.write('assets/data.bin', bin);
    repo.commit(`version ${c}`);
  }
  const dir = tmp('prescan-deltas-pack');
  const list = repo.git('rev-list', '--objects', '--all');
  const packPath = join(dir, 'push.pack');
  writeFileSync(packPath, repo.gitBytes(['pack-objects', '--stdout', '-q', '--window=50', '--depth=50'], list));
  const blobs = new Map<Oid, Buffer>();
  let deltas = 0;
  const idxPath = (
    await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      onObject: (o) => {
        if (o.type !== 'blob') return;
        blobs.set(o.oid, Buffer.from(o.data));
        if (o.delta !== undefined) deltas++;
      },
    })
  ).idxPath;
  return {
    packPath,
    idxPath,
    mirrorGitDir: mirror.dir,
    blobs,
    deltas,
    feed: async (into) => {
      await indexPack(packPath, {
        limits: DEFAULT_LIMITS,
        idxPath: join(dir, 'again.idx'),
        onObject: (o) => (o.type === 'blob' ? into.add(o.oid, o.data, o.delta) : undefined),
      });
    },
  };
}

describe('BlobScanPool with the deltas blobs were resolved from', () => {
  it('says of every blob what the inline scan says, most settled from their seams', async () => {
    const repo = await deltaHistory();
    expect(repo.deltas).toBeGreaterThan(repo.blobs.size / 2);
    const results = [...repo.blobs.values()].map(inline);
    // The history holds what it is meant to: keyword-free texts, keywords, a finding, binaries.
    expect(results.some((b) => b.kind === 'text' && b.keywordFree)).toBe(true);
    expect(results.some((b) => b.kind === 'text' && !b.keywordFree && b.findings.length === 0)).toBe(true);
    expect(results.some((b) => b.kind === 'text' && b.findings.length > 0)).toBe(true);
    expect(results.some((b) => b.kind === 'binary')).toBe(true);
    // "password" made by the joint is a keyword, the text on either side holds none.
    expect(scanner.mentionsKeyword(Buffer.from('const compasswordcount = 2;'))).toBe(true);
    expect(scanner.mentionsKeyword(Buffer.from('const compass = 1, wordcount = 2;'))).toBe(false);

    const session = pool({ batchBytes: 4096 }).begin();
    await repo.feed(session);
    session.indexed({ packPath: repo.packPath, idxPath: repo.idxPath, mirrorGitDir: repo.mirrorGitDir, limits: DEFAULT_LIMITS });
    const ahead = await session.finish();
    for (const [oid, data] of repo.blobs) expectSame(ahead.get(oid), data, oid);
    const total = [...repo.blobs.values()].reduce((n, b) => n + b.length, 0);
    expect(ahead.stats).toMatchObject({ blobs: repo.blobs.size, left: 0, bytes: total });
    expect(ahead.stats.readWhole).toBeGreaterThan(0);
    expect(ahead.stats.readWhole).toBeLessThan(repo.blobs.size);
    expect(ahead.stats.handedBytes).toBeLessThan(total);
  });

  it('says the same through a tiny memory bound', async () => {
    const repo = await deltaHistory();
    const session = pool({ batchBytes: 1024, maxInFlightBytes: 2048 }).begin();
    await repo.feed(session);
    session.indexed({ packPath: repo.packPath, idxPath: repo.idxPath, mirrorGitDir: repo.mirrorGitDir, limits: DEFAULT_LIMITS });
    const ahead = await session.finish();
    for (const [oid, data] of repo.blobs) expectSame(ahead.get(oid), data, oid);
    expect(ahead.stats).toMatchObject({ blobs: repo.blobs.size, left: 0 });
  });

  it('without the indexed pack, leaves unknown the blobs its seams could not settle, never clean', async () => {
    const repo = await deltaHistory();
    const session = pool({ batchBytes: 4096 }).begin();
    await repo.feed(session);
    const ahead = await session.finish();
    const unknown = unknownOrSame(ahead, repo.blobs);
    // Among them every delta result with a keyword whose base had none.
    expect(unknown).toBeGreaterThan(0);
    expect(ahead.stats.left).toBe(unknown);
  });

  it('finds the longest keyword made by a joint of two distant copies, however far it reaches past the joint', async () => {
    const longest = BUILTIN_KEYWORDS.reduce((a, b) => (b.length > a.length ? b : a), '');
    expect(longest.length).toBe(scanner.longestKeyword);
    const r = new Rng(9001);
    const filler = (n: number): string => Array.from({ length: n }, () => `${r.str('qxzvj', 60)}\n`).join('');
    // The base: the keyword but its last character, something else, then that character elsewhere.
    // The new version drops what lies between, so the keyword is whole only across the joint, reaching
    // its full length before it.
    const head = filler(40);
    const middle = filler(40);
    const tail = filler(40);
    const cut = longest.length - 1;
    const base = `${head}${longest.slice(0, cut)}#${middle}${longest.slice(cut)}${tail}`;
    const next = `${head}${longest.slice(0, cut)}${longest.slice(cut)}${tail}`;
    expect(scanner.mentionsKeyword(Buffer.from(base))).toBe(false);
    expect(scanner.mentionsKeyword(Buffer.from(next))).toBe(true);

    const repo = GitFixture.create('prescan-joint');
    const mirror = GitFixture.create('prescan-joint-mirror', { bare: true });
    tmpDirs.push(repo.dir, mirror.dir);
    repo.write('notes.txt', base);
    repo.commit('base');
    repo.write('notes.txt', next);
    repo.commit('next');
    const dir = tmp('prescan-joint-pack');
    const packPath = join(dir, 'push.pack');
    writeFileSync(packPath, repo.gitBytes(['pack-objects', '--stdout', '-q', '--window=10'], repo.git('rev-list', '--objects', '--all')));
    const nextOid = repo.git('rev-parse', 'HEAD:notes.txt').trim() as Oid;
    const baseOid = repo.git('rev-parse', 'HEAD~1:notes.txt').trim() as Oid;
    const session = pool({ batchBytes: 4096 }).begin();
    let fromDelta: Oid | undefined;
    const { idxPath } = await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      onObject: (o) => {
        if (o.type !== 'blob') return;
        if (o.oid === nextOid) fromDelta = o.delta?.base;
        session.add(o.oid, o.data, o.delta);
      },
    });
    // The new version was resolved from the base (its seams are what decide), not stored whole.
    expect(fromDelta).toBe(baseOid);
    session.indexed({ packPath, idxPath, mirrorGitDir: mirror.dir, limits: DEFAULT_LIMITS });
    const ahead = await session.finish();
    // The keyword at the seam sent the new version to be read whole (a window one byte short would
    // have missed it, and called it keyword-free).
    expect(ahead.stats.readWhole).toBe(1);
    expect(ahead.get(nextOid)).toEqual(inline(Buffer.from(next)));
    expect(ahead.get(nextOid)).toMatchObject({ kind: 'text', keywordFree: false });
    expect(ahead.get(baseOid)).toMatchObject({ kind: 'text', keywordFree: true });
  });

  it('says of a thin pack what the inline scan says', async () => {
    const r = new Rng(57);
    const lines = Array.from({ length: 150 }, (_, i) => `const value${i} = "${r.str('abcdefghijklmnop', 30)}";`);
    const scenario = PushScenario.create('prescan-thin-deltas', (w) => {
      w.write('src/big.ts', `${lines.join('\n')}\nconst compass = 1, wordcount = 2;\n`);
      w.commit('initial');
    });
    try {
      const old = scenario.rev('HEAD');
      scenario.work.write('src/big.ts', `${lines.join('\n')}\nconst compasswordcount = 2;\n`);
      scenario.work.write('src/other.ts', `${lines.slice(10).join('\n')}\n`);
      scenario.work.commit('next');
      scenario.work.write('src/other.ts', `${lines.slice(10, 140).join('\n')}\n${positiveSamples(58, 1)[0].text}\n`);
      const tip = scenario.work.commit('secret');
      const pack = thinPack(scenario.work, [tip, `^${old}`], tmp('prescan-thin-deltas-pack'));
      expect(pack.externalBases).toBeGreaterThan(0);
      const mirror = GitDirObjectStore.open(scenario.mirror.dir, { limits: DEFAULT_LIMITS });
      const blobs = new Map<Oid, Buffer>();
      const session = pool({ batchBytes: 4096 }).begin();
      try {
        await indexPack(pack.packPath, {
          limits: DEFAULT_LIMITS,
          idxPath: join(tmp('prescan-thin-deltas-idx'), 'again.idx'),
          external: (oid) => mirror.read(oid),
          onObject: (o) => {
            if (o.type !== 'blob') return;
            blobs.set(o.oid, Buffer.from(o.data));
            session.add(o.oid, o.data, o.delta);
          },
        });
      } finally {
        mirror.close();
      }
      session.indexed({ packPath: pack.packPath, idxPath: pack.idxPath, mirrorGitDir: scenario.mirror.dir, limits: DEFAULT_LIMITS });
      const ahead = await session.finish();
      expect(blobs.size).toBeGreaterThanOrEqual(3);
      for (const [oid, data] of blobs) expectSame(ahead.get(oid), data, oid);
      expect(ahead.stats.left).toBe(0);
    } finally {
      scenario.cleanup();
    }
  });
});
