/**
 * Synthetic git repositories for benchmarks, made deterministically (a seeded PRNG) and fast
 * (one `git fast-import` stream, written with backpressure): thousands of commits by a handful
 * of authors over source-like text files in nested directories, edited a few lines at a time
 * (good deltas) with some files much hotter than others, new files and directories, renames,
 * deletions, binary assets (some replaced, some patched), and side branches merged back.
 *
 * Two products, cached under `.bench/synth/` keyed by their parameters:
 *   - `ensureRepo`: one bare repository, fully repacked (clone benchmarks: a ≥100 MB pack);
 *   - `ensurePush`: a base repository plus the thin pack `git push` would send for a history on
 *     top of it (`git pack-objects --thin --stdout --revs` with `new ^base`), for pack inspection.
 *
 * CLI: `npx tsx scripts/synth/repo.ts --help`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

/** Bumped whenever the generator's output changes, so cached repositories are not reused. */
const GENERATOR_VERSION = 3;

/** Where generated repositories are cached (gitignored). */
export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../.bench');

/** What to generate. */
export interface HistoryParams {
  readonly seed: number;
  /** Commits, merges and side-branch commits included. */
  readonly commits: number;
  /** Approximate bytes this history adds to a well-packed repository. */
  readonly packBytes: number;
}

/** A generated repository. */
export interface SynthRepo {
  /** The bare repository. */
  readonly dir: string;
  readonly params: HistoryParams;
  readonly tip: string;
  readonly commits: number;
  readonly packBytes: number;
  readonly objects: number;
}

/** A base repository and a thin push on top of it. */
export interface SynthPush {
  /** Bare repository holding the base history only (what the server / mirror has). */
  readonly baseDir: string;
  /** Bare repository holding base and pushed history (the pusher's, repacked). */
  readonly fullDir: string;
  /** The thin pack `git push` sends. */
  readonly packPath: string;
  readonly baseTip: string;
  readonly tip: string;
  readonly base: HistoryParams;
  readonly push: HistoryParams;
  readonly pushCommits: number;
  readonly packBytes: number;
  readonly packObjects: number;
}

const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
};

function git(cwd: string, args: readonly string[], input?: string): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, input, encoding: 'utf8', maxBuffer: 1 << 28 });
}

/** mulberry32: small, fast, and the same everywhere. */
class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** Index in [0, n) skewed toward 0 (a few hot files take most edits). */
  skewed(n: number): number {
    return Math.min(n - 1, Math.floor(n * this.next() ** 3));
  }
  /** Incompressible bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n + 3);
    for (let i = 0; i < n; i += 4) out.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    return out.subarray(0, n);
  }
}

type FileState = { readonly kind: 'text'; lines: string[] } | { readonly kind: 'binary'; data: Buffer };

const AUTHORS = [
  ['Ada Lovelace', 'ada@example.com'],
  ['Grace Hopper', 'grace@example.com'],
  ['Linus Builder', 'linus@example.com'],
  ['Margaret Hamilton', 'margaret@example.com'],
  ['Ken Thompson', 'ken@example.com'],
  ['Release Bot', 'bot@example.com'],
] as const;

/** Writes to fast-import's stdin, waiting when the pipe is full. */
class ImportStream {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly done: Promise<void>;
  private readonly child;

  constructor(repo: string, marksFile: string) {
    this.child = spawn('git', ['fast-import', '--quiet', '--force', `--export-marks=${marksFile}`], {
      cwd: repo,
      env: GIT_ENV,
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    this.done = new Promise((resolveDone, reject) => {
      this.child.on('error', reject);
      this.child.on('exit', (code) => (code === 0 ? resolveDone() : reject(new Error(`git fast-import exited with ${code}`))));
    });
  }

  put(s: string | Buffer): void {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  data(b: Buffer): void {
    this.put(`data ${b.length}\n`);
    this.put(b);
    this.put('\n');
  }

  /** Sends what is buffered once it is large; waits for the pipe to drain. */
  async flush(force = false): Promise<void> {
    if (!force && this.pendingBytes < 1 << 20) return;
    const chunk = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.child.stdin.write(chunk)) await new Promise((r) => this.child.stdin.once('drain', r));
  }

  async close(): Promise<void> {
    await this.flush(true);
    this.child.stdin.end();
    await this.done;
  }

  /** Stops fast-import after a failure (an open pipe would keep the process alive). */
  abort(): void {
    this.child.kill();
    this.done.catch(() => undefined);
  }
}

const WORDS = (() => {
  const rng = new Rng(424242);
  const syll = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'shi', 'vo', 'pe', 'qua', 'zen', 'dor', 'fi', 'gal', 'hum', 'ix'];
  return Array.from({ length: 1500 }, () => Array.from({ length: rng.between(2, 4) }, () => rng.pick(syll)).join(''));
})();

/** Generates a history into a fast-import stream, tracking the tree as it goes. */
class HistoryWriter {
  private readonly files = new Map<string, FileState>();
  private readonly paths: string[] = [];
  private dirs: string[] = [];
  private mark = 0;
  private time = 1_600_000_000;
  private debt = 0;
  commitsWritten = 0;

