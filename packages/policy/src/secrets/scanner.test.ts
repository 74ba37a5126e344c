import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isPushgateError } from '@pushgate/core';
import { crc32, hasValidBase62Checksum, toBase62 } from './checksum';
import { POSITIVE_GENERATORS, Rng, checksummedToken, negativeSamples, positiveSamples } from './corpus.test-support';
import { BUILTIN_DETECTORS } from './detectors';
import { charClass, shannonEntropy } from './entropy';
import { KeywordMatcher } from './keywords';
import { maskSecret, secretFingerprint } from './mask';
import { compileGlob, secretLookingPath } from './paths';
import { createSecretScanner, type SecretFinding, type SecretScanner, type SecretScannerConfig } from './scanner';

const defaultScanner = createSecretScanner();

function findings(text: string | Uint8Array, scanner: SecretScanner = defaultScanner, prefilter = true): readonly SecretFinding[] {
  const result = scanner.scan(text, { prefilter });
  if (result.kind !== 'scanned') throw new Error(`expected a scan, got ${result.kind}`);
  return result.findings;
}

const URL_OR_GENERIC = new Set(['postgres-url', 'mysql-url', 'mongodb-url', 'redis-url', 'amqp-url', 'generic-password', 'generic-api-key', 'generic-secret']);

describe('each built-in detector', () => {
  const r = new Rng(42);
  const table = BUILTIN_DETECTORS.map((d) => ({ id: d.id, ...POSITIVE_GENERATORS[d.id](r) }));

  it.each(table)('$id finds its format and reports where it is', ({ id, text, secret }) => {
    const found = findings(text).filter((f) => f.detector === id);
    expect(found).toHaveLength(1);
    const [f] = found;
    expect(f.fingerprint).toBe(secretFingerprint(secret));
    expect(f.masked).toBe(maskSecret(secret));
    expect(f.length).toBe(secret.length);
    const lines = text.split('\n');
    const offset = lines.slice(0, f.line - 1).reduce((n, l) => n + l.length + 1, 0) + f.column - 1;
    expect(text.slice(offset, offset + f.length)).toBe(secret);
  });

  it.each(table)('$id stays quiet when the value is cut short or a reference', ({ id, text, secret }) => {
    const replacement = URL_OR_GENERIC.has(id) ? '${SECRET_VALUE}' : secret.slice(0, 5);
    expect(findings(text.replace(secret, replacement)).filter((f) => f.detector === id)).toEqual([]);
  });

  it('has unique ids, lowercase ASCII keywords, and global patterns with group offsets', () => {
    expect(new Set(BUILTIN_DETECTORS.map((d) => d.id)).size).toBe(BUILTIN_DETECTORS.length);
    for (const d of BUILTIN_DETECTORS) {
      expect(d.keywords.length).toBeGreaterThan(0);
      for (const k of d.keywords) expect(k).toMatch(/^[\x20-\x40\x5b-\x7e]+$/);
      expect(d.pattern.flags).toContain('g');
      expect(d.pattern.flags).toContain('d');
    }
  });
});

describe('format checks that need more than a shape', () => {
  it.each([
    ['a GitHub token with a wrong checksum', (r: Rng) => `GH=ghp_${r.str('abcdefghijklmnopqrstuvwxyz0123456789', 36)}`],
    ['an npm token with a wrong checksum', (r: Rng) => `NPM=npm_${r.str('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 36)}`],
    ['a JWT-shaped string whose header is not JSON', () => `Bearer eyJub3QganNvbiBhdCBhbGw.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl`],
    ['an AWS key id in lowercase', (r: Rng) => `key = akia${r.str('abcdefghijklmnopqrstuvwxyz', 16)}`],
    ['an AWS key id one character short', (r: Rng) => `AWS_ACCESS_KEY_ID=AKIA${r.str('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 15)}`],
    ['a PEM header with an elided body', () => '-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----'],
    ['a public key', () => `-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB\n-----END PUBLIC KEY-----`],
  ])('ignores %s', (_name, make) => {
    expect(findings(make(new Rng(3)))).toEqual([]);
  });

  it('computes CRC-32 as zlib does and encodes it in base62', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
    expect(toBase62(0, 6)).toBe('000000');
    expect(toBase62(61, 2)).toBe('0z');
    expect(toBase62(62, 1)).toBe('10');
  });

  it('accepts a checksummed token and rejects it with any character changed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 4, max: 39 }), (seed, at) => {
        const token = checksummedToken(new Rng(seed), 'ghp_');
        expect(hasValidBase62Checksum(token)).toBe(true);
        const c = token[at];
        const changed = token.slice(0, at) + (c === 'a' ? 'b' : 'a') + token.slice(at + 1);
        expect(hasValidBase62Checksum(changed)).toBe(false);
      }),
    );
  });
});

