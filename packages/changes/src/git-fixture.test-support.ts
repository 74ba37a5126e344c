/**
 * Test support (imported only by tests): repositories built with the real git CLI in temporary
 * directories, isolated from the host's configuration, with fixed dates so ids are stable; and
 * thin packs exactly as `git push` sends them, with a v2 index that leaves the missing bases
 * missing (git's own index-pack can only index a thin pack by appending its bases).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_LIMITS } from '@pushgate/core';
import { checkObject, type ObjectStore } from '@pushgate/objects';
import { indexPack } from '@pushgate/pack';

/** A git repository in a temporary directory. */
export class GitFixture {
  readonly dir: string;
  private tick = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A new repository (`bare` for a mirror-like one). */
  static create(prefix: string, options: { bare?: boolean } = {}): GitFixture {
    const f = new GitFixture(mkdtempSync(join(tmpdir(), `pg-${prefix}-`)));
    f.git('init', '-q', ...(options.bare ? ['--bare'] : ['-b', 'main']));
    return f;
  }

  /** The isolated environment git runs in (dates advance one minute per commit). */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const date = `${1_700_000_000 + this.tick * 60} +0000`;
    return {
      PATH: process.env.PATH ?? '',
      HOME: this.dir,
      GIT_CONFIG_NOSYSTEM: '1',
      LC_ALL: 'C',
      TZ: 'UTC',
      GIT_AUTHOR_NAME: 'Ann Author',
      GIT_AUTHOR_EMAIL: 'ann@example.com',
      GIT_COMMITTER_NAME: 'Cid Committer',
      GIT_COMMITTER_EMAIL: 'cid@example.com',
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
      ...extra,
    };
  }

  /** Runs git and returns stdout as latin1 text (bytes preserved one to one). */
  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, env: this.env(), encoding: 'latin1', maxBuffer: 1 << 28 });
  }

  /** Runs git with stdin and returns stdout bytes. */
  gitBytes(args: string[], input?: string | Buffer, extraEnv: Record<string, string> = {}): Buffer {
    return execFileSync('git', args, { cwd: this.dir, env: this.env(extraEnv), input, maxBuffer: 1 << 28 });
  }

  /** Writes a file in the work tree (creating directories); a Buffer path is taken as raw bytes. */
  write(path: string | Buffer, content: string | Buffer, mode?: number): void {
    if (Buffer.isBuffer(path)) {
      writeFileSync(Buffer.concat([Buffer.from(`${this.dir}/`), path]), content);
      return;
    }
    const full = join(this.dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
    if (mode !== undefined) execFileSync('chmod', [mode.toString(8), full]);
  }

  /** Replaces `path` with a symbolic link to `target`. */
  symlink(path: string, target: string): void {
    const full = join(this.dir, path);
    mkdirSync(dirname(full), { recursive: true });
    try {
      unlinkSync(full);
    } catch {
      // not there
    }
    symlinkSync(target, full);
  }

  /** Removes a path from the work tree. */
  remove(path: string): void {
    rmSync(join(this.dir, path), { recursive: true, force: true });
  }

  /** Stages everything and commits; returns the commit id. */
  commit(message: string): string {
    this.tick++;
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD').trim();
  }

  /** Removes the directory. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A pushed pack and its index, as the object store reads them. */
export interface PackFiles {
  readonly packPath: string;
  readonly idxPath: string;
  /** Objects in the pack itself. */
  readonly count: number;
  /** Objects the pack needs from outside (thin-pack bases). */
  readonly externalBases: number;
}

/**
 * Makes the pack `git push` would send from `repo` for `revs` (e.g. [new, ^old]) with
 * `pack-objects --thin --stdout --revs`, and indexes it without its missing bases: the entries'
 * offsets and CRCs come from git's index of the fixed pack (index-pack --fix-thin only appends
 * the bases, so the original entries keep their offsets), written as a v2 index of the thin pack.
 */
export function thinPack(repo: GitFixture, revs: readonly string[], outDir: string): PackFiles {
  mkdirSync(outDir, { recursive: true });
  const pack = repo.gitBytes(['pack-objects', '--thin', '--stdout', '--revs', '-q'], `${revs.join('\n')}\n`);
  const packPath = join(outDir, 'push.pack');
  writeFileSync(packPath, pack);
  // index-pack needs a repository to find the bases in: the pushing repository has them.
  const fixedDir = mkdtempSync(join(tmpdir(), 'pg-fixthin-'));
  try {
    const fixedPack = join(fixedDir, 'fixed.pack');
    execFileSync('git', ['index-pack', '--fix-thin', '--stdin', fixedPack], { cwd: repo.dir, env: repo.env(), input: pack });
    const listing = execFileSync('git', ['show-index'], { input: readFileSync(join(fixedDir, 'fixed.idx')), encoding: 'latin1', maxBuffer: 1 << 30 });
    const end = statSync(packPath).size - 20;
    const entries: { oid: Buffer; offset: number; crc: number }[] = [];
    let all = 0;
    for (const line of listing.split('\n').filter(Boolean)) {
      const m = /^(\d+) ([0-9a-f]{40}) \(([0-9a-f]{8})\)$/.exec(line);
      if (!m) throw new Error(`unexpected show-index line ${line}`);
      all++;
      const offset = Number(m[1]);
      if (offset < end) entries.push({ oid: Buffer.from(m[2], 'hex'), offset, crc: parseInt(m[3], 16) });
    }
    const idxPath = join(outDir, 'push.idx');
    writeFileSync(idxPath, writeIdxV2(entries, pack.subarray(pack.length - 20)));
    return { packPath, idxPath, count: entries.length, externalBases: all - entries.length };
  } finally {
    rmSync(fixedDir, { recursive: true, force: true });
  }
}

/** A version 2 pack index (gitformat-pack(5)) for entries below 2 GiB. */
function writeIdxV2(entries: { oid: Buffer; offset: number; crc: number }[], packChecksum: Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.oid, b.oid));
  const n = sorted.length;
  const out = Buffer.alloc(8 + 1024 + n * 28 + 40);
  out.writeUInt32BE(0xff744f63, 0);
  out.writeUInt32BE(2, 4);
  const fanout = new Array<number>(256).fill(0);
  for (const e of sorted) fanout[e.oid[0]]++;
  let acc = 0;
  for (let i = 0; i < 256; i++) {
    acc += fanout[i];
    out.writeUInt32BE(acc, 8 + i * 4);
  }
  let p = 8 + 1024;
  for (const e of sorted) {
    e.oid.copy(out, p);
    p += 20;
  }
  for (const e of sorted) {
    out.writeUInt32BE(e.crc >>> 0, p);
    p += 4;
  }
  for (const e of sorted) {
    out.writeUInt32BE(e.offset, p);
    p += 4;
  }
  packChecksum.copy(out, p);
  p += 20;
  createHash('sha1').update(out.subarray(0, p)).digest().copy(out, p);
  return out;
}

