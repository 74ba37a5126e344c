/**
 * Building a fixture repository from its description, deterministically: the whole history is one
 * `git fast-import` stream (git-fast-import(1)) with fixed identities and dates, so every build of
 * a description yields the same object ids. Each commit's complete file list is worked out here
 * first (a merge takes what its other parents changed since the merge base, then applies its own
 * `files`, which is how an "evil" merge is described), and the stream carries only the difference
 * from the first parent. Signed commits are rewritten after the import (fast-import of git 2.39
 * cannot write a signature header), their descendants with them; tags and branches come last.
 *
 * Stream grammar used (git-fast-import(1), "Commands"):
 *   blob LF mark :<n> LF data <size> LF <bytes> LF
 *   reset <ref> LF
 *   commit <ref> LF mark :<n> LF author <ident> <time> +0000 LF committer … LF data <size> LF <msg> LF
 *     [from :<n> LF] (merge :<n> LF)* (M <mode> :<blob> <path> LF | M 160000 <oid> <path> LF | D <path> LF)*
 *   done
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isOid, runGit, type Oid } from '@pushgate/core';
import { expandPlaceholders, generateContent } from './content';
import { FixtureRepoError } from './errors';
import { RepoDescriptionSchema, type CommitDescription, type DateDescription, type FileDescription, type PersonDescription, type RepoDescription } from './description';

/** A fixture repository that was built: where it is, and the ids of what the description named. */
export interface BuiltRepo {
  readonly name: string;
  /** The bare repository. */
  readonly gitDir: string;
  /** Commit id (from the description) → object id. */
  readonly commits: ReadonlyMap<string, Oid>;
  /** Every ref written (`refs/heads/…`, `refs/tags/…`) → its value (a tag object for an annotated tag). */
  readonly refs: ReadonlyMap<string, Oid>;
}

/** When a commit names no date: 2024-01-01T00:00:00Z, then one hour per commit. */
const FIRST_DATE = Date.UTC(2024, 0, 1) / 1000;
const DEFAULT_PERSON = { name: 'Fixture Author', email: 'author@example.com' } as const;
/** The ref every commit is written to during the import (removed at the end). */
const SCRATCH_REF = 'refs/pushgate-fixture/import';

type Entry =
  | { readonly kind: 'blob'; readonly mode: '100644' | '100755' | '120000'; readonly data: Buffer; readonly key: string }
  | { readonly kind: 'gitlink'; readonly oid: string };

type Tree = Map<string, Entry>;

function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === 'gitlink') return b.kind === 'gitlink' && a.oid === b.oid;
  return b.kind === 'blob' && a.mode === b.mode && a.key === b.key;
}

/** Reads and validates `fixtures/repos/<name>.yaml`-style files. */
export async function loadRepoDescription(file: string): Promise<RepoDescription> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new FixtureRepoError('FIXTURE_REPO_INVALID', file, `${file}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const parsed = RepoDescriptionSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`).join('\n');
    throw new FixtureRepoError('FIXTURE_REPO_INVALID', file, `${file}: not a valid repository description:\n${issues}`);
  }
  return parsed.data;
}

