import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Oid } from '@pushgate/core';
import { GitFixture } from './git-fixture.test-support';
import {
  ObjectError,
  RawTree,
  commitLinks,
  decodeName,
  displayName,
  isEscapedName,
  isSignedCommit,
  nameToBytes,
  parseCommit,
  parseTag,
  parseTree,
} from './index';

// Parsers compared with what git itself prints for the same objects.

let repo: GitFixture;
let commits: string[];

beforeAll(() => {
  repo = GitFixture.create('parse');
  repo.write('a.txt', 'a\n');
  repo.write('run.sh', '#!/bin/sh\n', 0o755);
  repo.symlink('link', 'a.txt');
  repo.write(Buffer.from([0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74]), 'latin1 name\n');
  repo.commit('first\n\nwith a body\n');
  repo.git('checkout', '-q', '-b', 'side');
  repo.write('side.txt', 's\n');
  repo.commit('side');
  repo.git('checkout', '-q', 'main');
  repo.write('b.txt', 'b\n');
  repo.commit('second');
  repo.git('merge', '-q', '--no-ff', '-m', 'merge side', 'side');
  // A commit in ISO-8859-1, as i18n.commitEncoding makes them (written byte for byte).
  const head = repo.git('rev-parse', 'HEAD').trim();
  const latin1 = Buffer.from(
    `tree ${repo.git('rev-parse', 'HEAD^{tree}').trim()}\nparent ${head}\nauthor Ren\u00e9 <rene@example.com> 1700000500 +0100\n` +
      `committer Cid <cid@example.com> 1700000500 +0100\nencoding ISO-8859-1\n\ncaf\u00e9 au lait\n`,
    'latin1',
  );
  const latinCommit = repo.gitBytes(['hash-object', '-t', 'commit', '-w', '--stdin'], latin1).toString().trim();
  repo.git('update-ref', 'refs/heads/main', latinCommit);
  repo.git('tag', '-a', '-m', 'release one\n\nnotes', 'v1');
  commits = repo.git('rev-list', 'HEAD').trim().split('\n');
});
afterAll(() => repo.cleanup());

