import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpooledPack } from './spool';

async function bytesOf(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('SpooledPack', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pushgate-spool-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('persist() streams the pack to the store and removes it once stored; dispose() after it changes nothing', async () => {
    const spool = await SpooledPack.create(root, 'a');
    await writeFile(spool.path, 'PACK-bytes');
    const stored = await spool.persist(async (pack) => bytesOf(pack));
    expect(stored.toString()).toBe('PACK-bytes');
    expect(spool.state.kind).toBe('persisted');
    expect(existsSync(spool.dir)).toBe(false);
    await spool.dispose();
    expect(spool.state.kind).toBe('persisted');
    expect(() => spool.open()).toThrow(/persisted/);
  });

  it('a store that fails leaves the pack to dispose(), which removes it once', async () => {
    const spool = await SpooledPack.create(root, 'b');
    await writeFile(spool.path, 'PACK');
    await expect(spool.persist(async () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
    expect(spool.state.kind).toBe('spooled');
    expect((await bytesOf(spool.open())).toString()).toBe('PACK');
    await Promise.all([spool.dispose(), spool.dispose()]);
    expect(spool.state.kind).toBe('disposed');
    expect(existsSync(spool.dir)).toBe(false);
    await expect(spool.persist(async () => 1)).rejects.toThrow(/disposed/);
  });

  it('dispose() during persist() waits for the store to finish reading', async () => {
    const spool = await SpooledPack.create(root, 'c');
    await writeFile(spool.path, 'x'.repeat(3 << 20));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const persisting = spool.persist(async (pack) => {
      await gate;
      return (await bytesOf(pack)).length;
    });
    const disposing = spool.dispose();
    release();
    expect(await persisting).toBe(3 << 20);
    await disposing;
    expect(existsSync(spool.dir)).toBe(false);
  });
});