/** Builds `description` into a new bare repository at `gitDir` (which must not exist yet). */
export async function buildRepo(name: string, description: RepoDescription, gitDir: string): Promise<BuiltRepo> {
  const fail = (message: string): never => {
    throw new FixtureRepoError('FIXTURE_REPO_INVALID', name, `fixture repository ${name}: ${message}`);
  };
  const person = (p: PersonDescription | undefined): { name: string; email: string } => {
    const chosen = p ?? description.defaultAuthor;
    if (chosen === undefined) return DEFAULT_PERSON;
    if (typeof chosen !== 'string') return chosen;
    return description.people?.[chosen] ?? fail(`person "${chosen}" is not in people`);
  };
  const seconds = (d: DateDescription | undefined, fallback: number): number => (d === undefined ? fallback : typeof d === 'number' ? d : Math.floor(Date.parse(d) / 1000));

  // 1. Every commit's full tree, as path → entry.
  const index = new Map<string, number>();
  const parentsOf: string[][] = [];
  const trees: Tree[] = [];
  const blobCache = new Map<string, Entry>();
  const entryFor = (commit: CommitDescription, path: string, file: Exclude<FileDescription, null>): Entry => {
    const seed = `${name}:${path}`;
    const blob = (mode: '100644' | '100755' | '120000', data: Buffer): Entry => {
      const key = createHash('sha1').update(data).digest('hex');
      const known = blobCache.get(`${mode}:${key}`);
      if (known !== undefined) return known;
      const entry: Entry = { kind: 'blob', mode, data, key };
      blobCache.set(`${mode}:${key}`, entry);
      return entry;
    };
    try {
      if (typeof file === 'string') return blob('100644', Buffer.from(expandPlaceholders(file, seed), 'utf8'));
      if ('symlink' in file) return blob('120000', Buffer.from(file.symlink, 'utf8'));
      if ('submodule' in file) return { kind: 'gitlink', oid: file.submodule };
      if ((file.text === undefined) === (file.generate === undefined)) fail(`commit ${commit.id}: ${path} needs exactly one of text and generate`);
      const data = file.generate !== undefined ? generateContent(file.generate, seed) : Buffer.from(expandPlaceholders(file.text ?? '', seed), 'utf8');
      return blob(file.executable === true ? '100755' : '100644', data);
    } catch (e) {
      if (e instanceof FixtureRepoError) throw e;
      return fail(`commit ${commit.id}: ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const ancestors = (start: number): Set<number> => {
    const seen = new Set<number>();
    const queue = [start];
    while (queue.length > 0) {
      const i = queue.shift()!;
      if (seen.has(i)) continue;
      seen.add(i);
      for (const p of parentsOf[i]) queue.push(index.get(p)!);
    }
    return seen;
  };
  /** The nearest common ancestor (breadth-first from `b`): enough for the histories fixtures describe. */
  const mergeBase = (a: number, b: number): number | undefined => {
    const ofA = ancestors(a);
    const queue = [b];
    const seen = new Set<number>();
    while (queue.length > 0) {
      const i = queue.shift()!;
      if (ofA.has(i)) return i;
      if (seen.has(i)) continue;
      seen.add(i);
      for (const p of parentsOf[i]) queue.push(index.get(p)!);
    }
    return undefined;
  };
  description.commits.forEach((commit, i) => {
    if (index.has(commit.id)) fail(`commit id ${commit.id} is used twice`);
    const parents = commit.parents ?? (i === 0 ? [] : [description.commits[i - 1].id]);
    for (const p of parents) if (!index.has(p)) fail(`commit ${commit.id}: parent ${p} is not an earlier commit`);
    parentsOf.push(parents);
    const tree: Tree = parents.length === 0 ? new Map() : new Map(trees[index.get(parents[0])!]);
    for (const other of parents.slice(1)) {
      const base = mergeBase(index.get(parents[0])!, index.get(other)!);
      const baseTree = base === undefined ? new Map<string, Entry>() : trees[base];
      const otherTree = trees[index.get(other)!];
      for (const path of new Set([...otherTree.keys(), ...baseTree.keys()])) {
        const theirs = otherTree.get(path);
        if (sameEntry(theirs, baseTree.get(path))) continue;
        if (theirs === undefined) tree.delete(path);
        else tree.set(path, theirs);
      }
    }
    for (const [from, to] of Object.entries(commit.renames ?? {})) {
      const entry = tree.get(from) ?? fail(`commit ${commit.id}: cannot rename ${from}: no such file`);
      tree.delete(from);
      tree.set(to, entry);
    }
    for (const [path, file] of Object.entries(commit.files ?? {})) {
      if (file === null) {
        if (!tree.delete(path)) fail(`commit ${commit.id}: cannot delete ${path}: no such file`);
      } else tree.set(path, entryFor(commit, path, file));
    }
    index.set(commit.id, i);
    trees.push(tree);
  });

  // 2. The fast-import stream: each distinct blob once, then every commit as a diff from its first parent.
  const parts: Buffer[] = [Buffer.from('feature done\n')];
  const blobMarks = new Map<Entry, number>();
  let nextMark = 1;
  for (const tree of trees) {
    for (const entry of tree.values()) {
      if (entry.kind !== 'blob' || blobMarks.has(entry)) continue;
      blobMarks.set(entry, nextMark);
      parts.push(Buffer.from(`blob\nmark :${nextMark++}\ndata ${entry.data.length}\n`), entry.data, Buffer.from('\n'));
    }
  }
  const commitMark = (i: number): number => nextMark + i;
  description.commits.forEach((commit, i) => {
    const author = person(commit.author);
    const committer = commit.committer === undefined && commit.author !== undefined ? author : person(commit.committer);
    const authorTime = seconds(commit.date, FIRST_DATE + i * 3600);
    const committerTime = seconds(commit.committerDate, authorTime);
    for (const who of [author, committer]) if (/[<>\n]/.test(who.name) || /[<>\n]/.test(who.email)) fail(`commit ${commit.id}: ${JSON.stringify(who)} contains <, > or a newline`);
    const message = Buffer.from(commit.message, 'utf8');
    let head = `reset ${SCRATCH_REF}\ncommit ${SCRATCH_REF}\nmark :${commitMark(i)}\n`;
    head += `author ${author.name} <${author.email}> ${authorTime} +0000\ncommitter ${committer.name} <${committer.email}> ${committerTime} +0000\n`;
    parts.push(Buffer.from(`${head}data ${message.length}\n`), message, Buffer.from('\n'));
    const parents = parentsOf[i].map((p) => index.get(p)!);
    parents.forEach((p, n) => parts.push(Buffer.from(`${n === 0 ? 'from' : 'merge'} :${commitMark(p)}\n`)));
    const before = parents.length === 0 ? new Map<string, Entry>() : trees[parents[0]];
    const after = trees[i];
    const lines: string[] = [];
    for (const path of [...before.keys()].sort()) if (!after.has(path)) lines.push(`D ${quotePath(path)}\n`);
    for (const path of [...after.keys()].sort()) {
      const entry = after.get(path)!;
      if (sameEntry(entry, before.get(path))) continue;
      lines.push(entry.kind === 'gitlink' ? `M 160000 ${entry.oid} ${quotePath(path)}\n` : `M ${entry.mode} :${blobMarks.get(entry)} ${quotePath(path)}\n`);
    }
    parts.push(Buffer.from(`${lines.join('')}\n`));
  });
  parts.push(Buffer.from('done\n'));

  await mkdir(gitDir, { recursive: true });
  await git(name, ['init', '--bare', '-q', gitDir]);
  const marksFile = join(gitDir, 'fixture-import.marks');
  await git(name, ['fast-import', '--quiet', '--date-format=raw', `--export-marks=${marksFile}`], { gitDir, input: Buffer.concat(parts) });
  const marks = new Map<number, Oid>();
  for (const line of (await readFile(marksFile, 'utf8')).split('\n')) {
    const m = /^:(\d+) ([0-9a-f]{40})$/.exec(line);
    if (m !== null && isOid(m[2])) marks.set(Number(m[1]), m[2]);
  }
  await rm(marksFile, { force: true });

  // 3. Signed commits (and everything built on them) rewritten with a signature header.
  const commits = new Map<string, Oid>();
  const importedIds = new Map<string, Oid>();
  for (const [i, commit] of description.commits.entries()) {
    const imported = marks.get(commitMark(i)) ?? fail(`fast-import wrote no commit for ${commit.id}`);
    importedIds.set(commit.id, imported);
    const parentIds = parentsOf[i].map((p) => commits.get(p)!);
    if (commit.signed === true || parentsOf[i].some((p) => commits.get(p) !== importedIds.get(p))) {
      const raw = (await git(name, ['cat-file', 'commit', imported], { gitDir })).toString('utf8');
      const [header, ...body] = raw.split('\n\n');
      let lines = header.split('\n').filter((l) => !l.startsWith('parent '));
      lines.splice(1, 0, ...parentIds.map((p) => `parent ${p}`));
      if (commit.signed === true) {
        const committerAt = lines.findIndex((l) => l.startsWith('committer '));
        lines = [...lines.slice(0, committerAt + 1), ...fakeSignature(`${name}:${commit.id}`), ...lines.slice(committerAt + 1)];
      }
      const out = (await git(name, ['hash-object', '-t', 'commit', '-w', '--stdin'], { gitDir, input: `${[lines.join('\n'), ...body].join('\n\n')}` })).toString('utf8').trim();
      if (!isOid(out)) fail(`hash-object printed ${out}`);
      commits.set(commit.id, out as Oid);
    } else commits.set(commit.id, imported);
  }

  // 4. Tags and branches.
  const refs = new Map<string, Oid>();
  const commitId = (id: string, where: string): Oid => commits.get(id) ?? fail(`${where}: ${id} is not a commit of the description`);
  for (const [branch, id] of Object.entries(description.branches)) refs.set(`refs/heads/${branch}`, commitId(id, `branch ${branch}`));
  for (const [tag, spec] of Object.entries(description.tags)) {
    if (typeof spec === 'string') {
      refs.set(`refs/tags/${tag}`, commitId(spec, `tag ${tag}`));
      continue;
    }
    const tagger = person(spec.tagger);
    const object = commitId(spec.commit, `tag ${tag}`);
    const text = `object ${object}\ntype commit\ntag ${tag}\ntagger ${tagger.name} <${tagger.email}> ${seconds(spec.date, FIRST_DATE)} +0000\n\n${spec.message.endsWith('\n') ? spec.message : `${spec.message}\n`}`;
    const out = (await git(name, ['mktag'], { gitDir, input: text })).toString('utf8').trim();
    if (!isOid(out)) fail(`mktag printed ${out}`);
    refs.set(`refs/tags/${tag}`, out as Oid);
  }
  const updates = [`delete ${SCRATCH_REF}`, ...[...refs].map(([ref, oid]) => `create ${ref} ${oid}`)];
  await git(name, ['update-ref', '--stdin'], { gitDir, input: `${updates.join('\n')}\n` });
  const head = description.head ?? Object.keys(description.branches)[0];
  if (head !== undefined) await git(name, ['symbolic-ref', 'HEAD', `refs/heads/${head}`], { gitDir });
  return { name, gitDir, commits, refs };
}

/** Builds the description in `file` into `gitDir`; the repository is named after the file. */
export async function buildRepoFile(file: string, gitDir: string): Promise<BuiltRepo> {
  return buildRepo(basename(file).replace(/\.ya?ml$/, ''), await loadRepoDescription(file), gitDir);
}

/**
 * A `gpgsig` header holding an SSH signature block of the right shape (armor, base64 body) but
 * no valid signature: what the change set reports as "signed", which is what unsigned-commit
 * rules look at; verification is not what fixtures test.
 */
function fakeSignature(seed: string): string[] {
  const body = Buffer.concat([createHash('sha512').update(seed).digest(), createHash('sha512').update(`${seed}\0`).digest()]).toString('base64');
  const rows = body.match(/.{1,70}/g) ?? [];
  return ['gpgsig -----BEGIN SSH SIGNATURE-----', ...rows.map((r) => ` ${r}`), ' -----END SSH SIGNATURE-----'];
}

/** A path as fast-import reads it: C-quoted when it starts with `"` or holds a newline (the rest of the line is the path). */
function quotePath(path: string): string {
  if (!path.startsWith('"') && !path.includes('\n')) return path;
  return `"${path.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

async function git(name: string, args: string[], options: { gitDir?: string; input?: string | Buffer } = {}): Promise<Buffer> {
  const result = await runGit({ args, gitDir: options.gitDir, input: options.input });
  if (result.code !== 0) throw new FixtureRepoError('FIXTURE_REPO_GIT_FAILED', name, `fixture repository ${name}: git ${args[0]} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}