  constructor(
    private readonly out: ImportStream,
    private rng: Rng,
  ) {
    for (let p = 0; p < 6; p++) for (const sub of ['src', 'src/core', 'src/util', 'test', 'docs']) this.dirs.push(`pkg${p}/${sub}`);
  }

  /** Continues the same tree with another random stream (the pushed history after the base). */
  reseed(seed: number): void {
    this.rng = new Rng(seed);
  }

  private ident(): string {
    const [name, email] = this.rng.pick(AUTHORS);
    return `${name} <${email}> ${this.time} +0000`;
  }

  private line(): string {
    const r = this.rng;
    const w = () => r.pick(WORDS);
    switch (r.int(8)) {
      case 0:
        return `export function ${w()}${w()}(${w()}: number, ${w()}: string): boolean {`;
      case 1:
        return `  const ${w()} = ${w()}.${w()}(${r.int(1000)}, '${w()} ${w()}');`;
      case 2:
        return `  // ${w()} ${w()} ${w()} ${w()} ${w()} ${w()}`;
      case 3:
        return `  if (${w()} > ${r.int(100)}) return ${w()}(${w()});`;
      case 4:
        return '}';
      case 5:
        return `import { ${w()}, ${w()} } from './${w()}';`;
      case 6:
        return `  ${w()}.push({ ${w()}: ${r.int(10000)}, ${w()}: '${w()}' });`;
      default:
        return '';
    }
  }

  private textFile(lines: number): string[] {
    return Array.from({ length: lines }, () => this.line());
  }

  private write(path: string, f: FileState): void {
    this.out.put(`M 100644 inline ${path}\n`);
    this.out.data(f.kind === 'text' ? Buffer.from(f.lines.join('\n') + '\n') : f.data);
  }

  private addFile(path: string, f: FileState): void {
    if (!this.files.has(path)) this.paths.push(path);
    this.files.set(path, f);
    this.write(path, f);
  }

  private removePath(path: string): void {
    this.files.delete(path);
    const i = this.paths.indexOf(path);
    this.paths[i] = this.paths[this.paths.length - 1];
    this.paths.pop();
  }

  private newPath(ext: string): string {
    const r = this.rng;
    if (r.chance(0.05)) this.dirs.push(`${r.pick(this.dirs)}/${r.pick(WORDS)}`);
    return `${r.pick(this.dirs)}/${r.pick(WORDS)}${r.int(1000)}.${ext}`;
  }

  /** Edits a text file a few lines at a time (what makes good deltas). */
  private edit(path: string, f: FileState & { kind: 'text' }, own: boolean): FileState {
    const r = this.rng;
    const lines = own ? f.lines : [...f.lines];
    for (let h = r.between(1, 3); h > 0; h--) {
      const at = r.int(lines.length + 1);
      const removed = lines.length > 400 ? r.between(2, 12) : r.int(4);
      lines.splice(at, removed, ...Array.from({ length: r.between(0, 6) }, () => this.line()));
    }
    if (lines.length === 0) lines.push(this.line());
    const next: FileState = { kind: 'text', lines };
    this.files.set(path, next);
    this.write(path, next);
    return next;
  }