describe('parseCommit', () => {
  it('matches git log for every commit (tree, parents, people, dates, message)', () => {
    for (const oid of commits) {
      const raw = repo.gitBytes(['cat-file', 'commit', oid]);
      const c = parseCommit(raw, oid as Oid);
      const fields = repo
        .gitBytes(['log', '-1', '--encoding=UTF-8', '--format=%T%x00%P%x00%an%x00%ae%x00%at%x00%ai%x00%cn%x00%ce%x00%ct', oid])
        .toString('utf8')
        .trim()
        .split('\0');
      expect(c.tree).toBe(fields[0]);
      expect(c.parents.join(' ')).toBe(fields[1]);
      expect(c.author.name).toBe(fields[2]);
      expect(c.author.email).toBe(fields[3]);
      expect(String(c.author.timestamp)).toBe(fields[4]);
      expect(fields[5].endsWith(c.author.timezone)).toBe(true);
      expect(c.committer.name).toBe(fields[6]);
      expect(c.committer.email).toBe(fields[7]);
      expect(String(c.committer.timestamp)).toBe(fields[8]);
      const body = repo.gitBytes(['log', '-1', '--encoding=UTF-8', '--format=%B', oid]).toString('utf8');
      expect(`${c.message}\n`).toBe(body.endsWith('\n\n') ? body : `${body}\n`);
      expect(commitLinks(raw)).toEqual({ tree: c.tree, parents: [...c.parents] });
    }
  });

  it('decodes a commit in its declared encoding', () => {
    const c = parseCommit(repo.gitBytes(['cat-file', 'commit', commits[0]]));
    expect(c.encoding).toBe('ISO-8859-1');
    expect(c.author.name).toBe('Ren\u00e9');
    expect(c.message).toBe('caf\u00e9 au lait\n');
  });

  it('reads signatures, merge tags and other headers', () => {
    const sig = '-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----';
    const tree = repo.git('rev-parse', 'HEAD^{tree}').trim();
    const raw = [
      `tree ${tree}`,
      `parent ${commits[1]}`,
      `parent ${commits[2]}`,
      'author A <a@example.com> 1700000000 -0130',
      'committer C <c@example.com> 1700000001 -0000',
      'x-agent-session abc123',
      `mergetag object ${commits[2]}`,
      ' type commit',
      ' tag v0',
      ' tagger T <t@example.com> 1 +0000',
      ' ',
      ' merged',
      `gpgsig ${sig.split('\n').join('\n ')}`,
      '',
      'signed merge',
      '',
    ].join('\n');
    const oid = repo.gitBytes(['hash-object', '-t', 'commit', '-w', '--stdin'], raw).toString().trim();
    const c = parseCommit(repo.gitBytes(['cat-file', 'commit', oid]));
    expect(c.gpgsig).toBe(sig);
    expect(isSignedCommit(c)).toBe(true);
    expect(c.mergetags).toEqual([`object ${commits[2]}\ntype commit\ntag v0\ntagger T <t@example.com> 1 +0000\n\nmerged`]);
    expect(c.extraHeaders).toEqual([{ name: 'x-agent-session', value: 'abc123' }]);
    expect(c.author.timezoneOffset).toBe(-90);
    expect(c.committer.timezone).toBe('-0000');
    expect(c.message).toBe('signed merge\n');
    // git agrees on what the signature is.
    const gitSig = repo.git('cat-file', 'commit', oid).split('gpgsig ')[1].split('\n\n')[0].replace(/\n /g, '\n');
    expect(gitSig).toBe(sig);
    expect(isSignedCommit(parseCommit(repo.gitBytes(['cat-file', 'commit', commits[1]])))).toBe(false);
  });

  it('refuses what is not a commit, with object codes', () => {
    expect(() => parseCommit(Buffer.from('author x\n\nm'))).toThrow(expect.objectContaining({ code: 'OBJ_MISSING_TREE' }));
    expect(() => parseCommit(Buffer.from(`tree ${'a'.repeat(64)}\n\n`))).toThrow(expect.objectContaining({ code: 'OBJ_SHA256_ID' }));
    expect(() => parseCommit(Buffer.from(`tree ${'a'.repeat(40)}\nparent nope\n\n`))).toThrow(expect.objectContaining({ code: 'OBJ_BAD_PARENT_SHA1' }));
    expect(() => commitLinks(Buffer.from(`tree ${'a'.repeat(40)}\nparent ${'b'.repeat(39)}\n\n`))).toThrow(ObjectError);
  });

  it('never throws anything but ObjectError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        for (const parse of [parseCommit, parseTag, parseTree, commitLinks]) {
          try {
            parse(bytes);
          } catch (e) {
            if (!(e instanceof ObjectError)) throw e;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseTag', () => {
  it('matches git for-each-ref', () => {
    const oid = repo.git('rev-parse', 'v1').trim();
    const t = parseTag(repo.gitBytes(['cat-file', 'tag', oid]));
    const [object, type, name, tagger, email] = repo
      .git('for-each-ref', '--format=%(object)%00%(type)%00%(tag)%00%(taggername)%00%(taggeremail:trim)', 'refs/tags/v1')
      .trim()
      .split('\0');
    expect(t).toMatchObject({ object, type, tag: name, tagger: { name: tagger, email } });
    expect(t.message).toBe('release one\n\nnotes\n');
    expect(t.signature).toBeUndefined();
  });

  it('separates the signature from the message as git does', () => {
    const sig = '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n';
    const raw = `object ${commits[0]}\ntype commit\ntag v2\ntagger T <t@example.com> 1700000000 +0000\n\nrelease two\n${sig}`;
    const oid = repo.gitBytes(['hash-object', '-t', 'tag', '-w', '--stdin'], raw).toString().trim();
    repo.git('update-ref', 'refs/tags/v2', oid);
    const t = parseTag(repo.gitBytes(['cat-file', 'tag', oid]));
    expect(t.signature).toEqual({ format: 'ssh', text: sig });
    expect(t.message).toBe('release two\n');
    expect(repo.git('for-each-ref', '--format=%(contents:signature)', 'refs/tags/v2')).toBe(`${sig}\n`);
  });
});

describe('parseTree', () => {
  it('matches git ls-tree, modes, kinds and non-UTF-8 names included', () => {
    repo.git('update-index', '--add', '--cacheinfo', `160000,${commits[1]},sub`);
    const treeOid = repo.git('write-tree').trim();
    const entries = parseTree(repo.gitBytes(['cat-file', 'tree', treeOid]));
    const listed = repo
      .gitBytes(['ls-tree', '-z', treeOid])
      .toString('latin1')
      .split('\0')
      .filter(Boolean)
      .map((l) => {
        const [meta, name] = l.split('\t');
        const [mode, type, oid] = meta.split(' ');
        return { mode, type, oid, nameBytes: Buffer.from(name, 'latin1') };
      });
    expect(entries).toHaveLength(listed.length);
    const kinds: Record<string, string> = { '100644': 'regular', '100755': 'executable', '120000': 'symlink', '160000': 'submodule', '040000': 'tree' };
    entries.forEach((e, i) => {
      expect(e.mode.toString(8).padStart(6, '0')).toBe(listed[i].mode);
      expect(e.kind).toBe(kinds[listed[i].mode]);
      expect(e.oid).toBe(listed[i].oid);
      expect(nameToBytes(e.name)).toEqual(listed[i].nameBytes);
    });
    const latin = entries.find((e) => isEscapedName(e.name))!;
    expect(displayName(latin.name)).toBe('n\\xe9.txt');
    const raw = RawTree.parse(repo.gitBytes(['cat-file', 'tree', treeOid]));
    expect(raw.count).toBe(entries.length);
    expect(raw.entries()).toEqual(entries);
  });

  it('orders a file before a directory of the same name and after its dotted siblings, as git sorts', () => {
    const blob = Buffer.from(commits[0], 'hex');
    const bytes = Buffer.concat([
      Buffer.from('100644 a\0'),
      blob,
      Buffer.from('100644 a.c\0'),
      blob,
      Buffer.from('40000 a\0'),
      blob,
    ]);
    const t = RawTree.parse(bytes);
    expect(t.compareEntry(0, t, 1)).toBeLessThan(0);
    expect(t.compareEntry(1, t, 2)).toBeLessThan(0);
    expect(t.compareEntry(0, t, 2)).not.toBe(0);
  });
});

describe('RawTree shared entries', () => {
  // Trees built from random entries, the second a few edits of the first: sameHead/sameTail must
  // count exactly the entries that sameEntry matches from each end, ids full of NULs and spaces included.
  const entry = fc.record({
    mode: fc.constantFrom('100644', '100755', '40000', '120000', '160000'),
    name: fc.stringMatching(/^[a-e0 ]{1,4}$/),
    id: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b.map((x) => (x % 3 === 0 ? 0 : x % 3 === 1 ? 0x20 : x)))),
  });
  const encode = (es: { mode: string; name: string; id: Buffer }[]) => Buffer.concat(es.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`), e.id]));
  const naive = (a: RawTree, b: RawTree) => {
    let head = 0;
    while (head < Math.min(a.count, b.count) && a.sameEntry(head, b, head)) head++;
    let tail = 0;
    while (tail < Math.min(a.count, b.count) - head && a.sameEntry(a.count - 1 - tail, b, b.count - 1 - tail)) tail++;
    return { head, tail };
  };
  it('counts the entries two trees share at their start and end as comparing entry by entry does', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), fc.array(fc.tuple(fc.nat(12), fc.option(entry)), { maxLength: 4 }), (base, edits) => {
        const next = [...base];
        for (const [at, e] of edits) {
          if (e) next.splice(at % (next.length + 1), 0, e);
          else if (next.length > 0) next.splice(at % next.length, 1);
        }
        const a = RawTree.parse(encode(base));
        const b = RawTree.parse(encode(next));
        const head = a.sameHead(b);
        expect({ head, tail: a.sameTail(b, head) }).toEqual(naive(a, b));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('names', () => {
  it('keeps UTF-8 names as they are and escapes other bytes reversibly', () => {
    expect(decodeName(Buffer.from('caf\u00e9/\u{1f600}', 'utf8'))).toBe('caf\u00e9/\u{1f600}');
    expect(decodeName(Buffer.from([0x61, 0xff, 0x62]))).toBe('a\udcffb');
    expect(decodeName(Buffer.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('\ufeffa');
    expect(displayName('a\udcffb')).toBe('a\\xffb');
    expect(isEscapedName('caf\u00e9')).toBe(false);
    expect(isEscapedName('\u{1f600}')).toBe(false);
  });

  it('round-trips any bytes and never maps two byte strings to one name', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        const na = decodeName(a);
        expect(nameToBytes(na)).toEqual(Buffer.from(a));
        if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) expect(decodeName(b)).not.toBe(na);
      }),
      { numRuns: 5000 },
    );
  });
});
