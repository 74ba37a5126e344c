import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Oid } from '@pushgate/core';
import type { ObjectType } from '@pushgate/pack';
import { DEFAULT_IGNORED_CHECKS, ObjectError, checkObject, isValidTagName, type ObjectErrorCode } from './index';

// Every strict-check code against a hand-built hostile object, and the same object sent through
// receive-pack's own check (`git index-pack --strict`, what receive.fsckObjects runs) to show
// git reports the same message id, or refuses the object outright where its parser stops first.

let dir: string;
const env = (home: string) => ({ PATH: process.env.PATH ?? '', HOME: home, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' });
const git = (args: string[], input?: Buffer | string): string =>
  execFileSync('git', args, { cwd: dir, env: env(dir), input, encoding: 'latin1', maxBuffer: 1 << 26 });

let BLOB: Buffer;
let BLOB_HEX: string;
let TREE_HEX: string;

const entry = (mode: string, name: string | Buffer, id: Buffer = BLOB): Buffer =>
  Buffer.concat([Buffer.from(`${mode} `), Buffer.isBuffer(name) ? name : Buffer.from(name, 'utf8'), Buffer.from([0]), id]);
const tree = (...entries: Buffer[]) => Buffer.concat(entries);

const ident = 'A U Thor <author@example.com> 1700000000 +0100';
const commit = (over: { tree?: string; parents?: string[]; author?: string; committer?: string; extra?: string; message?: string; raw?: string } = {}): Buffer => {
  if (over.raw !== undefined) return Buffer.from(over.raw, 'latin1');
  const lines = [`tree ${over.tree ?? TREE_HEX}`];
  for (const p of over.parents ?? []) lines.push(`parent ${p}`);
  if (over.author !== '') lines.push(`author ${over.author ?? ident}`);
  if (over.committer !== '') lines.push(`committer ${over.committer ?? ident}`);
  if (over.extra) lines.push(over.extra);
  return Buffer.from(`${lines.join('\n')}\n\n${over.message ?? 'message\n'}`, 'latin1');
};
const tag = (over: { object?: string; type?: string; tag?: string; tagger?: string; extra?: string; raw?: string } = {}): Buffer => {
  if (over.raw !== undefined) return Buffer.from(over.raw, 'latin1');
  const lines = [`object ${over.object ?? BLOB_HEX}`, `type ${over.type ?? 'blob'}`, `tag ${over.tag ?? 'v1.0'}`];
  if (over.tagger !== '') lines.push(`tagger ${over.tagger ?? ident}`);
  if (over.extra) lines.push(over.extra);
  return Buffer.from(`${lines.join('\n')}\n\nrelease\n`, 'latin1');
};

interface Case {
  readonly name: string;
  readonly type: ObjectType;
  readonly data: () => Buffer;
  readonly code: ObjectErrorCode;
  /**
   * What `git index-pack --strict` says about the same object: its message id; 'unparsable' where
   * git's object parser refuses it before fsck looks (it dies with "invalid <type>"); or null
   * where git says nothing (noted).
   */
  readonly git: string | null;
  readonly ignore?: ReadonlySet<ObjectErrorCode>;
}

const cases: Case[] = [
  // trees
  { name: 'entry without NUL', type: 'tree', data: () => Buffer.from('100644 a'), code: 'OBJ_BAD_TREE', git: 'badTree' },
  { name: 'mode with a non-octal digit', type: 'tree', data: () => entry('10064x', 'a'), code: 'OBJ_BAD_TREE', git: 'badTree' },
  { name: 'id cut short', type: 'tree', data: () => entry('100644', 'a').subarray(0, 15), code: 'OBJ_BAD_TREE', git: 'badTree' },
  // git's tree decoder calls an empty name unparsable (badTree); pushgate names it precisely.
  { name: 'empty name', type: 'tree', data: () => entry('100644', ''), code: 'OBJ_EMPTY_NAME', git: 'badTree' },
  { name: 'null id', type: 'tree', data: () => entry('100644', 'a', Buffer.alloc(20)), code: 'OBJ_NULL_SHA1', git: 'nullSha1' },
  { name: 'slash in a name', type: 'tree', data: () => entry('100644', 'a/b'), code: 'OBJ_FULL_PATHNAME', git: 'fullPathname' },
  { name: 'entry named .', type: 'tree', data: () => entry('40000', '.'), code: 'OBJ_HAS_DOT', git: 'hasDot' },
  { name: 'entry named ..', type: 'tree', data: () => entry('40000', '..'), code: 'OBJ_HAS_DOTDOT', git: 'hasDotdot' },
  { name: '.git', type: 'tree', data: () => entry('40000', '.git'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '.GiT (case)', type: 'tree', data: () => entry('40000', '.GiT'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '.g\u200cit (HFS+ ignorable)', type: 'tree', data: () => entry('40000', '.g\u200cit'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '\ufeff.git (HFS+ BOM)', type: 'tree', data: () => entry('40000', '\ufeff.git'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '.git\u200f (HFS+ trailing mark)', type: 'tree', data: () => entry('40000', '.git\u200f'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: 'git~1 (NTFS short name)', type: 'tree', data: () => entry('40000', 'GIT~1'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '.git. (NTFS trailing dot)', type: 'tree', data: () => entry('40000', '.git.'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '.git  (NTFS trailing spaces)', type: 'tree', data: () => entry('40000', '.git  '), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: '.git::$INDEX_ALLOCATION (NTFS stream)', type: 'tree', data: () => entry('40000', '.git::$INDEX_ALLOCATION'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: 'a\\.git (NTFS backslash)', type: 'tree', data: () => entry('100644', 'a\\.git'), code: 'OBJ_HAS_DOTGIT', git: 'hasDotgit' },
  { name: 'zero-padded mode', type: 'tree', data: () => entry('040000', 'a'), code: 'OBJ_ZERO_PADDED_FILEMODE', git: 'zeroPaddedFilemode' },
  { name: 'mode 100664', type: 'tree', data: () => entry('100664', 'a'), code: 'OBJ_BAD_FILEMODE', git: 'badFilemode' },
  { name: 'mode 100645', type: 'tree', data: () => entry('100645', 'a'), code: 'OBJ_BAD_FILEMODE', git: 'badFilemode' },
  { name: 'same name twice', type: 'tree', data: () => tree(entry('100644', 'a'), entry('100644', 'a')), code: 'OBJ_DUPLICATE_ENTRIES', git: 'duplicateEntries' },
  {
    name: 'file and directory of one name, apart',
    type: 'tree',
    data: () => tree(entry('100644', 'a'), entry('100644', 'a.b'), entry('40000', 'a', Buffer.from(TREE_HEX, 'hex'))),
    code: 'OBJ_DUPLICATE_ENTRIES',
    git: 'duplicateEntries',
  },
  { name: 'entries out of order', type: 'tree', data: () => tree(entry('100644', 'b'), entry('100644', 'a')), code: 'OBJ_TREE_NOT_SORTED', git: 'treeNotSorted' },
  {
    name: 'directory sorted as if without its slash',
    type: 'tree',
    data: () => tree(entry('40000', 'a', Buffer.from(TREE_HEX, 'hex')), entry('100644', 'a.c')),
    code: 'OBJ_TREE_NOT_SORTED',
    git: 'treeNotSorted',
  },
  { name: '.gitmodules symlink', type: 'tree', data: () => entry('120000', '.gitmodules'), code: 'OBJ_GITMODULES_SYMLINK', git: 'gitmodulesSymlink' },
  { name: 'GITMOD~1 symlink (NTFS)', type: 'tree', data: () => entry('120000', 'GITMOD~1'), code: 'OBJ_GITMODULES_SYMLINK', git: 'gitmodulesSymlink' },
  { name: 'gi7eba~2 symlink (NTFS fallback)', type: 'tree', data: () => entry('120000', 'gi7eba~2'), code: 'OBJ_GITMODULES_SYMLINK', git: 'gitmodulesSymlink' },
  { name: '.gitmodules. symlink (NTFS)', type: 'tree', data: () => entry('120000', '.gitmodules.'), code: 'OBJ_GITMODULES_SYMLINK', git: 'gitmodulesSymlink' },
  { name: '32-byte ids (SHA-256 tree)', type: 'tree', data: () => entry('100644', 'a', Buffer.alloc(32, 7)), code: 'OBJ_SHA256_ID', git: null },
  // commits
  { name: 'NUL in a header', type: 'commit', data: () => commit({ author: 'A <a@b>\0 1 +0000' }), code: 'OBJ_NUL_IN_HEADER', git: 'nulInHeader' },
  { name: 'header without newline', type: 'commit', data: () => commit({ raw: `tree ${TREE_HEX}` }), code: 'OBJ_UNTERMINATED_HEADER', git: 'unparsable' },
  { name: 'no tree line', type: 'commit', data: () => commit({ raw: `author ${ident}\ncommitter ${ident}\n\nm\n` }), code: 'OBJ_MISSING_TREE', git: 'unparsable' },
  { name: 'short tree id', type: 'commit', data: () => commit({ tree: TREE_HEX.slice(0, 39) }), code: 'OBJ_BAD_TREE_SHA1', git: 'unparsable' },
  { name: 'SHA-256 tree id', type: 'commit', data: () => commit({ tree: 'ab'.repeat(32) }), code: 'OBJ_SHA256_ID', git: 'unparsable' },
  { name: 'bad parent id', type: 'commit', data: () => commit({ parents: ['zz'.repeat(20)] }), code: 'OBJ_BAD_PARENT_SHA1', git: 'unparsable' },
  { name: 'no author', type: 'commit', data: () => commit({ author: '' }), code: 'OBJ_MISSING_AUTHOR', git: 'missingAuthor' },
  { name: 'two authors', type: 'commit', data: () => commit({ author: `${ident}\nauthor ${ident}` }), code: 'OBJ_MULTIPLE_AUTHORS', git: 'multipleAuthors' },
  { name: 'no committer', type: 'commit', data: () => commit({ committer: '' }), code: 'OBJ_MISSING_COMMITTER', git: 'missingCommitter' },
  { name: 'NUL in the message', type: 'commit', data: () => commit({ message: 'a\0b\n' }), code: 'OBJ_NUL_IN_COMMIT', git: 'nulInCommit' },
  { name: 'email without name', type: 'commit', data: () => commit({ author: '<a@b> 1 +0000' }), code: 'OBJ_MISSING_NAME_BEFORE_EMAIL', git: 'missingNameBeforeEmail' },
  { name: '> in the name', type: 'commit', data: () => commit({ author: 'A> <a@b> 1 +0000' }), code: 'OBJ_BAD_NAME', git: 'badName' },
  { name: 'no email', type: 'commit', data: () => commit({ author: 'A 1 +0000' }), code: 'OBJ_MISSING_EMAIL', git: 'missingEmail' },
  { name: 'no space before email', type: 'commit', data: () => commit({ author: 'A<a@b> 1 +0000' }), code: 'OBJ_MISSING_SPACE_BEFORE_EMAIL', git: 'missingSpaceBeforeEmail' },
  { name: 'unclosed email', type: 'commit', data: () => commit({ author: 'A <a@b 1 +0000' }), code: 'OBJ_BAD_EMAIL', git: 'badEmail' },
  { name: 'no space before date', type: 'commit', data: () => commit({ author: 'A <a@b>1 +0000' }), code: 'OBJ_MISSING_SPACE_BEFORE_DATE', git: 'missingSpaceBeforeDate' },
  { name: 'zero-padded date', type: 'commit', data: () => commit({ author: 'A <a@b> 01 +0000' }), code: 'OBJ_ZERO_PADDED_DATE', git: 'zeroPaddedDate' },
  { name: 'date beyond 64 bits', type: 'commit', data: () => commit({ author: 'A <a@b> 99999999999999999999 +0000' }), code: 'OBJ_BAD_DATE_OVERFLOW', git: 'badDateOverflow' },
  { name: 'date not a number', type: 'commit', data: () => commit({ author: 'A <a@b> soon +0000' }), code: 'OBJ_BAD_DATE', git: 'badDate' },
  { name: 'short time zone', type: 'commit', data: () => commit({ author: 'A <a@b> 1 +01' }), code: 'OBJ_BAD_TIMEZONE', git: 'badTimezone' },
  { name: 'time zone without sign', type: 'commit', data: () => commit({ committer: 'A <a@b> 1 0100' }), code: 'OBJ_BAD_TIMEZONE', git: 'badTimezone' },
  // tags
  { name: 'no object line', type: 'tag', data: () => tag({ raw: `type blob\ntag v1\ntagger ${ident}\n\nm\n` }), code: 'OBJ_MISSING_OBJECT', git: 'unparsable' },
  { name: 'bad object id', type: 'tag', data: () => tag({ object: 'x'.repeat(40) }), code: 'OBJ_BAD_OBJECT_SHA1', git: 'unparsable' },
  { name: 'no type line', type: 'tag', data: () => tag({ raw: `object ${BLOB_HEX}\ntag v1\ntagger ${ident}\n\nm\n` }), code: 'OBJ_MISSING_TYPE_ENTRY', git: 'unparsable' },
  { name: 'unknown type', type: 'tag', data: () => tag({ type: 'sandwich' }), code: 'OBJ_BAD_TYPE', git: 'unparsable' },
  { name: 'no tag line', type: 'tag', data: () => tag({ raw: `object ${BLOB_HEX}\ntype blob\ntagger ${ident}\n\nm\n` }), code: 'OBJ_MISSING_TAG_ENTRY', git: 'unparsable' },
  { name: 'tag name with ..', type: 'tag', data: () => tag({ tag: 'v1..2' }), code: 'OBJ_BAD_TAG_NAME', git: 'badTagName' },
  { name: 'tag name ending in .lock', type: 'tag', data: () => tag({ tag: 'v1.lock' }), code: 'OBJ_BAD_TAG_NAME', git: 'badTagName' },
  { name: 'bad tagger', type: 'tag', data: () => tag({ tagger: 'T <t@x> 1 +0' }), code: 'OBJ_BAD_TIMEZONE', git: 'badTimezone' },
  {
    name: 'no tagger (refused when not ignored)',
    type: 'tag',
    data: () => tag({ tagger: '' }),
    code: 'OBJ_MISSING_TAGGER_ENTRY',
    git: 'missingTaggerEntry',
    ignore: new Set(),
  },
  {
    name: 'header after tagger (refused when not ignored)',
    type: 'tag',
    data: () => tag({ extra: 'x-extra 1' }),
    code: 'OBJ_EXTRA_HEADER_ENTRY',
    // git ignores extraHeaderEntry by default, so fsck says nothing about it.
    git: null,
    ignore: new Set(),
  },
];

const written = new Map<string, string>();
const gitSays = new Map<string, { refused: boolean; stderr: string }>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-check-'));
  git(['init', '-q', '--bare']);
  BLOB_HEX = git(['hash-object', '-w', '--stdin'], 'hello\n').trim();
  BLOB = Buffer.from(BLOB_HEX, 'hex');
  TREE_HEX = git(['hash-object', '-t', 'tree', '-w', '--stdin'], entry('100644', 'hello.txt')).trim();
  for (const c of cases) {
    const file = join(dir, 'obj');
    writeFileSync(file, c.data());
    written.set(c.name, git(['hash-object', '-t', c.type, '--literally', '-w', file]).trim());
  }
  const receiver = join(dir, 'receiver.git');
  git(['init', '-q', '--bare', receiver]);
  for (const c of cases) {
    const pack = execFileSync('git', ['pack-objects', '-q', '--stdout'], { cwd: dir, env: env(dir), input: `${written.get(c.name)}\n` });
    const r = spawnSync('git', ['index-pack', '--strict', '--stdin'], { cwd: receiver, env: env(dir), input: pack, encoding: 'latin1' });
    gitSays.set(c.name, { refused: r.status !== 0, stderr: r.stderr });
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkObject', () => {
  it.each(cases.map((c) => [c.name, c] as const))('refuses %s', (_name, c) => {
    const oid = written.get(c.name) as Oid;
    let thrown: unknown;
    try {
      checkObject(c.type, c.data(), { oid, ...(c.ignore ? { ignore: c.ignore } : {}) });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ObjectError);
    expect((thrown as ObjectError).code).toBe(c.code);
    expect((thrown as ObjectError).data?.oid).toBe(oid);
    const said = gitSays.get(c.name)!;
    if (c.git === 'unparsable') {
      expect(said.refused).toBe(true);
      expect(said.stderr).toMatch(/invalid (commit|tag)|bogus|bad parents/);
    } else if (c.git !== null) {
      expect(said.stderr).toContain(`${c.git}:`);
    }
  });

  it('names the entry and field that broke the rule', () => {
    try {
      checkObject('tree', tree(entry('100644', 'a'), entry('40000', '.Git', Buffer.from(TREE_HEX, 'hex'))));
      throw new Error('not refused');
    } catch (e) {
      expect((e as ObjectError).data).toMatchObject({ path: '.Git' });
    }
    try {
      checkObject('commit', commit({ committer: 'C <c@x> 1 +01' }));
      throw new Error('not refused');
    } catch (e) {
      expect((e as ObjectError).data).toMatchObject({ field: 'committer' });
    }
  });

  it('accepts by default what git tolerates in strict mode (no tagger, extra headers after it)', () => {
    expect(() => checkObject('tag', tag({ tagger: '' }))).not.toThrow();
    expect(() => checkObject('tag', tag({ extra: 'x-extra 1' }))).not.toThrow();
    expect(DEFAULT_IGNORED_CHECKS.has('OBJ_MISSING_TAGGER_ENTRY')).toBe(true);
  });

  it('cannot be told to ignore structural problems', () => {
    expect(() => checkObject('commit', commit({ raw: `tree ${TREE_HEX}` }), { ignore: new Set(['OBJ_UNTERMINATED_HEADER']) })).toThrow(ObjectError);
    expect(() => checkObject('tree', Buffer.from('100644 a'), { ignore: new Set(['OBJ_BAD_TREE']) })).toThrow(ObjectError);
  });

  it('reports an ignorable problem only when it is not ignored', () => {
    const data = tree(entry('100644', 'b'), entry('100644', 'a'));
    expect(() => checkObject('tree', data, { ignore: new Set(['OBJ_TREE_NOT_SORTED']) })).not.toThrow();
  });

  it('refuses an unknown type', () => {
    const notAType = 'blorb' as unknown as ObjectType;
    expect(() => checkObject(notAType, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'OBJ_UNKNOWN_TYPE' }));
  });

  it('reaches missingType and missingTag only through an unterminated header, as in git', () => {
    // After "type <x>" or "tag <x>" without a newline the header is unterminated; git's
    // verify_headers catches that first, so these two ids never fire on their own.
    const noTypeEol = tag({ raw: `object ${BLOB_HEX}\ntype blob` });
    const noTagEol = tag({ raw: `object ${BLOB_HEX}\ntype blob\ntag v1` });
    expect(() => checkObject('tag', noTypeEol)).toThrow(expect.objectContaining({ code: 'OBJ_UNTERMINATED_HEADER' }));
    expect(() => checkObject('tag', noTagEol)).toThrow(expect.objectContaining({ code: 'OBJ_UNTERMINATED_HEADER' }));
  });

  it('accepts every object of a real repository', () => {
    const work = mkdtempSync(join(tmpdir(), 'pg-check-ok-'));
    try {
      const g = (args: string[]) => execFileSync('git', args, { cwd: work, env: { ...env(work), GIT_AUTHOR_NAME: 'Ann', GIT_AUTHOR_EMAIL: 'ann@example.com', GIT_COMMITTER_NAME: 'Bob', GIT_COMMITTER_EMAIL: 'bob@example.com' }, encoding: 'latin1' });
      g(['init', '-q', '-b', 'main']);
      writeFileSync(join(work, 'a.txt'), 'a\n');
      writeFileSync(join(work, '.gitmodules'), '[submodule "x"]\n\tpath = x\n\turl = ../x\n');
      g(['add', '.']);
      g(['commit', '-q', '-m', 'first']);
      g(['tag', '-a', '-m', 'v1', 'v1']);
      writeFileSync(join(work, 'b c.txt'), 'b\n');
      g(['add', '.']);
      g(['commit', '-q', '-m', 'second\n\nbody']);
      const all = g(['cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)']).trim().split('\n');
      for (const line of all) {
        const [oid, type] = line.split(' ');
        const data = execFileSync('git', ['cat-file', type, oid], { cwd: work, env: env(work) });
        expect(() => checkObject(type as ObjectType, data, { oid: oid as Oid })).not.toThrow();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('never throws anything but ObjectError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom<ObjectType>('commit', 'tree', 'tag', 'blob'), fc.uint8Array({ maxLength: 300 }), (type, bytes) => {
        try {
          checkObject(type, bytes);
        } catch (e) {
          if (!(e instanceof ObjectError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isValidTagName', () => {
  it.each([
    ['v1.0', true],
    ['release/2024-01', true],
    ['caf\u00e9', true],
    ['v1..0', false],
    ['.hidden', false],
    ['a/.b', false],
    ['v1.lock', false],
    ['x@{y', false],
    ['sp ace', false],
    ['a:b', false],
    ['a?', false],
    ['a*', false],
    ['a[', false],
    ['a\\b', false],
    ['a^', false],
    ['a~1', false],
    ['trailing.', false],
    ['a//b', false],
    ['end/', false],
    ['ctl\u0001', false],
  ])('%s → %s (matches git check-ref-format)', (name, ok) => {
    expect(isValidTagName(Buffer.from(name, 'utf8'))).toBe(ok);
    let gitOk = true;
    try {
      execFileSync('git', ['check-ref-format', `refs/tags/${name}`], { env: env(dir) });
    } catch {
      gitOk = false;
    }
    expect(gitOk).toBe(ok);
  });
});