  /** The content of one ordinary commit. */
  private changes(budget: number): void {
    const r = this.rng;
    const textPaths = () => this.paths.filter((p) => this.files.get(p)!.kind === 'text');
    if (this.paths.length < 20) {
      for (let i = 0; i < 30; i++) this.addFile(this.newPath('ts'), { kind: 'text', lines: this.textFile(r.between(30, 300)) });
      return;
    }
    for (let e = r.between(1, 4); e > 0; e--) {
      const path = this.paths[r.skewed(this.paths.length)];
      const f = this.files.get(path)!;
      if (f.kind === 'text') this.edit(path, f, true);
    }
    this.debt += budget;
    // New content is what makes a history big; it arrives in lumps, as in real repositories.
    while (this.debt > 6000) {
      if (r.chance(0.3)) {
        const size = Math.floor(Math.min(this.debt, r.between(8_000, 400_000)));
        const existing = this.paths.filter((p) => this.files.get(p)!.kind === 'binary');
        if (existing.length > 0 && r.chance(0.3)) {
          // A patched asset: mostly the same bytes (deltas well).
          const path = r.pick(existing);
          const old = (this.files.get(path) as { data: Buffer }).data;
          const data = Buffer.from(old);
          const at = r.int(Math.max(1, data.length - 4096));
          r.bytes(Math.min(4096, data.length - at)).copy(data, at);
          this.addFile(path, { kind: 'binary', data });
          this.debt -= 4096;
        } else {
          this.addFile(existing.length > 0 && r.chance(0.2) ? r.pick(existing) : this.newPath('bin'), { kind: 'binary', data: r.bytes(size) });
          this.debt -= size;
        }
      } else {
        const lines = r.between(60, 900);
        this.addFile(this.newPath('ts'), { kind: 'text', lines: this.textFile(lines) });
        // Measured: a generated line costs ~19 bytes packed (≈45 bytes, deflating ~2.5:1 even
        // as a delta against other new files).
        this.debt -= lines * 19;
      }
    }
    const roll = r.next();
    if (roll < 0.02) {
      const text = textPaths();
      const from = r.pick(text);
      const to = this.newPath('ts');
      const f = this.files.get(from)!;
      this.out.put(`R ${from} ${to}\n`);
      this.removePath(from);
      this.files.set(to, f);
      this.paths.push(to);
    } else if (roll < 0.035 && this.paths.length > 60) {
      const path = this.paths[this.paths.length - 1 - this.rng.skewed(this.paths.length)];
      this.out.put(`D ${path}\n`);
      this.removePath(path);
    }
  }

  private commit(ref: string, parents: readonly string[], message: string, body: () => void): string {
    const m = ++this.mark;
    this.time += this.rng.between(60, 7200);
    this.out.put(`commit ${ref}\nmark :${m}\nauthor ${this.ident()}\ncommitter ${this.ident()}\n`);
    this.out.data(Buffer.from(message));
    parents.forEach((p, i) => this.out.put(`${i === 0 ? 'from' : 'merge'} ${p}\n`));
    body();
    this.out.put('\n');
    this.commitsWritten++;
    return `:${m}`;
  }

  private message(): string {
    const r = this.rng;
    const verb = r.pick(['Fix', 'Add', 'Refactor', 'Update', 'Remove', 'Document', 'Speed up', 'Test']);
    const body = r.chance(0.4) ? `\n\n${Array.from({ length: r.between(1, 4) }, () => `${r.pick(WORDS)} ${r.pick(WORDS)} ${r.pick(WORDS)}.`).join(' ')}` : '';
    return `${verb} ${r.pick(WORDS)} ${r.pick(WORDS)}${body}\n`;
  }

  /**
   * Writes `commits` commits on `ref` starting from `from` (a mark or id; none for a root),
   * with about `packBytes` of packed content. Returns the tip (a mark).
   */
  async history(ref: string, from: string | undefined, commits: number, packBytes: number): Promise<string> {
    const r = this.rng;
    // Measured: commits, trees and the small edits cost ~1 KB an average commit once packed.
    const budget = Math.max(0, packBytes / commits - 1000);
    let tip = from;
    let written = 0;
    while (written < commits) {
      if (tip && commits - written > 12 && r.chance(1 / 60)) {
        // A side branch, merged back: its changes are taken on top of main's in the merge.
        const sideCommits = r.between(2, 6);
        const saved = new Map(this.files);
        const touched = new Map<string, FileState>();
        let side = tip;
        for (let s = 0; s < sideCommits; s++) {
          side = this.commit('refs/heads/topic', [side], this.message(), () => {
            for (let e = r.between(1, 3); e > 0; e--) {
              const path = this.paths[r.int(this.paths.length)];
              const f = this.files.get(path)!;
              if (f.kind === 'text') touched.set(path, this.edit(path, f, false));
            }
          });
        }
        for (const [p, f] of saved) this.files.set(p, f);
        const mainCommits = r.between(1, 3);
        for (let s = 0; s < mainCommits; s++) tip = this.commit(ref, [tip], this.message(), () => this.changes(budget));
        tip = this.commit(ref, [tip, side], `Merge branch 'topic'\n`, () => {
          for (const [p, f] of touched) {
            if (!this.files.has(p)) continue;
            this.files.set(p, f);
            this.write(p, f);
          }
        });
        written += sideCommits + mainCommits + 1;
      } else {
        tip = this.commit(ref, tip ? [tip] : [], this.message(), () => this.changes(budget));
        written++;
      }
      await this.out.flush();
    }
    return tip!;
  }
}

function packStats(repo: string): { bytes: number; objects: number } {
  const out = git(repo, ['count-objects', '-v']);
  const field = (name: string) => Number(out.match(new RegExp(`^${name}: (\\d+)$`, 'm'))![1]);
  return { bytes: field('size-pack') * 1024, objects: field('in-pack') };
}

function resolveMarks(marksFile: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of readFileSync(marksFile, 'utf8').split('\n')) {
    const [mark, oid] = line.split(' ');
    if (oid) map.set(mark, oid);
  }
  return map;
}