describe('entropy', () => {
  it('is 0 for one repeated character and log2(n) for n distinct ones', () => {
    expect(shannonEntropy('aaaaaaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBeCloseTo(2);
    expect(shannonEntropy('0123456789abcdef')).toBeCloseTo(4);
    expect(shannonEntropy('')).toBe(0);
  });

  it('classifies values by the narrowest alphabet', () => {
    expect(charClass('deadBEEF01')).toBe('hex');
    expect(charClass('ab+/c_d-e=')).toBe('base64');
    expect(charClass('p@ss word!')).toBe('other');
  });

  it('keeps generic assignments of low-entropy values out', () => {
    expect(findings('api_key = "aaaaaaaaaaaaaaaaaaaaaaaa1"')).toEqual([]);
    expect(findings('secret: "abababababababababab12"')).toEqual([]);
  });
});

describe('the keyword automaton', () => {
  it('reports overlapping keywords, folding ASCII case', () => {
    const m = new KeywordMatcher(['he', 'she', 'his', 'hers']);
    const hits: string[] = [];
    m.scan('uSHErs', (k, start) => hits.push(`${m.keywords[k]}@${start}`));
    expect(hits.sort()).toEqual(['he@2', 'hers@2', 'she@1'].sort());
  });

  it('does not match across non-ASCII characters and rejects non-lowercase keywords', () => {
    const m = new KeywordMatcher(['ab']);
    const hits: number[] = [];
    m.scan('a\u00e9b ab AB', (_k, start) => hits.push(start));
    expect(hits).toEqual([4, 7]);
    expect(() => new KeywordMatcher(['Ab'])).toThrow(RangeError);
  });

  it('finds the same as a plain search on random text', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-c]{1,4}$/), { minLength: 1, maxLength: 6 }), fc.stringMatching(/^[a-cA-C\u00e9 ]{0,60}$/), (keywords, text) => {
        const unique = [...new Set(keywords)];
        const m = new KeywordMatcher(unique);
        const got: string[] = [];
        m.scan(text, (k, start) => got.push(`${k}@${start}`));
        const folded = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
        const want: string[] = [];
        unique.forEach((k, i) => {
          for (let at = folded.indexOf(k); at >= 0; at = folded.indexOf(k, at + 1)) want.push(`${i}@${at}`);
        });
        expect(got.sort()).toEqual(want.sort());
      }),
    );
  });
});

describe('the prefilter', () => {
  it('finds exactly what running every detector on every keyword line finds', () => {
    const positives = positiveSamples(99, 3).map((s) => s.text);
    const negatives = negativeSamples(98, 3).map((s) => s.text);
    const filler = fc.oneof(
      fc.constantFrom(...positives, ...negatives),
      fc.constantFrom('token', 'password = ', 'SECRET=', 'AKIA', 'ghp_', '-----BEGIN RSA PRIVATE KEY-----', 'postgres://', 'eyJ', '\n', '"', ' '),
      fc.string({ maxLength: 40 }),
      // Lines past FULL_LINE_LIMIT are searched in windows around keywords.
      fc.constantFrom(`${'x'.repeat(4200)} token`, `${'q,'.repeat(2500)}`),
    );
    fc.assert(
      fc.property(fc.array(filler, { maxLength: 30 }), fc.array(fc.constantFrom('\n', ' ', ''), { maxLength: 30 }), (parts, seps) => {
        const text = parts.map((p, i) => p + (seps[i] ?? '\n')).join('');
        expect(findings(text, defaultScanner, true)).toEqual(findings(text, defaultScanner, false));
      }),
      { numRuns: 300 },
    );
  });
});

