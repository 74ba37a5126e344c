/**
 * `pushgate policy test`: declared cases (fixture repository, push, identity, expected outcome and
 * rule ids) judged offline through the gateway's own inspection (offline-inspection.ts) and the
 * policy engine (`scanContent`, `evaluate`, `renderDecision`), so a policy change is tested in CI
 * the way the gateway will apply it. The cases file format is documented in README.md ("Testing a
 * policy in CI") and fixtures/policy/cases.yaml shows every field.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ZERO_OID, isPushgateError, type Identity, type Oid, type RefUpdate } from '@pushgate/core';
import type { ChangeSet } from '@pushgate/changes';
import { FixtureRepos, type BuiltRepo } from '@pushgate/fixture-repos';
import { PolicyConfigError, compilePolicy, evaluate, parsePolicyConfig, renderDecision, scanContent, type CompiledPolicy, type Decision } from '@pushgate/policy';
import { inspectOffline, resolveRevision } from './offline-inspection';
import { PolicyTestError } from './policy-test-errors';

/** The issuer test identities carry (they are declared, not verified). */
export const TEST_ISSUER = 'pushgate-policy-test';

const Revision = z.string().min(1);

const IdentitySchema = z.strictObject({
  sub: z.string().min(1),
  email: z.string().optional(),
  groups: z.array(z.string()).default([]),
  agent: z.boolean().default(false),
});

/** One case: which policy, which repository, what is pushed by whom, and what should come of it. */
const CaseSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  /** A policy file (the shape of the gateway config's `policy:` key), relative to the cases file. */
  policy: z.string().min(1),
  /** A fixture repository: `<repos>/<fixture>.yaml`. */
  fixture: z.string().min(1),
  upstream: z.strictObject({
    /** The upstream's configured name (what `repos` globs see first). */
    name: z.string().min(1).optional(),
    /** The repository path at the upstream. */
    repo: z.string().min(1).optional(),
    /** The upstream's refs before the push: full ref name → revision in the fixture. `{}`: an empty repository. */
    refs: z.record(z.string().startsWith('refs/'), Revision),
  }),
  push: z
    .array(
      z.strictObject({
        ref: z.string().startsWith('refs/'),
        /** Default: the upstream's value (what `git push` sends), or none. */
        old: Revision.nullable().optional(),
        /** `null` deletes the ref. */
        new: Revision.nullable(),
      }),
    )
    .min(1),
  /** `git push --force`: without it, a non-fast-forward update or a moved tag is a mistake in the case. */
  force: z.boolean().default(false),
  identity: IdentitySchema,
  pushOptions: z.array(z.string()).default([]),
  expect: z.strictObject({
    outcome: z.enum(['allow', 'deny', 'hold']),
    /** Every rule id among the decision's reasons (any mode, exempt or not), in any order. */
    rules: z.array(z.string()).default([]),
    /** Fragments each found in some `ng` line. */
    ng: z.array(z.string()).optional(),
    /** Fragments each found in some `remote:` line. */
    remote: z.array(z.string()).optional(),
  }),
});

/** A cases file. */
export const PolicyCasesSchema = z.strictObject({
  /** Where fixture repositories are described, relative to the cases file (default `../repos`). */
  repos: z.string().optional(),
  /** Upstream name and repository path for cases that give none. */
  defaults: z.strictObject({ upstream: z.string().min(1).optional(), repo: z.string().min(1).optional() }).optional(),
  cases: z.array(CaseSchema).min(1),
});

/** One declared case. */
export type PolicyCase = z.infer<typeof CaseSchema>;

/** What came of one case. */
export interface CaseResult {
  readonly name: string;
  readonly passed: boolean;
  /** The decision's outcome, when the case got as far as a decision. */
  readonly outcome?: Decision['kind'];
  /** Rule ids among the decision's reasons, sorted. */
  readonly rules: readonly string[];
  /** What differed from the expectation, or why the case could not run. */
  readonly problems: readonly string[];
  readonly durationMs: number;
  readonly refLines: readonly string[];
  readonly remoteLines: readonly string[];
}

/** The results of a cases file. */
export interface PolicyTestReport {
  readonly file: string;
  readonly results: readonly CaseResult[];
  readonly passed: number;
  readonly failed: number;
}

/** Reads and validates a YAML file against `schema`, naming each problem's key path. */
async function readYaml<T extends z.ZodType>(file: string, schema: T, what: string): Promise<z.output<T>> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new PolicyTestError('POLICY_CASES_INVALID', file, `${file}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new PolicyTestError('POLICY_CASES_INVALID', file, `${file}: not a valid ${what}:\n${parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`).join('\n')}`);
  return parsed.data;
}

