import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { checkRefFormat, checkRefName } from './index';

/** What git's receive-pack decides: refs/ prefix and `git check-ref-format` of the rest (no --allow-onelevel). */
function gitAccepts(name: string): boolean {
  if (!name.startsWith('refs/')) return false;
  const rest = name.slice(5);
  // check-ref-format reads its argument from argv, which cannot hold NUL.
  if (rest.includes('\0')) return false;
  return spawnSync('git', ['check-ref-format', rest], { env: { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' } }).status === 0;
}

const TABLE: readonly (readonly [string, boolean])[] = [
  ['refs/heads/main', true],
  ['refs/heads/feature/x-1_2', true],
  ['refs/tags/v1.0.0', true],
  ['refs/heads/ünïcode', true],
  ['refs/heads/a.b', true],
  ['refs/heads/a@b', true],
  ['refs/heads/@', true],
  ['refs/notes/commits', true],
  ['refs/heads/a}b{c', true],
  ['HEAD', false],
  ['main', false],
  ['refs/main', false],
  ['refs/heads', false],
  ['refs/', false],
  ['refs//heads/main', false],
  ['/refs/heads/main', false],
  ['refs/heads/main/', false],
  ['refs/heads/main.', false],
  ['refs/heads/.hidden', false],
  ['refs/heads/a/.b', false],
  ['refs/heads/a..b', false],
  ['refs/heads/main.lock', false],
  ['refs/heads/x.lock/y', false],
  ['refs/heads/a@{b', false],
  ['refs/heads/with space', false],
  ['refs/heads/tab\there', false],
  ['refs/heads/del\x7f', false],
  ['refs/heads/nul\0', false],
  ['refs/heads/cr\r', false],
  ['refs/heads/a~1', false],
  ['refs/heads/a^', false],
  ['refs/heads/a:b', false],
  ['refs/heads/a?', false],
  ['refs/heads/a*', false],
  ['refs/heads/a[b', false],
  ['refs/heads/a\\b', false],
  ['refs/@', false],
  ['refs/heads/.', false],
  ['refs/heads/..', false],
];

describe('checkRefName', () => {
  it.each(TABLE)('%j → %s, as git receive-pack decides', (name, ok) => {
    expect(checkRefName(name).ok).toBe(ok);
    expect(gitAccepts(name)).toBe(ok);
  });

  it('gives a reason for every refusal', () => {
    expect(checkRefName('refs/heads/a..b')).toEqual({ ok: false, reason: 'contains ..' });
    expect(checkRefName('refs/heads/x.lock')).toEqual({ ok: false, reason: 'has a component ending with ".lock" ("x.lock")' });
    expect(checkRefName('refs/main')).toEqual({ ok: false, reason: 'has only one component after refs/' });
    expect(checkRefFormat('@')).toEqual({ ok: false, reason: 'is the single character @' });
  });

  it('refuses names git could not store as a ref file: a component over 255 bytes, a name over 4096', () => {
    expect(checkRefName(`refs/heads/${'a'.repeat(255)}`)).toEqual({ ok: true });
    expect(checkRefName(`refs/heads/${'a'.repeat(256)}`)).toEqual({ ok: false, reason: 'has a component of 256 bytes, more than the 255 a file name can have' });
    // Bytes, not characters: 128 two-byte characters are 256 bytes.
    expect(checkRefName(`refs/heads/${'é'.repeat(128)}`).ok).toBe(false);
    const deep = `refs/heads/${Array.from({ length: 17 }, () => 'b'.repeat(254)).join('/')}`;
    expect(Buffer.byteLength(deep)).toBeGreaterThan(4096);
    expect(checkRefName(deep)).toEqual({ ok: false, reason: `is ${Buffer.byteLength(deep)} bytes long, more than the 4096 a ref can have` });
    expect(checkRefName(deep.slice(0, 4096)).ok).toBe(true);
  });

  it('agrees with git check-ref-format on random names', () => {
    const alphabet = fc.constantFrom(...'ab./@{}~^:?*[\\ -_\x01\x7fé'.split(''));
    const names = fc.array(alphabet, { minLength: 0, maxLength: 12 }).map((cs) => `refs/${cs.join('')}`);
    fc.assert(
      fc.property(names, (name) => {
        expect(checkRefName(name).ok).toBe(gitAccepts(name));
      }),
      { numRuns: 300 },
    );
  });
});