function repack(repo: string): void {
  // -f: fast-import deltas each blob against the blob before it in the stream (another file),
  // so its deltas are recomputed rather than reused. Bitmaps off: with one, pack-objects writes
  // no thin deltas (and a developer's clone has none).
  git(repo, ['-c', 'repack.writeBitmaps=false', '-c', 'pack.threads=2', 'repack', '-adfq', '--depth=50', '--window=10']);
  git(repo, ['prune-packed']);
}

const keyOf = (kind: string, ...params: HistoryParams[]) =>
  `${kind}-v${GENERATOR_VERSION}-${params.map((p) => `s${p.seed}c${p.commits}b${Math.round(p.packBytes / 1e6)}m`).join('-')}`;

/** Generates a bare repository with one history at `dir` (which must not exist). */
export async function generateRepo(dir: string, params: HistoryParams): Promise<SynthRepo> {
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '--bare', '-b', 'main']);
  const marks = join(dir, 'synth-marks');
  const out = new ImportStream(dir, marks);
  const writer = new HistoryWriter(out, new Rng(params.seed));
  let tipMark: string;
  try {
    tipMark = await writer.history('refs/heads/main', undefined, params.commits, params.packBytes);
  } catch (e) {
    out.abort();
    throw e;
  }
  await out.close();
  const tip = resolveMarks(marks).get(tipMark)!;
  rmSync(marks);
  git(dir, ['update-ref', '-d', 'refs/heads/topic']);
  repack(dir);
  const stats = packStats(dir);
  return { dir, params, tip, commits: writer.commitsWritten, packBytes: stats.bytes, objects: stats.objects };
}

/** A cached repository for `params` under `.bench/synth/`, generated on first use. */
export async function ensureRepo(params: HistoryParams, log: (s: string) => void = () => {}): Promise<SynthRepo> {
  const dir = join(BENCH_DIR, 'synth', keyOf('repo', params));
  const meta = join(dir, 'synth.json');
  if (existsSync(meta)) return JSON.parse(readFileSync(meta, 'utf8')) as SynthRepo;
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`generating ${params.commits} commits (~${Math.round(params.packBytes / 1e6)} MB packed) in ${dir}`);
  const repo = await generateRepo(tmp, params);
  renameSync(tmp, dir);
  const result: SynthRepo = { ...repo, dir };
  writeFileSync(meta, JSON.stringify(result, null, 2));
  return result;
}

/**
 * A cached base repository and thin push: `base` history on main in `baseDir`; `push` more
 * commits on top in `fullDir` (repacked, like a developer's repository after `git gc`); and the
 * pack `git push` would send from there: `pack-objects --thin --stdout --revs` of `tip ^baseTip`.
 */
