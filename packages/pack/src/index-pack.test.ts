import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as isogit from 'isomorphic-git';
import * as fs from 'node:fs';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import {
  PackReader,
  encodePack,
  fixTrailer,
  hashObject,
  indexPack,
  objectId,
  spoolPack,
  type IndexPackOptions,
  type PackObject,
  type RawObject,
} from './index';
import { allObjects, git, gitBytes, makeRepo, packFiles, showIndex, tempDir, writeHistory } from './test-fixtures';

const limits = DEFAULT_LIMITS;
let work: string;
let repo: string;

beforeAll(() => {
  work = tempDir('pack-index');
  repo = makeRepo('pack-index-repo', { seed: 1, commits: 120, extras: true });
  git(repo, ['repack', '-adq', '--depth=50', '--window=20']);
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

/** Writes `bytes` as a pack file in the work directory and returns its path. */
function writePack(name: string, bytes: Buffer): string {
  const path = join(work, `${name}.pack`);
  writeFileSync(path, bytes);
  return path;
}

/** Indexes a pack collecting every object handed to onObject. */
async function indexCollecting(path: string, opts: Partial<IndexPackOptions> = {}) {
  const objects: PackObject[] = [];
  const result = await indexPack(path, { limits, ...opts, onObject: (o) => objects.push(o) });
  return { result, objects };
}

/** Checks every object against `git cat-file` in `source` and against its own content. */
function expectObjectsMatch(objects: PackObject[], source: string): void {
  const all = allObjects(source);
  for (const o of objects) {
    expect(hashObject(o.type, o.data)).toBe(o.oid);
    expect(all.get(o.oid)).toBe(o.type);
  }
}

describe('indexPack on packs written by git', () => {
  it('indexes a repacked repository (OFS deltas) and writes the same .idx as git index-pack', async () => {
    const [pack] = packFiles(repo);
    const path = writePack('repacked', readFileSync(pack));
    const { result, objects } = await indexCollecting(path);
    const all = allObjects(repo);
    expect(result.objectCount).toBe(all.size);
    expect(objects).toHaveLength(all.size);
    expect(new Set(objects.map((o) => o.oid)).size).toBe(all.size);
    expectObjectsMatch(objects, repo);
    expect(result.deltas.ofs).toBeGreaterThan(50);
    expect(result.deltas.ref).toBe(0);
    expect(result.maxDeltaDepth).toBeGreaterThan(1);
    expect(result.counts.tag).toBe(1);
    expect(result.counts.commit + result.counts.tree + result.counts.blob + result.counts.tag).toBe(all.size);
    expect(result.externalBases).toEqual([]);
    expect(result.packChecksum).toBe(pack.match(/pack-([0-9a-f]{40})\.pack$/)![1]);
    // Byte-identical to git's own index of the same pack.
    expect(readFileSync(result.idxPath).equals(readFileSync(pack.replace(/\.pack$/, '.idx')))).toBe(true);
    git(work, ['verify-pack', path.replace(/\.pack$/, '.idx')]);
  });

  it('gives the same result reading the pack a few bytes at a time', async () => {
    const [pack] = packFiles(repo);
    const path = writePack('tiny-reads', readFileSync(pack));
    const { result, objects } = await indexCollecting(path, { readBytes: 61 });
    expectObjectsMatch(objects, repo);
    expect(readFileSync(result.idxPath).equals(readFileSync(pack.replace(/\.pack$/, '.idx')))).toBe(true);
  });

  it('resolves REF deltas against bases in the same pack', async () => {
    // Without --delta-base-offset, pack-objects names every base by id.
    const bytes = gitBytes(repo, ['pack-objects', '--stdout', '--all', '-q']);
    const path = writePack('ref-deltas', bytes);
    const { result, objects } = await indexCollecting(path);
    expect(result.deltas.ref).toBeGreaterThan(50);
    expect(result.deltas.ofs).toBe(0);
    expectObjectsMatch(objects, repo);
    const gitIdx = join(work, 'ref-deltas-git.idx');
    git(work, ['index-pack', '-o', gitIdx, path]);
    expect(readFileSync(result.idxPath).equals(readFileSync(gitIdx))).toBe(true);
  });

  it('indexes the empty pack git sends when the remote has everything', async () => {
    const bytes = gitBytes(repo, ['pack-objects', '--stdout', '-q'], '');
    expect(bytes.length).toBe(32);
    const path = writePack('empty', bytes);
    const { result, objects } = await indexCollecting(path);
    expect(result.objectCount).toBe(0);
    expect(objects).toEqual([]);
    const gitIdx = join(work, 'empty-git.idx');
    git(work, ['index-pack', '-o', gitIdx, path]);
    expect(readFileSync(result.idxPath).equals(readFileSync(gitIdx))).toBe(true);
  });

  it('accepts version 3 packs', async () => {
    const bytes = Buffer.from(readFileSync(packFiles(repo)[0]));
    bytes.writeUInt32BE(3, 4);
    const path = writePack('v3', fixTrailer(bytes));
    const { result, objects } = await indexCollecting(path);
    expect(result.version).toBe(3);
    expectObjectsMatch(objects, repo);
  });

  it('writes an index that PackReader and isomorphic-git read objects through', async () => {
    const gitdir = tempDir('pack-isogit');
    try {
      fs.mkdirSync(join(gitdir, 'objects/pack'), { recursive: true });
      fs.mkdirSync(join(gitdir, 'refs'), { recursive: true });
      writeFileSync(join(gitdir, 'HEAD'), 'ref: refs/heads/main\n');
      const bytes = gitBytes(repo, ['pack-objects', '--stdout', '--all', '--delta-base-offset', '-q']);
      const pack = join(gitdir, 'objects/pack/pack-test.pack');
      writeFileSync(pack, bytes);
      const { result, objects } = await indexCollecting(pack);
      expect(result.idxPath).toBe(join(gitdir, 'objects/pack/pack-test.idx'));
      const reader = PackReader.open(pack, result.idxPath, limits);
      const sample = objects.filter((_, i) => i % 7 === 0);
      for (const o of sample) {
        const viaReader = reader.read(o.oid)!;
        expect(viaReader.type).toBe(o.type);
        expect(viaReader.data.equals(o.data)).toBe(true);
        const viaIso = await isogit.readObject({ fs, gitdir, oid: o.oid, format: 'content' });
        expect(viaIso.type).toBe(o.type);
        expect(Buffer.from(viaIso.object as Uint8Array).equals(o.data)).toBe(true);
      }
      reader.close();
    } finally {
      rmSync(gitdir, { recursive: true, force: true });
    }
  });

  it('keeps duplicate objects, lists both in the index, and reports them', async () => {
    const blob = 'the same content twice\n'.repeat(20);
    const bytes = encodePack([
      { kind: 'object', type: 'blob', data: blob },
      { kind: 'object', type: 'blob', data: 'something else\n' },
      { kind: 'object', type: 'blob', data: blob },
    ]);
    const path = writePack('dups', bytes);
    const { result, objects } = await indexCollecting(path);
    expect(result.objectCount).toBe(3);
    expect(result.duplicates).toBe(1);
    expect(objects.map((o) => o.oid)).toEqual([objectId('blob', blob), objectId('blob', 'something else\n'), objectId('blob', blob)]);
    const gitIdx = join(work, 'dups-git.idx');
    git(work, ['index-pack', '-o', gitIdx, path]);
    expect(showIndex(work, readFileSync(result.idxPath))).toEqual(showIndex(work, readFileSync(gitIdx)));
    // (`git verify-pack` refuses such a pack as `index-pack --strict` would; plain index-pack takes it.)
    const reader = PackReader.open(path, result.idxPath, limits);
    expect(reader.read(objectId('blob', blob))!.data.toString()).toBe(blob);
    reader.close();
  });
});

describe('indexPack on thin packs', () => {
  let base: string;
  let full: string;
  let thin: Buffer;
  let baseReaders: PackReader[];
  let external: (oid: Oid) => RawObject | undefined;

  beforeAll(() => {
    base = makeRepo('pack-thin-base', { seed: 7, commits: 80, bare: true });
    git(base, ['repack', '-adq']);
    full = tempDir('pack-thin-full');
    git(full, ['clone', '-q', '--bare', base, '.']);
    const baseTip = git(full, ['rev-parse', 'main']).trim();
    writeHistory(full, { seed: 8, commits: 60 });
    const tip = git(full, ['rev-parse', 'main']).trim();
    // What `git push` sends: only what the remote lacks, with deltas against what it has. The
    // local clone shares the base's bitmap, with which pack-objects makes no thin deltas; a
    // developer's clone has none, so neither does this.
    thin = gitBytes(
      full,
      ['-c', 'pack.useBitmaps=false', 'pack-objects', '--thin', '--stdout', '--revs', '--delta-base-offset', '-q'],
      `${tip}\n^${baseTip}\n`,
    );
    baseReaders = packFiles(base).map((p) => PackReader.open(p, p.replace(/\.pack$/, '.idx'), limits));
    external = (oid) => {
      for (const r of baseReaders) {
        const o = r.read(oid);
        if (o) return o;
      }
      return undefined;
    };
  });
  afterAll(() => {
    for (const r of baseReaders) r.close();
    rmSync(base, { recursive: true, force: true });
    rmSync(full, { recursive: true, force: true });
  });

  it('resolves deltas against the base repository and leaves the pack as it was', async () => {
    const path = writePack('thin', thin);
    const { result, objects } = await indexCollecting(path, { external });
    expect(readFileSync(path).equals(thin)).toBe(true);
    expect(result.deltas.ref).toBeGreaterThan(0);
    expect(result.externalBases.length).toBeGreaterThan(0);
    expect([...result.externalBases].sort()).toEqual(result.externalBases);
    const baseObjects = allObjects(base);
    for (const oid of result.externalBases) expect(baseObjects.has(oid)).toBe(true);
    expectObjectsMatch(objects, full);
    expect(objects).toHaveLength(result.objectCount);

    // git's --fix-thin index of the same pack has the same entries plus the bases it appended.
    const fixed = tempDir('pack-thin-fixed');
    try {
      git(fixed, ['init', '-q', '--bare']);
      for (const p of packFiles(base)) {
        copyFileSync(p, join(fixed, 'objects/pack', p.split('/').pop()!));
        copyFileSync(p.replace(/\.pack$/, '.idx'), join(fixed, 'objects/pack', p.split('/').pop()!.replace(/\.pack$/, '.idx')));
      }
      git(fixed, ['index-pack', '--stdin', '--fix-thin'], thin);
      const gitIdx = packFiles(fixed)
        .map((p) => p.replace(/\.pack$/, '.idx'))
        .find((p) => !packFiles(base).some((b) => b.endsWith(p.split('/').pop()!.replace(/\.idx$/, '.pack'))))!;
      const ours = showIndex(work, readFileSync(result.idxPath));
      const theirs = new Set(showIndex(work, readFileSync(gitIdx)));
      expect(theirs.size).toBe(ours.length + result.externalBases.length);
      for (const line of ours) expect(theirs.has(line)).toBe(true);
    } finally {
      rmSync(fixed, { recursive: true, force: true });
    }

    // PackReader reads the thin pack's objects through our index, thin bases from outside.
    const reader = PackReader.open(path, result.idxPath, { ...limits, external });
    for (const o of objects.filter((_, i) => i % 5 === 0)) expect(reader.read(o.oid)!.data.equals(o.data)).toBe(true);
    reader.close();
  });

  it('refuses a thin pack when the base repository lacks its bases', async () => {
    const path = writePack('thin-no-base', thin);
    await expect(indexPack(path, { limits })).rejects.toMatchObject({ code: 'PACK_DELTA_BASE_MISSING' });
    await expect(indexPack(path, { limits, external: () => undefined })).rejects.toMatchObject({ code: 'PACK_DELTA_BASE_MISSING' });
    expect(existsSync(path.replace(/\.pack$/, '.idx'))).toBe(false);
  });

  it('indexes what spoolPack wrote, reusing its checksum', async () => {
    const path = join(work, 'spooled-thin.pack');
    async function* chunks() {
      for (let at = 0; at < thin.length; at += 1000) yield thin.subarray(at, at + 1000);
    }
    const spooled = await spoolPack(chunks(), path, { limits });
    expect(spooled.bytes).toBe(thin.length);
    expect(spooled.checksum).toBe(thin.subarray(thin.length - 20).toString('hex'));
    const { result, objects } = await indexCollecting(path, { external, spooled });
    expect(result.packChecksum).toBe(spooled.checksum);
    expectObjectsMatch(objects, full);
  });
});

describe('indexPack as a cooperative task', () => {
  let big: string;
  beforeAll(() => {
    big = makeRepo('pack-coop', { seed: 3, commits: 400, files: 40 });
    git(big, ['repack', '-adq']);
  });
  afterAll(() => rmSync(big, { recursive: true, force: true }));

  it('yields to the event loop and reports progress by stage', async () => {
    const path = writePack('coop', readFileSync(packFiles(big)[0]));
    const events: { stage: string; done: number; total?: number }[] = [];
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    const objects: PackObject[] = [];
    // Slow the loop down enough that it must yield many times.
    const result = await indexPack(path, {
      limits,
      onProgress: (e) => events.push(e),
      onObject: (o) => {
        objects.push(o);
        const until = performance.now() + 0.05;
        while (performance.now() < until);
      },
    });
    clearInterval(timer);
    expect(turns).toBeGreaterThan(5);
    const stages = new Set(events.map((e) => e.stage));
    expect(stages).toEqual(new Set(['indexing objects', 'resolving deltas']));
    const finalScan = events.filter((e) => e.stage === 'indexing objects').pop()!;
    expect(finalScan).toEqual({ stage: 'indexing objects', done: result.objectCount, total: result.objectCount });
    expect(objects).toHaveLength(result.objectCount);
  });

  it('stops when aborted and when onObject throws, writing no index', async () => {
    const path = writePack('abort', readFileSync(packFiles(big)[0]));
    const controller = new AbortController();
    let seen = 0;
    await expect(
      indexPack(path, {
        limits,
        signal: controller.signal,
        onObject: () => {
          if (++seen === 100) controller.abort(new Error('client went away'));
          const until = performance.now() + 0.2;
          while (performance.now() < until);
        },
      }),
    ).rejects.toThrow('client went away');
    const refusal = new Error('object refused by check');
    await expect(
      indexPack(path, {
        limits,
        onObject: (o) => {
          if (o.type === 'tree') throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    expect(existsSync(path.replace(/\.pack$/, '.idx'))).toBe(false);
  });
});
