/**
 * The workspace's layering, checked from the source: every package's `package.json` declares
 * exactly the `@pushgate/*` packages its code imports (product code in `dependencies`, test code
 * in `devDependencies`), packages reach each other only by name, never by a relative path into
 * another package's directory, the product never imports its test kit, the product dependency
 * graph has no cycle, and `core` depends on no other package. Imports are read with the TypeScript
 * parser (static, `export … from`, dynamic `import('…')` and `import('…')` types), so an import
 * inside a string or a comment does not count.
 *
 * Test code is what never ships: `*.test.ts`, `*.bench.ts`, `*.test-support.ts`, `*.testing.ts`,
 * `testing.ts`, `test-fixtures.ts` and anything under a `testing/` directory.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = join(ROOT, 'packages');
const SCOPE = '@pushgate/';
const TEST_KIT = '@pushgate/testkit';

/** Whether a path under a package's `src/` is test code. */
function isTestFile(pathInSrc: string): boolean {
  const path = pathInSrc.split(sep).join('/');
  return /\.(test|bench|test-support|testing)\.ts$/.test(path) || /(^|\/)(testing|test-fixtures)\.ts$/.test(path) || /(^|\/)testing\//.test(path);
}

/** Every module specifier a TypeScript source imports or re-exports. */
function importsOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg !== undefined && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      found.push(node.moduleReference.expression.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** What one package's source imports of the workspace, and what its package.json declares. */
interface PackageFacts {
  readonly dir: string;
  readonly name: string;
  /** `@pushgate/*` packages imported by product code. */
  readonly productImports: ReadonlySet<string>;
  /** `@pushgate/*` packages imported only by test code. */
  readonly testImports: ReadonlySet<string>;
  readonly dependencies: ReadonlySet<string>;
  readonly devDependencies: ReadonlySet<string>;
  /** `file: specifier` for each relative import that leaves the package's directory. */
  readonly escapes: readonly string[];
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(path);
    }
  };
  walk(dir);
  return out.sort();
}

function scoped(names: Readonly<Record<string, string>> | undefined): Set<string> {
  return new Set(Object.keys(names ?? {}).filter((n) => n.startsWith(SCOPE)));
}

function readPackage(dir: string): PackageFacts {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const src = join(dir, 'src');
  const product = new Set<string>();
  const test = new Set<string>();
  const escapes: string[] = [];
  for (const file of sourceFiles(src)) {
    const inTest = isTestFile(relative(src, file));
    for (const spec of importsOf(file, readFileSync(file, 'utf8'))) {
      if (spec.startsWith(SCOPE)) {
        const name = spec.split('/').slice(0, 2).join('/');
        if (name !== manifest.name) (inTest ? test : product).add(name);
      } else if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        if (target !== dir && !target.startsWith(dir + sep)) escapes.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
  }
  for (const name of product) test.delete(name);
  return {
    dir,
    name: manifest.name,
    productImports: product,
    testImports: test,
    dependencies: scoped(manifest.dependencies),
    devDependencies: scoped(manifest.devDependencies),
    escapes,
  };
}

const packages: PackageFacts[] = readdirSync(PACKAGES, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => readPackage(join(PACKAGES, e.name)));
const byName = new Map(packages.map((p) => [p.name, p]));

/** A cycle in `graph` as a list of names (first repeated at the end), or undefined. */
function findCycle(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

describe('workspace layering', () => {
  it('reads imports with the parser, not by pattern, and classifies test code by name', () => {
    const text = [
      "import { a } from '@pushgate/a';",
      "import type { B } from '@pushgate/b/sub';",
      "export * from './local';",
      "const c = await import('@pushgate/c');",
      "type D = import('@pushgate/d').D;",
      "const e = `import { x } from '@pushgate/not-an-import'`;",
      "// import { y } from '@pushgate/nor-this';",
    ].join('\n');
    expect(importsOf('x.ts', text)).toEqual(['@pushgate/a', '@pushgate/b/sub', './local', '@pushgate/c', '@pushgate/d']);
    expect(['a.test.ts', 'a.bench.ts', 'f.test-support.ts', 'arb.testing.ts', 'testing.ts', 'testing/harness.ts', 'test-fixtures.ts'].every(isTestFile)).toBe(true);
    expect(['index.ts', 'pacer.ts', 'testkit.ts', 'contest.ts'].some(isTestFile)).toBe(false);
    expect(findCycle(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', new Set(['b'])], ['b', new Set<string>()]]))).toBeUndefined();
  });

  it('finds every package', () => {
    expect(packages.length).toBeGreaterThan(10);
    expect(byName.has('@pushgate/core')).toBe(true);
    expect(byName.has(TEST_KIT)).toBe(true);
  });

  it.each(packages.map((p) => [p.name, p] as const))('%s declares exactly the workspace packages it imports', (_name, p) => {
    expect({ dependencies: sorted(p.dependencies), devDependencies: sorted(p.devDependencies) }).toEqual({
      dependencies: sorted(p.productImports),
      devDependencies: sorted(p.testImports),
    });
    for (const dep of [...p.dependencies, ...p.devDependencies]) expect(byName.has(dep)).toBe(true);
  });

  it('never reaches into another package by a relative path', () => {
    expect(packages.flatMap((p) => p.escapes)).toEqual([]);
  });

  it('keeps the test kit out of product code', () => {
    expect(packages.filter((p) => p.name !== TEST_KIT && p.productImports.has(TEST_KIT)).map((p) => p.name)).toEqual([]);
  });

  it('has no cycle among product dependencies, and core depends on nothing of the workspace', () => {
    const graph = new Map(packages.map((p) => [p.name, p.productImports]));
    expect(findCycle(graph)).toBeUndefined();
    const core = byName.get('@pushgate/core');
    expect(core && sorted(core.productImports)).toEqual([]);
    expect(core && sorted(core.testImports)).toEqual([]);
    // Every other package stands on core, directly or through the packages it depends on.
    const reachesCore = (name: string, seen = new Set<string>()): boolean => {
      if (name === '@pushgate/core') return true;
      if (seen.has(name)) return false;
      seen.add(name);
      return [...(graph.get(name) ?? [])].some((next) => reachesCore(next, seen));
    };
    expect(packages.filter((p) => !reachesCore(p.name)).map((p) => p.name)).toEqual([]);
  });
});
