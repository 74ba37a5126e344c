import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { hashObject, type ObjectType } from '@pushgate/pack';
import { GitFixture, thinPack } from './git-fixture.test-support';
import { GitDirObjectStore, LayeredObjectStore, PushedPackStore, StoreError } from './index';

// A repository with packed history (deltas), loose objects on top, a bare "mirror" of it, and a
// thin pack pushed on top of the mirror: every object must read back exactly as git has it.

const limits = { maxObjectBytes: DEFAULT_LIMITS.maxObjectBytes, maxDeltaDepth: DEFAULT_LIMITS.maxDeltaDepth };
let work: GitFixture;
let mirror: GitFixture;
let scratch: string;

function bigText(version: number): string {
  return Array.from({ length: 3000 }, (_, j) => `line ${j} ${j % 50 === 0 ? `changed in ${version}` : 'stable content here'}`).join('\n');
}

function listing(repo: GitFixture): { oid: Oid; type: ObjectType; size: number }[] {
  return repo
    .git('cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype) %(objectsize)')
    .trim()
    .split('\n')
    .map((l) => {
      const [oid, type, size] = l.split(' ');
      return { oid: oid as Oid, type: type as ObjectType, size: Number(size) };
    });
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'pg-store-'));
  work = GitFixture.create('store-work');
  for (let i = 0; i < 12; i++) {
    work.write('big.txt', bigText(i));
    work.write(`dir/f${i % 3}.txt`, `small ${i}\n`);
    work.commit(`commit ${i}`);
  }
  work.git('gc', '-q', '--aggressive');
  // Loose objects on top of the packs.
  work.write('loose.txt', 'not packed yet\n');
  work.commit('loose commit');
  mirror = GitFixture.create('store-mirror', { bare: true });
  mirror.git('fetch', '-q', work.dir, '+refs/heads/*:refs/heads/*');
});
afterAll(() => {
  work.cleanup();
  mirror.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

describe('GitDirObjectStore', () => {
  it('reads every object of packs and loose objects, with headers, exactly as git has them', () => {
    const store = GitDirObjectStore.open(join(work.dir, '.git'), { limits });
    try {
      const all = listing(work);
      expect(all.length).toBeGreaterThan(40);
      expect(store.packCount).toBeGreaterThanOrEqual(1);
      for (const { oid, type, size } of all) {
        expect(store.has(oid)).toBe(true);
        const obj = store.read(oid)!;
        expect(obj.type).toBe(type);
        expect(obj.data.length).toBe(size);
        expect(hashObject(obj.type, obj.data)).toBe(oid);
        expect(store.header(oid)).toEqual({ type, size });
      }
      const absent = 'f'.repeat(40) as Oid;
      expect(store.has(absent)).toBe(false);
      expect(store.read(absent)).toBeUndefined();
      expect(store.header(absent)).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('gives delta-compressed objects their result size without resolving the chain', () => {
    const store = GitDirObjectStore.open(join(work.dir, '.git'), { limits });
    try {
      const packDir = join(work.dir, '.git/objects/pack');
      const verify = work.git('verify-pack', '-v', ...idxFiles(packDir));
      const deltaLines = verify.split('\n').filter((l) => /^[0-9a-f]{40} blob\s+\d+ \d+ \d+ \d+ [0-9a-f]{40}$/.test(l));
      expect(deltaLines.length).toBeGreaterThan(5);
      for (const l of deltaLines) {
        // verify-pack's third column is the delta's own size; the object's size is cat-file's.
        const oid = l.split(/\s+/)[0];
        const size = Number(work.git('cat-file', '-s', oid).trim());
        expect(store.header(oid as Oid)).toEqual({ type: 'blob', size });
      }
    } finally {
      store.close();
    }
  });

  it('picks up packs and loose objects added after it opened, and drops packs a repack removed', () => {
    const repo = GitFixture.create('store-refresh', { bare: true });
    try {
      // As the mirror is configured: every fetch stays a pack.
      repo.git('config', 'transfer.unpackLimit', '1');
      repo.git('fetch', '-q', work.dir, `${work.git('rev-parse', 'HEAD~5').trim()}:refs/heads/old`);
      const store = GitDirObjectStore.open(repo.dir, { limits });
      const head = work.git('rev-parse', 'HEAD').trim() as Oid;
      expect(store.has(head)).toBe(false);
      repo.git('fetch', '-q', work.dir, '+refs/heads/main:refs/heads/main');
      expect(store.refresh().added).toBeGreaterThanOrEqual(1);
      expect(store.read(head)?.type).toBe('commit');
      const blob = repo.gitBytes(['hash-object', '-w', '--stdin'], 'fresh loose\n').toString().trim() as Oid;
      expect(store.has(blob)).toBe(false);
      store.refresh();
      expect(store.read(blob)?.data.toString()).toBe('fresh loose\n');
      repo.git('repack', '-a', '-d', '-q');
      const r = store.refresh();
      expect(r.removed).toBeGreaterThanOrEqual(1);
      expect(store.packCount).toBe(1);
      expect(store.read(head)?.type).toBe('commit');
      store.close();
    } finally {
      repo.cleanup();
    }
  });

  it('refuses a corrupt loose object and bounds what it inflates', () => {
    const repo = GitFixture.create('store-corrupt', { bare: true });
    try {
      const put = (oid: string, bytes: Buffer) => {
        mkdirSync(join(repo.dir, 'objects', oid.slice(0, 2)), { recursive: true });
        writeFileSync(join(repo.dir, 'objects', oid.slice(0, 2), oid.slice(2)), bytes);
      };
      const lying = 'a'.repeat(40) as Oid;
      put(lying, deflateSync(Buffer.from('blob 10\0abc')));
      const bomb = 'b'.repeat(40) as Oid;
      put(bomb, deflateSync(Buffer.concat([Buffer.from('blob 50000000\0'), Buffer.alloc(50_000_000)])));
      const notZlib = 'c'.repeat(40) as Oid;
      put(notZlib, Buffer.from('plain text'));
      const badType = 'd'.repeat(40) as Oid;
      put(badType, deflateSync(Buffer.from('blub 3\0abc')));
      const store = GitDirObjectStore.open(repo.dir, { limits: { maxObjectBytes: 1 << 20, maxDeltaDepth: 50 } });
      for (const oid of [lying, bomb, notZlib, badType]) {
        expect(() => store.read(oid)).toThrow(StoreError);
        try {
          store.read(oid);
        } catch (e) {
          expect((e as StoreError).code).toBe('OBJ_STORE_CORRUPT');
          expect((e as StoreError).data?.oid).toBe(oid);
        }
      }
      expect(() => store.header(badType)).toThrow(StoreError);
      store.close();
    } finally {
      repo.cleanup();
    }
  });

  it('says clearly when a directory has no object database', () => {
    expect(() => GitDirObjectStore.open(scratch, { limits })).toThrow(expect.objectContaining({ code: 'OBJ_STORE_UNREADABLE' }));
  });
});

describe('PushedPackStore', () => {
  it('reads a thin pack with its bases from the mirror, and layers pack over mirror', () => {
    // The push: new commits on top of what the mirror has, packed as git push packs them.
    const base = work.git('rev-parse', 'HEAD').trim();
    for (let i = 12; i < 15; i++) {
      work.write('big.txt', bigText(i));
      work.commit(`pushed ${i}`);
    }
    const tip = work.git('rev-parse', 'HEAD').trim();
    mirror.git('fetch', '-q', work.dir, `${base}:refs/heads/main`);
    const files = thinPack(work, [tip, `^${base}`], join(scratch, 'push'));
    expect(files.externalBases).toBeGreaterThan(0);
    const mirrorStore = GitDirObjectStore.open(mirror.dir, { limits });
    const pushed = PushedPackStore.open(files.packPath, files.idxPath, { limits, base: mirrorStore });
    try {
      expect(pushed.count).toBe(files.count);
      const pushedOids = [...pushed.oids()];
      expect(pushedOids).toHaveLength(files.count);
      const expected = work
        .git('rev-list', '--objects', tip, `^${base}`)
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]);
      expect(new Set(pushedOids)).toEqual(new Set(expected));
      for (const oid of pushedOids) {
        const obj = pushed.read(oid)!;
        expect(hashObject(obj.type, obj.data)).toBe(oid);
        expect(pushed.header(oid)).toEqual({ type: obj.type, size: obj.data.length });
      }
      const both = pushed.withBase();
      expect(both).toBeInstanceOf(LayeredObjectStore);
      expect(both.read(tip as Oid)?.type).toBe('commit');
      expect(both.read(base as Oid)?.type).toBe('commit');
      expect(pushed.has(base as Oid)).toBe(false);
      expect(both.has(base as Oid)).toBe(true);
    } finally {
      pushed.close();
      mirrorStore.close();
    }
  });
});

function idxFiles(packDir: string): string[] {
  return readdirSync(packDir)
    .filter((f) => f.endsWith('.idx'))
    .map((f) => join(packDir, f));
}