/** Reads a policy file: the `policy:` section itself, or a whole gateway config holding one. */
export async function loadPolicyFile(file: string): Promise<CompiledPolicy> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new PolicyConfigError([`${file}: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const section = typeof raw === 'object' && raw !== null && 'policy' in raw ? (raw as { policy: unknown }).policy : raw;
  const parsed = parsePolicyConfig(section ?? {});
  if (!parsed.ok) throw new PolicyConfigError(parsed.errors.map((e) => `${file}: ${e}`));
  return compilePolicy(parsed.config);
}

/** What a push gets: the decision and the lines the git client would see. */
export interface Judgement {
  readonly changeSet: ChangeSet;
  readonly decision: Decision;
  readonly refLines: readonly string[];
  readonly remoteLines: readonly string[];
}

/** Inspects a push offline and judges it as the gateway would. */
export async function judgePush(input: {
  readonly sourceGitDir: string;
  readonly upstreamRefs: ReadonlyMap<string, Oid>;
  readonly commands: readonly RefUpdate[];
  readonly workDir: string;
  readonly policy: CompiledPolicy;
  readonly upstream: string;
  readonly repo: string;
  readonly identity: Identity;
  readonly pushOptions: readonly string[];
}): Promise<Judgement> {
  return inspectOffline(input, async (changeSet, content) => {
    const findings = await scanContent({ changeSet, content, policy: input.policy });
    const decision = evaluate({ upstream: input.upstream, repo: input.repo, identity: input.identity, pushOptions: input.pushOptions, changeSet, content: findings }, input.policy);
    // No review link offline: a hold is not stored, so it has no page to point at.
    const rendered = renderDecision(decision, { refs: input.commands.map((c) => c.ref) });
    return { changeSet, decision, refLines: [...rendered.refLines].map(([ref, reason]) => `ng ${ref} ${reason}`), remoteLines: rendered.remoteLines };
  });
}

/** Options of runPolicyCases. */
export interface RunPolicyCasesOptions {
  /** Called as each case finishes (the CLI prints it). */
  readonly onResult?: (result: CaseResult) => void;
  /** Where fixture repositories are built (a temporary directory, removed afterwards, when omitted). */
  readonly workDir?: string;
}

/** Runs every case of a cases file, building each fixture repository once. */
export async function runPolicyCases(file: string, options: RunPolicyCasesOptions = {}): Promise<PolicyTestReport> {
  const cases = await readYaml(file, PolicyCasesSchema, 'cases file');
  const base = dirname(resolve(file));
  const root = options.workDir ?? (await mkdtemp(join(tmpdir(), 'pushgate-policy-test-')));
  const repos = new FixtureRepos(resolve(base, cases.repos ?? '../repos'), join(root, 'repos'));
  const policies = new Map<string, Promise<CompiledPolicy>>();
  const policyOf = (name: string): Promise<CompiledPolicy> => {
    const path = resolve(base, name);
    let p = policies.get(path);
    if (p === undefined) {
      p = loadPolicyFile(path);
      policies.set(path, p);
    }
    return p;
  };
  const results: CaseResult[] = [];
  try {
    const names = new Set<string>();
    for (const [i, c] of cases.cases.entries()) {
      const started = performance.now();
      let result: CaseResult;
      if (names.has(c.name)) {
        result = { name: c.name, passed: false, rules: [], problems: [`the case name is already used`], durationMs: 0, refLines: [], remoteLines: [] };
      } else {
        try {
          result = await runCase(c, { repos, policy: await policyOf(c.policy), workDir: join(root, `case-${i + 1}`), defaults: cases.defaults ?? {} });
        } catch (e) {
          result = { name: c.name, passed: false, rules: [], problems: [isPushgateError(e) ? e.clientMessage() : e instanceof Error ? e.message : String(e)], durationMs: 0, refLines: [], remoteLines: [] };
        }
        result = { ...result, durationMs: Math.round(performance.now() - started) };
      }
      names.add(c.name);
      results.push(result);
      options.onResult?.(result);
      await rm(join(root, `case-${i + 1}`), { recursive: true, force: true });
    }
  } finally {
    if (options.workDir === undefined) await rm(root, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r.passed).length;
  return { file, results, passed, failed: results.length - passed };
}

async function runCase(c: PolicyCase, ctx: { repos: FixtureRepos; policy: CompiledPolicy; workDir: string; defaults: { upstream?: string; repo?: string } }): Promise<CaseResult> {
  const repo: BuiltRepo = await ctx.repos.get(c.fixture);
  const resolveRev = (rev: string): Promise<Oid> => {
    const named = repo.commits.get(rev) ?? repo.refs.get(rev) ?? repo.refs.get(`refs/heads/${rev}`) ?? repo.refs.get(`refs/tags/${rev}`);
    return named !== undefined ? Promise.resolve(named) : resolveRevision(repo.gitDir, rev);
  };
  const upstreamRefs = new Map<string, Oid>();
  for (const [ref, rev] of Object.entries(c.upstream.refs)) upstreamRefs.set(ref, await resolveRev(rev));
  const commands: RefUpdate[] = [];
  for (const p of c.push) {
    const old = p.old === undefined ? (upstreamRefs.get(p.ref) ?? ZERO_OID) : p.old === null ? ZERO_OID : await resolveRev(p.old);
    commands.push({ ref: p.ref, oldOid: old, newOid: p.new === null ? ZERO_OID : await resolveRev(p.new) });
  }
  const judged = await judgePush({
    sourceGitDir: repo.gitDir,
    upstreamRefs,
    commands,
    workDir: ctx.workDir,
    policy: ctx.policy,
    upstream: c.upstream.name ?? ctx.defaults.upstream ?? 'origin',
    repo: c.upstream.repo ?? ctx.defaults.repo ?? 'acme/app.git',
    identity: { sub: c.identity.sub, issuer: TEST_ISSUER, groups: c.identity.groups, agent: c.identity.agent, ...(c.identity.email !== undefined ? { email: c.identity.email } : {}) },
    pushOptions: c.pushOptions,
  });
  const problems: string[] = [];
  if (!c.force) {
    for (const ref of judged.changeSet.refs) {
      // git push refuses these itself unless forced, so a case without `force` that needs it is wrong.
      if (ref.kind === 'update' && ref.category === 'tag') problems.push(`${ref.ref} moves an existing tag: git push needs --force (set force: true)`);
      else if (ref.kind === 'update' && !ref.fastForward) problems.push(`${ref.ref} is not a fast-forward: git push needs --force (set force: true)`);
    }
  }
  const { decision } = judged;
  const rules = [...new Set(decision.reasons.map((r) => r.rule))].sort();
  const expected = [...new Set(c.expect.rules)].sort();
  if (decision.kind !== c.expect.outcome) problems.push(`outcome: expected ${c.expect.outcome}, got ${decision.kind}`);
  if (rules.join('\0') !== expected.join('\0')) problems.push(`rules: expected [${expected.join(', ')}], got [${rules.join(', ')}]`);
  for (const [what, fragments, lines] of [
    ['ng', c.expect.ng, judged.refLines],
    ['remote', c.expect.remote, judged.remoteLines],
  ] as const) {
    for (const fragment of fragments ?? []) {
      if (!lines.some((l) => l.includes(fragment))) problems.push(`${what}: no line contains ${JSON.stringify(fragment)}${lines.length === 0 ? ' (there are none)' : `; got:\n${lines.map((l) => `      ${l}`).join('\n')}`}`);
    }
  }
  return { name: c.name, passed: problems.length === 0, outcome: decision.kind, rules, problems, durationMs: 0, refLines: judged.refLines, remoteLines: judged.remoteLines };
}

/** The line printed for a case: `ok`/`FAIL`, its name, outcome and rule ids; then what differed. */
export function formatResult(r: CaseResult): string {
  const head = `${r.passed ? 'ok  ' : 'FAIL'} ${r.name} — ${r.outcome ?? 'error'}${r.rules.length > 0 ? ` [${r.rules.join(', ')}]` : ''}`;
  return [head, ...r.problems.map((p) => `     ${p}`)].join('\n');
}

/** The last line: `31 passed, 0 failed`. */
export function formatSummary(report: PolicyTestReport): string {
  return `${report.passed} passed, ${report.failed} failed`;
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch] ?? ch).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

/** The report as JUnit XML (one testsuite, one testcase per case), as CI systems read it. */
export function junitXml(report: PolicyTestReport): string {
  const seconds = (ms: number): string => (ms / 1000).toFixed(3);
  const total = report.results.reduce((s, r) => s + r.durationMs, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="pushgate policy test" tests="${report.results.length}" failures="${report.failed}" time="${seconds(total)}">`,
    `  <testsuite name="${xml(report.file)}" tests="${report.results.length}" failures="${report.failed}" errors="0" skipped="0" time="${seconds(total)}">`,
  ];
  for (const r of report.results) {
    const open = `    <testcase classname="${xml(report.file)}" name="${xml(r.name)}" time="${seconds(r.durationMs)}"`;
    if (r.passed) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`, `      <failure message="${xml(r.problems[0] ?? 'failed')}">${xml(r.problems.join('\n'))}</failure>`, '    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