export async function ensurePush(base: HistoryParams, push: HistoryParams, log: (s: string) => void = () => {}): Promise<SynthPush> {
  const dir = join(BENCH_DIR, 'synth', keyOf('push', base, push));
  const meta = join(dir, 'synth.json');
  if (existsSync(meta)) return JSON.parse(readFileSync(meta, 'utf8')) as SynthPush;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(dir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  const fullTmp = join(tmp, 'full.git');
  mkdirSync(fullTmp, { recursive: true });
  git(fullTmp, ['init', '-q', '--bare', '-b', 'main']);
  log(`generating ${base.commits} + ${push.commits} commits in ${dir}`);
  const marks = join(tmp, 'marks');
  const out = new ImportStream(fullTmp, marks);
  const writer = new HistoryWriter(out, new Rng(base.seed));
  let baseMark: string;
  let tipMark: string;
  try {
    baseMark = await writer.history('refs/heads/main', undefined, base.commits, base.packBytes);
    out.put(`reset refs/heads/base\nfrom ${baseMark}\n\n`);
    writer.reseed(push.seed * 7919 + 1);
    tipMark = await writer.history('refs/heads/main', baseMark, push.commits, push.packBytes);
  } catch (e) {
    out.abort();
    throw e;
  }
  await out.close();
  const ids = resolveMarks(marks);
  const baseTip = ids.get(baseMark)!;
  const tip = ids.get(tipMark)!;
  git(fullTmp, ['update-ref', '-d', 'refs/heads/topic']);
  log('repacking the pushing repository');
  repack(fullTmp);

  const baseTmp = join(tmp, 'base.git');
  mkdirSync(baseTmp);
  git(baseTmp, ['init', '-q', '--bare', '-b', 'main']);
  git(baseTmp, ['fetch', '-q', '--no-tags', fullTmp, 'refs/heads/base:refs/heads/main']);
  log('repacking the base repository');
  repack(baseTmp);
  git(fullTmp, ['update-ref', '-d', 'refs/heads/base']);

  log('writing the thin pack');
  const packTmp = join(tmp, 'push.pack');
  const child = spawn(
    'git',
    ['-c', 'pack.useBitmaps=false', '-c', 'pack.threads=2', 'pack-objects', '--thin', '--stdout', '--revs', '--delta-base-offset', '-q'],
    { cwd: fullTmp, env: GIT_ENV, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolveDone, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolveDone() : reject(new Error(`pack-objects exited with ${code}`))));
  });
  child.stdin.end(`${tip}\n^${baseTip}\n`);
  await pipeline(child.stdout, createWriteStream(packTmp));
  await exited;
  const pushCommits = Number(git(fullTmp, ['rev-list', '--count', tip, `^${baseTip}`]).trim());
  const packObjects = readFileSync(packTmp).readUInt32BE(8);
  renameSync(tmp, dir);
  const result: SynthPush = {
    baseDir: join(dir, 'base.git'),
    fullDir: join(dir, 'full.git'),
    packPath: join(dir, 'push.pack'),
    baseTip,
    tip,
    base,
    push,
    pushCommits,
    packBytes: statSync(join(dir, 'push.pack')).size,
    packObjects,
  };
  writeFileSync(meta, JSON.stringify(result, null, 2));
  return result;
}

const HELP = `Synthetic git repositories for benchmarks (cached under .bench/synth/).

usage:
  npx tsx scripts/synth/repo.ts repo [--seed N] [--commits N] [--pack-mb N]
      one bare repository, fully repacked (defaults: seed 1, 20000 commits, 110 MB)
  npx tsx scripts/synth/repo.ts push [--seed N] [--base-commits N] [--base-mb N] [--commits N] [--pack-mb N]
      a base repository and the thin pack \`git push\` sends for a history on top of it
      (defaults: seed 1, base 3000 commits / 25 MB, push 6000 commits / 40 MB)

Prints the result (paths, tips, commits, pack size and objects) as JSON.`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      seed: { type: 'string' },
      commits: { type: 'string' },
      'pack-mb': { type: 'string' },
      'base-commits': { type: 'string' },
      'base-mb': { type: 'string' },
    },
  });
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const seed = num(values.seed, 1);
  if (values.help || positionals.length !== 1) {
    process.stdout.write(`${HELP}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  if (positionals[0] === 'repo') {
    const repo = await ensureRepo({ seed, commits: num(values.commits, 20_000), packBytes: num(values['pack-mb'], 110) * 1e6 }, log);
    process.stdout.write(`${JSON.stringify(repo, null, 2)}\n`);
  } else if (positionals[0] === 'push') {
    const push = await ensurePush(
      { seed, commits: num(values['base-commits'], 3000), packBytes: num(values['base-mb'], 25) * 1e6 },
      { seed: seed + 1, commits: num(values.commits, 6000), packBytes: num(values['pack-mb'], 40) * 1e6 },
      log,
    );
    process.stdout.write(`${JSON.stringify(push, null, 2)}\n`);
  } else {
    process.stdout.write(`${HELP}\n`);
    process.exitCode = 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
