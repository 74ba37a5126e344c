/**
 * docs/ERRORS.md is the reference of every error code pushgate can show: it must list each code
 * exactly once and no code that no longer exists. The codes are read from the source with the
 * TypeScript compiler, not from a list kept by hand: every class deriving from PushgateError
 * (directly or through another subclass, in any package) contributes the string literals its
 * `code` property can hold, whether they come from a union type, a const table (LIMIT_CODES) or a
 * literal type argument, and every `new PushgateError(<code>, …)` contributes its argument. A
 * class whose code is not a union of string literals is itself an error: its codes could not be
 * documented. The fixtures below prove the check fails for an undocumented code in each of those
 * shapes, and for a documented code that is gone.
 *
 * docs/CONFIG.md's `limits` table is checked against DEFAULT_LIMITS and LIMIT_CODES the same way,
 * and every code-like name in the other docs must be a real code.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { DEFAULT_LIMITS, LIMIT_CODES, type Limits } from './index';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ERRORS_MD = join(ROOT, 'docs', 'ERRORS.md');

/** Every source file of every package, tests excluded (their errors are never shown to anyone). */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
    }
  };
  for (const pkg of readdirSync(join(ROOT, 'packages'), { withFileTypes: true })) {
    if (!pkg.isDirectory()) continue;
    const src = join(ROOT, 'packages', pkg.name, 'src');
    try {
      walk(src);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return out.sort();
}

function compilerOptions(): ts.CompilerOptions {
  const file = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  if (file.error) throw new Error(ts.flattenDiagnosticMessageText(file.error.messageText, '\n'));
  return { ...ts.parseJsonConfigFileContent(file.config, ts.sys, ROOT).options, noEmit: true };
}

/** The codes found in the source: code → where each is declared (`<file>: <class>`). */
interface Extraction {
  readonly codes: ReadonlyMap<string, readonly string[]>;
  /** Error classes or constructions whose codes are not string literals. */
  readonly problems: readonly string[];
  readonly program: ts.Program;
}

/**
 * Reads every error code from `files`. `extra` adds files that exist only in memory (the fixtures),
 * at paths inside the repository so that they import '@pushgate/core' as a package does.
 */
function extractCodes(files: readonly string[], extra: Readonly<Record<string, string>> = {}, oldProgram?: ts.Program): Extraction {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options, true);
  const virtual = new Map(Object.entries(extra));
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (p) => virtual.has(p) || fileExists.call(host, p);
  host.readFile = (p) => virtual.get(p) ?? readFile.call(host, p);
  host.getSourceFile = (p, language, onError, create) => {
    const text = virtual.get(p);
    return text === undefined ? getSourceFile.call(host, p, language, onError, create) : ts.createSourceFile(p, text, language, true);
  };
  const roots = [...files, ...virtual.keys()];
  const program = ts.createProgram({ rootNames: roots, options, host, oldProgram });
  const checker = program.getTypeChecker();

  const coreErrors = program.getSourceFile(join(ROOT, 'packages', 'core', 'src', 'errors.ts'));
  const baseDecl = coreErrors?.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === 'PushgateError');
  if (baseDecl?.name === undefined) throw new Error('class PushgateError not found in packages/core/src/errors.ts');
  const base = checker.getSymbolAtLocation(baseDecl.name);
  if (base === undefined) throw new Error('PushgateError has no symbol');

  const objectFlags = (t: ts.Type): ts.ObjectFlags => (t.flags & ts.TypeFlags.Object ? (t as ts.ObjectType).objectFlags : 0);
  const targetOf = (t: ts.Type): ts.Type => (objectFlags(t) & ts.ObjectFlags.Reference ? (t as ts.TypeReference).target : t);
  const derivesFromBase = (t: ts.Type, depth = 0): boolean => {
    if (depth > 50 || !(objectFlags(t) & (ts.ObjectFlags.Class | ts.ObjectFlags.Interface))) return false;
    return (checker.getBaseTypes(t as ts.InterfaceType) ?? []).some((b) => targetOf(b).symbol === base || derivesFromBase(targetOf(b), depth + 1));
  };
  const literals = (t: ts.Type): string[] | undefined => {
    const members = t.isUnion() ? t.types : [t];
    const out: string[] = [];
    for (const m of members) {
      if (!m.isStringLiteral()) return undefined;
      out.push(m.value);
    }
    return out;
  };
  const resolved = (s: ts.Symbol | undefined): ts.Symbol | undefined => (s !== undefined && s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);

  const codes = new Map<string, string[]>();
  const problems: string[] = [];
  const add = (code: string, where: string): void => {
    const list = codes.get(code) ?? [];
    if (!list.includes(where)) list.push(where);
    codes.set(code, list);
  };
  const rootSet = new Set(roots);
  for (const sf of program.getSourceFiles()) {
    if (!rootSet.has(sf.fileName)) continue;
    const file = relative(ROOT, sf.fileName);
    const visit = (node: ts.Node): void => {
      if (ts.isClassLike(node) && node.name !== undefined) {
        const symbol = checker.getSymbolAtLocation(node.name);
        const type = symbol === undefined ? undefined : checker.getDeclaredTypeOfSymbol(symbol);
        if (symbol !== base && type !== undefined && derivesFromBase(type)) {
          const where = `${file}: ${node.name.text}`;
          const prop = type.getProperty('code');
          const found = prop === undefined ? undefined : literals(checker.getTypeOfSymbolAtLocation(prop, node));
          if (found === undefined) problems.push(`${where}: its code is not a union of string literals`);
          else for (const code of found) add(code, where);
        }
      }
      if (ts.isNewExpression(node) && resolved(checker.getSymbolAtLocation(node.expression)) === base) {
        const where = `${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}: new PushgateError`;
        const arg = node.arguments?.[0];
        const found = arg === undefined ? undefined : literals(checker.getTypeAtLocation(arg));
        if (found === undefined) problems.push(`${where}: its code is not a string literal`);
        else for (const code of found) add(code, where);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { codes, problems, program };
}

/** A code as a name: `AREA_WHAT` (or the one-word INTERNAL). */
const CODE_SHAPE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;
/** A code's entry in ERRORS.md: a table row whose first cell is the code in backticks. */
const ENTRY_RE = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm;
const BACKTICKED_RE = /`([^`\n]+)`/g;

/** The codes ERRORS.md has an entry for, in order (a code listed twice appears twice). */
function documentedCodes(markdown: string): string[] {
  return [...markdown.matchAll(ENTRY_RE)].map((m) => m[1]);
}

/**
 * The areas codes belong to (the part before the first `_`). A backticked name in an area is taken
 * for a code. GIT is left out: docs also name git's own environment variables (GIT_DIR, …).
 */
function areasOf(codes: Iterable<string>): Set<string> {
  const areas = new Set<string>();
  for (const code of codes) areas.add(code.split('_')[0]);
  areas.delete('GIT');
  return areas;
}

/** Backticked names in `markdown` that look like codes of a known area but are not codes. */
function unknownMentions(markdown: string, codes: ReadonlySet<string>): string[] {
  const areas = areasOf(codes);
  const out = new Set<string>();
  for (const m of markdown.matchAll(BACKTICKED_RE)) {
    const name = m[1];
    // A one-word name (`PACK`, the pack signature) is a word, not a code.
    if (CODE_SHAPE.test(name) && name.includes('_') && areas.has(name.split('_')[0]) && !codes.has(name)) out.add(name);
  }
  return [...out].sort();
}

/** How ERRORS.md differs from the codes in the source. */
function compareWithDoc(codes: ReadonlySet<string>, markdown: string): { missing: string[]; stale: string[]; duplicated: string[]; unknownMentions: string[] } {
  const listed = documentedCodes(markdown);
  const seen = new Set<string>();
  const duplicated = new Set<string>();
  for (const code of listed) {
    if (seen.has(code)) duplicated.add(code);
    seen.add(code);
  }
  return {
    missing: [...codes].filter((c) => !seen.has(c)).sort(),
    stale: [...seen].filter((c) => !codes.has(c)).sort(),
    duplicated: [...duplicated].sort(),
    unknownMentions: unknownMentions(markdown, codes),
  };
}

const extraction = extractCodes(sourceFiles());
const codes = new Set(extraction.codes.keys());
const errorsMd = readFileSync(ERRORS_MD, 'utf8');

describe('docs/ERRORS.md', () => {
  it('finds the codes of every package, through every shape they are declared in', () => {
    expect(extraction.problems).toEqual([]);
    // One of each shape: a union alias (PROTO_), a const table (LIMIT_), a literal type argument
    // (AUDIT_, TESTKIT_GATEWAY_FAILED), the base's own InternalError, a class in a non-errors module (MIRROR_).
    for (const code of ['PROTO_BAD_COMMAND', 'LIMIT_SHALLOW', 'LIMIT_PKT_LINE', 'AUDIT_UNAVAILABLE', 'TESTKIT_GATEWAY_FAILED', 'INTERNAL', 'MIRROR_FETCH_FAILED', 'GIT_COMMAND_FAILED']) {
      expect({ code, found: codes.has(code) }).toEqual({ code, found: true });
    }
    for (const code of Object.values(LIMIT_CODES)) expect({ code, found: codes.has(code) }).toEqual({ code, found: true });
    expect(codes.size).toBeGreaterThan(150);
    for (const code of codes) expect({ code, shape: CODE_SHAPE.test(code) }).toEqual({ code, shape: true });
  });

  it('lists every code exactly once, and no code that does not exist', () => {
    expect(compareWithDoc(codes, errorsMd)).toEqual({ missing: [], stale: [], duplicated: [], unknownMentions: [] });
  });

  it('says which limits key to raise for every limit that has one', () => {
    const rows = new Map(errorsMd.split('\n').flatMap((line) => {
      const m = /^\|\s*`(LIMIT_[A-Z_]+)`\s*\|/.exec(line);
      return m === null ? [] : [[m[1], line] as const];
    }));
    for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
      const code = LIMIT_CODES[key];
      expect({ code, namesKey: rows.get(code)?.includes(`limits.${key}`) }).toEqual({ code, namesKey: true });
    }
  });

  it('is not contradicted by the other docs: every code they name exists', () => {
    const docs = [
      join(ROOT, 'README.md'),
      ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f)),
      ...readdirSync(join(ROOT, 'packages')).map((pkg) => join(ROOT, 'packages', pkg, 'README.md')).filter((p) => existsSync(p)),
    ];
    for (const doc of docs) {
      const name = relative(ROOT, doc);
      expect({ doc: name, unknown: unknownMentions(readFileSync(doc, 'utf8'), codes) }).toEqual({ doc: name, unknown: [] });
    }
  });
});

describe('docs/CONFIG.md limits', () => {
  it('documents every limit with its default and its code, and no other', () => {
    const config = readFileSync(join(ROOT, 'docs', 'CONFIG.md'), 'utf8');
    const section = config.slice(config.indexOf('### `limits`'), config.indexOf('\n### ', config.indexOf('### `limits`') + 1));
    const rows = [...section.matchAll(/^\|\s*`(\w+)`\s*\|\s*(\d+)[^|]*\|\s*`([A-Z_]+)`\s*\|/gm)].map((m) => ({ key: m[1], default: Number(m[2]), code: m[3] }));
    const expected = (Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]).map((key) => ({ key, default: DEFAULT_LIMITS[key], code: LIMIT_CODES[key] }));
    expect(rows.sort((a, b) => a.key.localeCompare(b.key))).toEqual(expected.sort((a, b) => a.key.localeCompare(b.key)));
  });
});

describe('the completeness check itself', () => {
  // Exists only in memory, inside the repository so that it imports '@pushgate/*' as packages do.
  const FIXTURE = join(ROOT, 'packages', 'errors-doc-fixture', 'src', 'errors.ts');
  const withFixture = (text: string) => extractCodes(sourceFiles(), { [FIXTURE]: text }, extraction.program);
  // ERRORS.md completed with rows for any real code it lacks, so that these tests prove the check
  // whatever state the real page is in (its own test above reports that).
  const baseline = `${errorsMd}\n${compareWithDoc(codes, errorsMd).missing.map((c) => `| \`${c}\` | |`).join('\n')}\n`;

  it('fails for a new code in each shape a code can be declared in, until it is documented', () => {
    const fixture = withFixture(`
      import { LimitError, PushgateError } from '@pushgate/core';
      import type { ChangesErrorCode } from '@pushgate/changes';
      /** A new area with its own union. */
      export type FixtureErrorCode = 'FIXTURE_UNION_ONE' | 'FIXTURE_UNION_TWO';
      export class FixtureError extends PushgateError<FixtureErrorCode> {}
      /** A code added to an existing union, through a class deriving from another subclass. */
      export class MoreChanges extends PushgateError<ChangesErrorCode | 'CHANGES_FIXTURE_NEW'> {}
      export class DeeperChanges extends MoreChanges {}
      /** A const table, as LIMIT_CODES is. */
      const TABLE = { a: 'FIXTURE_TABLE_A', b: 'FIXTURE_TABLE_B' } as const;
      export class TableError extends PushgateError<(typeof TABLE)[keyof typeof TABLE]> {}
      /** A subclass of a subclass of the base adds nothing new. */
      export class QuietLimit extends LimitError {}
      export const direct = (): PushgateError => new PushgateError('FIXTURE_DIRECT', 'constructed in place');
    `);
    expect(fixture.problems).toEqual([]);
    const found = new Set(fixture.codes.keys());
    const diff = compareWithDoc(found, baseline);
    expect(diff.missing).toEqual(['CHANGES_FIXTURE_NEW', 'FIXTURE_DIRECT', 'FIXTURE_TABLE_A', 'FIXTURE_TABLE_B', 'FIXTURE_UNION_ONE', 'FIXTURE_UNION_TWO']);
    expect(fixture.codes.get('CHANGES_FIXTURE_NEW')).toEqual(['packages/errors-doc-fixture/src/errors.ts: MoreChanges', 'packages/errors-doc-fixture/src/errors.ts: DeeperChanges']);
    expect(diff.stale).toEqual([]);

    // Documenting them (one row each) satisfies the check.
    const documented = `${baseline}\n## Fixture\n\n| code | |\n|---|---|\n${diff.missing.map((c) => `| \`${c}\` | documented |`).join('\n')}\n`;
    expect(compareWithDoc(found, documented)).toEqual({ missing: [], stale: [], duplicated: [], unknownMentions: [] });
  });

  it('refuses an error class whose codes cannot be known', () => {
    const fixture = withFixture(`
      import { PushgateError } from '@pushgate/core';
      export class AnyCode extends PushgateError {}
      export class Generic<C extends string> extends PushgateError<C> {}
      export const fromString = (code: string): PushgateError => new PushgateError(code, 'whatever');
    `);
    expect(fixture.problems).toEqual([
      'packages/errors-doc-fixture/src/errors.ts: AnyCode: its code is not a union of string literals',
      'packages/errors-doc-fixture/src/errors.ts: Generic: its code is not a union of string literals',
      'packages/errors-doc-fixture/src/errors.ts:5: new PushgateError: its code is not a string literal',
    ]);
  });

  it('fails for a documented code that no longer exists, listed twice, or named in prose', () => {
    const stale = `${baseline}\n| \`PACK_FIXTURE_GONE\` | removed long ago |\n| \`PACK_TRUNCATED\` | again |\nSee also \`LIMIT_FIXTURE_GONE\` and \`GIT_DIR\`.\n`;
    expect(compareWithDoc(codes, stale)).toEqual({
      missing: [],
      stale: ['PACK_FIXTURE_GONE'],
      duplicated: ['PACK_TRUNCATED'],
      unknownMentions: ['LIMIT_FIXTURE_GONE', 'PACK_FIXTURE_GONE'],
    });
    const without = baseline.replace(/^\|\s*`PUSH_BAD_BODY`.*\n/m, '');
    expect(without).not.toBe(baseline);
    expect(compareWithDoc(codes, without).missing).toEqual(['PUSH_BAD_BODY']);
  });
});