describe('allowlists', () => {
  const r = new Rng(5);
  const token = checksummedToken(r, 'ghp_');
  const text = `const fixture = "${token}"; // test-only`;

  it('skip paths matching a glob', () => {
    const scanner = createSecretScanner({ allow: { paths: ['**/testdata/**', '*.snap', 'docs/{a,b}/*.md'] } });
    expect(scanner.scan(text, { path: 'pkg/testdata/x.ts' })).toEqual({ kind: 'allowlisted', glob: '**/testdata/**' });
    expect(scanner.scan(text, { path: 'testdata/x.ts' }).kind).toBe('allowlisted');
    expect(scanner.scan(text, { path: 'src/__snapshots__/a.test.ts.snap' }).kind).toBe('allowlisted');
    expect(scanner.scan(text, { path: 'docs/b/readme.md' }).kind).toBe('allowlisted');
    expect(scanner.scan(text, { path: 'docs/c/readme.md' }).kind).toBe('scanned');
    expect(scanner.scan(text, { path: 'src/app.ts' }).kind).toBe('scanned');
  });

  it('ignore findings whose secret or line matches a pattern', () => {
    expect(findings(text, createSecretScanner({ allow: { patterns: ['test-only$'] } }))).toEqual([]);
    expect(findings(text, createSecretScanner({ allow: { patterns: [`^${token.slice(0, 10)}`] } }))).toEqual([]);
    expect(findings(text, createSecretScanner({ allow: { patterns: ['^nothing$'] } }))).toHaveLength(1);
  });

  it('ignore exact fingerprints, in either case of hex', () => {
    const fp = secretFingerprint(token);
    expect(findings(text, createSecretScanner({ allow: { fingerprints: [fp.toUpperCase()] } }))).toEqual([]);
    expect(findings(`${text}\nother = "${checksummedToken(r, 'ghp_')}"`, createSecretScanner({ allow: { fingerprints: [fp] } }))).toHaveLength(1);
  });

  it('ignore documented examples unless turned off', () => {
    const example = 'AWS_ACCESS_KEY_ID=AKIA' + 'IOSFODNN7' + 'EXAMPLE';
    expect(findings(example)).toEqual([]);
    expect(findings(example, createSecretScanner({ allow: { documentedExamples: false } })).map((f) => f.detector)).toEqual(['aws-access-key-id']);
  });

  it.each<[string, SecretScannerConfig, string, RegExp]>([
    ['an allowlist pattern', { allow: { patterns: ['(unclosed'] } }, 'SECRETS_PATTERN_INVALID', /allow\.patterns: pattern "\(unclosed" is not valid RE2/],
    ['a backreference (not RE2)', { detectors: [{ id: 'x', pattern: '(a)\\1', keywords: ['a'] }] }, 'SECRETS_PATTERN_INVALID', /detector "x": pattern "\(a\)\\\\1" is not valid RE2/],
    ['a glob', { allow: { paths: ['src/[abc'] } }, 'SECRETS_PATTERN_INVALID', /path glob "src\/\[abc"/],
    ['a fingerprint', { allow: { fingerprints: ['abc'] } }, 'SECRETS_PATTERN_INVALID', /"abc" is not a SHA-256/],
    ['a detector without keywords', { detectors: [{ id: 'x', pattern: 'a', keywords: [] }] }, 'SECRETS_DETECTOR_INVALID', /custom detector "x": keywords/],
    ['a detector reusing a built-in id', { detectors: [{ id: 'github-pat', pattern: 'a', keywords: ['a'] }] }, 'SECRETS_DETECTOR_INVALID', /already used/],
    ['a detector naming a missing group', { detectors: [{ id: 'x', pattern: 'a(b)', keywords: ['a'], secretGroup: 2 }] }, 'SECRETS_DETECTOR_INVALID', /secretGroup 2 does not exist/],
    ['an unknown disabled detector', { disable: ['no-such'] }, 'SECRETS_DETECTOR_INVALID', /no built-in detector is called "no-such"/],
  ])('reject %s with a message naming it', (_name, config, code, message) => {
    let error: unknown;
    try {
      createSecretScanner(config);
    } catch (e) {
      error = e;
    }
    expect(isPushgateError(error, code)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

describe('custom detectors', () => {
  it('run RE2 patterns on lines with their keyword, reporting the configured group', () => {
    const scanner = createSecretScanner({ detectors: [{ id: 'acme-key', description: 'ACME key', pattern: '(?i)acme_key\\s*=\\s*"(ak_[0-9a-f]{16})"', keywords: ['ACME_KEY'], secretGroup: 1 }] });
    const [f] = findings('x = 1\nACME_KEY = "ak_0123456789abcdef"\n', scanner);
    expect(f).toMatchObject({ detector: 'acme-key', description: 'ACME key', line: 2, column: 13, length: 19, masked: 'ak_0****' });
    expect(scanner.detectorIds).toContain('acme-key');
  });

  it('cannot hang the scan: (a+)+$ on a long line of a then b finishes fast', () => {
    const scanner = createSecretScanner({ detectors: [{ id: 'evil', pattern: '(a+)+$', keywords: ['a'] }], allow: { patterns: ['(x+x+)+y'] } });
    const line = `${'a'.repeat(100_000)}b`;
    const started = performance.now();
    const result = scanner.scan(`${line}\n${line}\n`);
    const elapsed = performance.now() - started;
    expect(result).toEqual({ kind: 'scanned', findings: [], truncated: false });
    expect(elapsed).toBeLessThan(3000);
  });

  it('can be complemented by turning built-ins off', () => {
    const scanner = createSecretScanner({ disable: ['github-pat'] });
    const token = checksummedToken(new Rng(8), 'ghp_');
    expect(findings(`t = "${token}"`, scanner).map((f) => f.detector)).not.toContain('github-pat');
    expect(scanner.detectorIds).not.toContain('github-pat');
  });
});

describe('masking', () => {
  it('shows four characters then ****, less of short values', () => {
    expect(maskSecret('AKIAABCDEFGHIJKLMNOP')).toBe('AKIA****');
    expect(maskSecret('abcdefgh')).toBe('abcd****');
    expect(maskSecret('abcdef')).toBe('abc****');
    expect(maskSecret('ab')).toBe('a****');
    expect(maskSecret('')).toBe('****');
  });

  it('never puts a secret in a finding', () => {
    for (const sample of positiveSamples(11, 2)) {
      const result = defaultScanner.scan(sample.text);
      expect(JSON.stringify(result)).not.toContain(sample.secret);
    }
  });
});

describe('input handling', () => {
  const token = checksummedToken(new Rng(9), 'ghp_');

  it('does not scan binary content (a NUL in the first 8000 bytes)', () => {
    const bytes = Buffer.concat([Buffer.from(`x = "${token}"\n`), Buffer.from([0, 1, 2])]);
    expect(defaultScanner.scan(bytes)).toEqual({ kind: 'binary' });
    expect(defaultScanner.scan(bytes.toString('latin1'))).toEqual({ kind: 'binary' });
    const late = Buffer.concat([Buffer.alloc(8000, 0x20), Buffer.from(`x = "${token}"\n`), Buffer.from([0])]);
    expect(findings(late)).toHaveLength(1);
  });

  it('decodes bytes as UTF-8, invalid sequences included, and counts columns in the decoded line', () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(` é t="${token}"\n`)]);
    const [f] = findings(bytes);
    expect(f).toMatchObject({ detector: 'github-pat', line: 1, column: 10 });
  });

  it('finds a secret in the middle of a multi-megabyte line, in bounded time', () => {
    const r = new Rng(10);
    const chunk = 'function(a,b){return a.token+b.secret||"x"};var q=1;';
    const filler = chunk.repeat(Math.ceil(2_500_000 / chunk.length));
    const line = `${filler}var k="${token}";${filler}${r.str('abcdef0123456789', 100)}`;
    const started = performance.now();
    const found = findings(line);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(found.map((f) => f.detector)).toEqual(['github-pat']);
    expect(found[0].column).toBe(filler.length + 8);
  });

  it('drops a match cut by the window edge on a long line rather than report a fragment', () => {
    // The window around `zzz` starts and ends inside the run of q: whatever the pattern matches
    // there touches an edge that is not a line edge, so it may be part of something longer.
    const scanner = createSecretScanner({ detectors: [{ id: 'letters', pattern: '[a-z]{5,}', keywords: ['zzz'] }] });
    const line = `${'q'.repeat(5000)}zzz${'q'.repeat(5000)}`;
    expect(findings(line, scanner).filter((f) => f.detector === 'letters')).toEqual([]);
    expect(findings(`x ${line.slice(4000, 6000)} y`, scanner).map((f) => f.length)).toEqual([2000]);
  });

  it('bounds the number of findings', () => {
    const r = new Rng(12);
    const text = Array.from({ length: 1100 }, () => `t = "${checksummedToken(r, 'ghp_')}"`).join('\n');
    const result = defaultScanner.scan(text);
    expect(result.kind === 'scanned' && result.findings.length === 1000 && result.truncated).toBe(true);
  });
});

describe('secretLookingPath', () => {
  it.each([
    ['home/.ssh/id_rsa', 'private-key'],
    ['deploy/id_ed25519', 'private-key'],
    ['certs/server.pem', 'private-key'],
    ['tls/server.key', 'private-key'],
    ['signing/release.p12', 'keystore'],
    ['win/cert.pfx', 'keystore'],
    ['.env', 'env-file'],
    ['app/.env.production', 'env-file'],
    ['config/prod.env', 'env-file'],
    ['.pypirc', 'credentials-file'],
    ['x/.netrc', 'credentials-file'],
    ['.git-credentials', 'credentials-file'],
    ['gcp/credentials.json', 'credentials-file'],
    ['ops/kubeconfig', 'credentials-file'],
    ['home/.kube/config', 'credentials-file'],
    ['home/.aws/credentials', 'credentials-file'],
    ['home/.docker/config.json', 'credentials-file'],
  ])('%s is %s', (path, kind) => {
    expect(secretLookingPath(path)?.kind).toBe(kind);
  });

  it.each(['.env.example', 'app/.env.sample', '.env.template', 'id_rsa.pub', 'src/key.ts', 'keys.md', '.npmrc', 'README.md', 'config.json'])('%s is not', (path) => {
    expect(secretLookingPath(path)).toBeUndefined();
  });

  it('counts .npmrc only when it carries an auth token', () => {
    expect(secretLookingPath('.npmrc', 'registry=https://registry.npmjs.org/\n')).toBeUndefined();
    expect(secretLookingPath('.npmrc', '//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n')).toEqual({ kind: 'credentials-file', rule: '.npmrc with auth' });
  });

  it('compiles globs to linear-time matchers', () => {
    expect(compileGlob('**/*.pem').matches('a/b/c.pem')).toBe(true);
    expect(compileGlob('**/*.pem').matches('c.pem')).toBe(true);
    expect(compileGlob('src/*.ts').matches('src/a/b.ts')).toBe(false);
    expect(compileGlob('fixture?.json').matches('deep/fixture1.json')).toBe(true);
  });

  it('reads a leading / as the repository root, as gitignore does (paths have no leading /)', () => {
    expect(compileGlob('/deploy/**').matches('deploy/prod/app.yaml')).toBe(true);
    expect(compileGlob('/deploy/**').matches('src/deploy/prod/app.yaml')).toBe(false);
    expect(compileGlob('/CMakeLists.txt').matches('CMakeLists.txt')).toBe(true);
    expect(compileGlob('/CMakeLists.txt').matches('src/CMakeLists.txt')).toBe(false);
    expect(compileGlob('CMakeLists.txt').matches('src/CMakeLists.txt')).toBe(true);
    expect(compileGlob('/src/*.ts').matches('src/a.ts')).toBe(true);
  });
});

describe('the prefilter over bytes', () => {
  const keywords = [...new Set(BUILTIN_DETECTORS.flatMap((d) => d.keywords))];
  const matcher = new KeywordMatcher(keywords);
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

  /** A keyword, whole or cut at either end, in any mix of cases. */
  const keywordPiece = fc
    .tuple(fc.constantFrom(...keywords), fc.nat(), fc.nat(), fc.array(fc.boolean(), { maxLength: 24 }))
    .map(([k, a, b, upper]) => {
      const from = a % 3 === 0 ? a % Math.max(1, k.length) : 0;
      const to = b % 3 === 0 ? k.length - (b % Math.max(1, k.length)) : k.length;
      const piece = [...k.slice(from, Math.max(from, to))].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
      return utf8(piece);
    });
  /** Everything a blob may hold around keywords: letters of both cases, other UTF-8, invalid sequences, NUL, line ends. */
  const piece = fc.oneof(
    { weight: 4, arbitrary: keywordPiece },
    { weight: 3, arbitrary: fc.stringMatching(/^[a-zA-Z_=:"' -]{1,6}$/).map(utf8) },
    { weight: 2, arbitrary: fc.constantFrom('é', 'ü', '✓', '€', '😀', '\u212a', 'ſ', 'İ', '\u00a0').map(utf8) },
    { weight: 2, arbitrary: fc.constantFrom([0x80], [0xc3], [0xe2, 0x82], [0xff], [0xfe], [0xf0, 0x9f], [0xed, 0xa0, 0x80], [0xc0, 0xaf]).map((b) => Uint8Array.from(b)) },
    { weight: 1, arbitrary: fc.constantFrom('\n', '\r\n', '\0', '\t').map(utf8) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }) },
  );
  const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);

  it('occursIn(bytes) is whether a scan of the decoded text reports a keyword', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const bytes = concat(parts);
        let hits = 0;
        matcher.scan(decoder.decode(bytes), () => hits++);
        expect(matcher.occursIn(bytes)).toBe(hits > 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('occursIn finds a keyword wherever it lies against the middle, where the two halves are scanned apart', () => {
    const keywords = [...new Set(BUILTIN_DETECTORS.flatMap((d) => d.keywords))];
    const longest = Math.max(...keywords.map((k) => k.length));
    for (const n of [0, 1, 2 * longest - 1, 2 * longest, 2 * longest + 1, 301, 4096]) {
      expect(matcher.occursIn(Buffer.alloc(n, 'x'))).toBe(false);
    }
    for (const keyword of keywords) {
      for (const total of [3 * longest, 3 * longest + 1, 257]) {
        const mid = total >>> 1;
        for (let start = Math.max(0, mid - keyword.length - longest); start <= Math.min(total - keyword.length, mid + longest); start++) {
          const bytes = Buffer.alloc(total, 'x');
          bytes.write(keyword.toUpperCase(), start, 'latin1');
          expect({ keyword, total, start, found: matcher.occursIn(bytes) }).toEqual({ keyword, total, start, found: true });
        }
      }
    }
  });

  it('finds in bytes, with a secret among such pieces, what the scan without the prefilter finds', () => {
    const secrets = positiveSamples(31, 2).map((s) => utf8(s.text));
    const withSecret = fc.oneof({ weight: 6, arbitrary: piece }, { weight: 1, arbitrary: fc.constantFrom(...secrets) });
    const sep = fc.constantFrom('\n', ' ', '', '"', '\u00e9').map(utf8);
    fc.assert(
      fc.property(fc.array(fc.tuple(withSecret, sep), { maxLength: 30 }), fc.constantFrom(...secrets), fc.nat(), (parts, secret, at) => {
        const all = parts.flat();
        all.splice(at % (all.length + 1), 0, utf8('\n'), secret, utf8('\n'));
        // Binary content (a NUL among the pieces) is not scanned either way.
        const bytes = concat(all);
        const fast = defaultScanner.scan(bytes);
        const slow = defaultScanner.scan(bytes, { prefilter: false });
        if (fast.kind !== 'scanned' || slow.kind !== 'scanned') {
          expect(fast).toEqual(slow);
          return;
        }
        expect(fast.findings).toEqual(slow.findings);
        expect(fast.keywordFree).toBeUndefined();
        expect(fast.findings.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('reports keyword-free exactly when no keyword occurs, and then finds nothing without the prefilter either', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const bytes = concat(parts);
        const fast = defaultScanner.scan(bytes);
        const slow = defaultScanner.scan(bytes, { prefilter: false });
        if (fast.kind !== 'scanned') return expect(slow).toEqual(fast);
        expect(fast.keywordFree === true).toBe(!matcher.occursIn(bytes));
        if (fast.keywordFree) expect(slow).toEqual({ kind: 'scanned', findings: [], truncated: false });
        else expect(slow.kind === 'scanned' && slow.findings).toEqual(fast.findings);
      }),
      { numRuns: 1000 },
    );
  });
});