/**
 * An upstream mirror (bare) and a working clone of it: the test commits in the clone, `push`
 * inspects what `git push` would send, `accept` lets the "upstream" take it.
 */
export class PushScenario {
  readonly mirror: GitFixture;
  readonly work: GitFixture;
  private pushes = 0;

  private constructor(mirror: GitFixture, work: GitFixture) {
    this.mirror = mirror;
    this.work = work;
  }

  /** A mirror with `main` holding one commit, and a clone of it. */
  static create(prefix: string, seed: (work: GitFixture) => void = (w) => {
    w.write('README.md', '# project\n');
    w.commit('initial');
  }): PushScenario {
    const work = GitFixture.create(`${prefix}-work`);
    seed(work);
    const mirror = GitFixture.create(`${prefix}-mirror`, { bare: true });
    mirror.git('config', 'transfer.unpackLimit', '1');
    mirror.git('fetch', '-q', work.dir, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*');
    return new PushScenario(mirror, work);
  }

  /** The mirror's refs (the upstream's refs at push time). */
  upstreamRefs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const line of this.mirror.git('for-each-ref', '--format=%(objectname) %(refname)').trim().split('\n')) {
      if (!line) continue;
      const [oid, ref] = line.split(' ');
      out.set(ref, oid);
    }
    return out;
  }

  /** The id `rev` names in the working clone. */
  rev(rev: string): string {
    return this.work.git('rev-parse', rev).trim();
  }

  /**
   * The push as the gateway receives it: the thin pack `git push` would send, indexed by
   * @pushgate/pack's indexPack with the mirror as the source of outside bases, every object run
   * through the strict checks on the way (as the gateway's pipeline does).
   */
  async receive(
    updates: Record<string, string | null>,
    mirror: ObjectStore,
    old: Record<string, string> = {},
  ): Promise<{ commands: { ref: string; oldOid: string; newOid: string }[]; pack?: { packPath: string; idxPath: string; objects: number } }> {
    const zero = '0'.repeat(40);
    const refs = this.upstreamRefs();
    const commands = Object.entries(updates).map(([ref, next]) => ({ ref, oldOid: old[ref] ?? refs.get(ref) ?? zero, newOid: next ?? zero }));
    const tips = commands.filter((c) => c.newOid !== zero).map((c) => c.newOid);
    if (tips.length === 0) return { commands };
    // As git push does: exclude what the remote advertised, where the pusher has it.
    const advertised = [...new Set(refs.values())];
    const have = this.work
      .gitBytes(['cat-file', '--batch-check=%(objectname)'], `${advertised.join('\n')}\n`)
      .toString('latin1')
      .split('\n')
      .filter((l) => /^[0-9a-f]{40}$/.test(l));
    const bytes = this.work.gitBytes(['pack-objects', '--thin', '--stdout', '--revs', '-q'], `${[...tips, ...have.map((h) => `^${h}`)].join('\n')}\n`);
    const dir = join(this.mirror.dir, '..', `${this.mirror.dir.split('/').pop()}-push-${++this.pushes}`);
    mkdirSync(dir, { recursive: true });
    const packPath = join(dir, 'push.pack');
    writeFileSync(packPath, bytes);
    let objects = 0;
    const indexed = await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      external: (oid) => mirror.read(oid),
      onObject: (o) => {
        checkObject(o.type, o.data, { oid: o.oid });
        objects++;
      },
    });
    return { commands, pack: { packPath, idxPath: indexed.idxPath, objects } };
  }

  /** The upstream takes the given refs from the working clone. */
  accept(refspecs: string[]): void {
    this.mirror.git('fetch', '-q', this.work.dir, ...refspecs);
  }

  /** Removes everything. */
  cleanup(): void {
    for (const d of readdirSync(join(this.mirror.dir, '..'))) {
      if (d.startsWith(`${this.mirror.dir.split('/').pop()}-push-`)) rmSync(join(this.mirror.dir, '..', d), { recursive: true, force: true });
    }
    this.mirror.cleanup();
    this.work.cleanup();
  }
}
