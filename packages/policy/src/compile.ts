/**
 * A policy ready to judge pushes: every glob and pattern compiled once, when the configuration is
 * loaded, so that judging a push only runs them. Patterns from configuration run on RE2 (re2js),
 * whose matching time is linear in the input whatever the pattern, and their input is bounded
 * (MAX_PATTERN_INPUT), so no commit message or email can make a rule slow.
 */
import { RE2JS } from 're2js';
import { PolicyConfigSchema, describePolicyIssue, type PolicyConditions, type PolicyConfig, type PolicyConfigInput, type PolicyRule } from './config';
import { PolicyConfigError } from './errors';
import { compileNameGlob, type NameGlob } from './globs';
import { compileGlob, createSecretScanner, type PathGlob, type SecretScanner } from './secrets/index';
import type { Approvers } from './types';

/**
 * How much of a text a user pattern reads: the first 64 KiB. A commit message longer than that is
 * judged on its beginning (where trailers such as `Signed-off-by` are not, but subjects and
 * tickets are); RE2 is linear, so this bounds the cost of a rule per commit, not its correctness.
 */
export const MAX_PATTERN_INPUT = 64 * 1024;

/** Compiled `require`/`forbid` patterns. */
export interface CompiledMatch {
  readonly require: readonly CompiledPattern[];
  readonly forbid: readonly CompiledPattern[];
}

/** A user pattern and its compiled form. */
export interface CompiledPattern {
  readonly source: string;
  test(text: string): boolean;
}

/** Who a rule's actors or exemption name. */
export interface CompiledActors {
  readonly subjects?: readonly NameGlob[];
  readonly emails?: readonly NameGlob[];
  readonly groups?: ReadonlySet<string>;
  readonly agent?: boolean;
}

/** One rule, compiled (rules in mode `off` are not compiled at all). */
export interface CompiledRule {
  readonly id: string;
  readonly mode: 'enforce' | 'evaluate';
  readonly action: PolicyRule['action'];
  readonly approvers?: Approvers;
  readonly repos?: readonly NameGlob[];
  readonly refs?: readonly NameGlob[];
  readonly pushOptions?: readonly NameGlob[];
  readonly paths?: readonly PathGlob[];
  readonly actors?: CompiledActors;
  readonly except?: CompiledActors;
  readonly when: PolicyConditions;
  readonly authorEmail?: CompiledMatch;
  readonly committerEmail?: CompiledMatch;
  readonly message?: CompiledMatch;
  /** Lowercase, without the leading dot. */
  readonly extensions?: ReadonlySet<string>;
}

/** A policy compiled for judging pushes; build it once with compilePolicy. */
export class CompiledPolicy {
  /** The rules that take part (mode enforce or evaluate), in configuration order. */
  readonly rules: readonly CompiledRule[];
  /** Whether some rule reads content findings, so that scanContent has work to do. */
  readonly needs: { readonly secrets: boolean; readonly unscannable: boolean; readonly secretFiles: boolean };
  /** The secret scanner's `allow.paths`, applied per site by scanContent (the scanner sees blobs, not paths). */
  readonly allowPaths: readonly PathGlob[];
  private scannerInstance: SecretScanner | undefined;

  constructor(readonly config: PolicyConfig) {
    this.rules = config.rules.flatMap((r) => (r.mode === 'off' ? [] : [compileRule(r, r.mode)]));
    this.needs = {
      secrets: this.rules.some((r) => r.when.secrets === true),
      unscannable: this.rules.some((r) => r.when.unscannable !== undefined && r.when.unscannable !== false),
      secretFiles: this.rules.some((r) => r.when.secretFiles === true),
    };
    this.allowPaths = (config.secrets?.allow?.paths ?? []).map((g) => compileGlob(g));
  }

  /** The secret scanner of the policy's `secrets` settings, built on first use. */
  scanner(): SecretScanner {
    this.scannerInstance ??= createSecretScanner(this.config.secrets ?? {});
    return this.scannerInstance;
  }
}

const compiledByConfig = new WeakMap<object, CompiledPolicy>();

/**
 * Compiles a `policy:` section (parsed or as written). An invalid one throws PolicyConfigError,
 * naming every problem by rule id and key: a policy that cannot be compiled must stop the gateway
 * from starting, never let pushes through unjudged.
 */
export function compilePolicy(config: PolicyConfigInput | PolicyConfig): CompiledPolicy {
  const cached = compiledByConfig.get(config);
  if (cached !== undefined) return cached;
  const parsed = PolicyConfigSchema.safeParse(config);
  if (!parsed.success) throw new PolicyConfigError(parsed.error.issues.map((i) => describePolicyIssue(i.path, config, i.message)));
  const compiled = new CompiledPolicy(parsed.data);
  compiledByConfig.set(config, compiled);
  return compiled;
}

/** The compiled form of `policy`, compiling (once per configuration object) when it is a configuration. */
export function asCompiled(policy: PolicyConfigInput | PolicyConfig | CompiledPolicy): CompiledPolicy {
  return policy instanceof CompiledPolicy ? policy : compilePolicy(policy);
}

function compileRule(rule: PolicyRule, mode: 'enforce' | 'evaluate'): CompiledRule {
  const when = rule.when ?? {};
  return {
    id: rule.id,
    mode,
    action: rule.action,
    ...(rule.approvers ? { approvers: { groups: [...rule.approvers.groups], count: rule.approvers.count } } : {}),
    ...(rule.repos ? { repos: rule.repos.map((g) => compileNameGlob(g, 'segmented')) } : {}),
    ...(rule.refs ? { refs: rule.refs.map((g) => compileNameGlob(g, 'segmented')) } : {}),
    ...(rule.pushOptions ? { pushOptions: rule.pushOptions.map((g) => compileNameGlob(g, 'flat')) } : {}),
    ...(rule.paths ? { paths: rule.paths.map(compilePathGlob) } : {}),
    ...(rule.actors ? { actors: compileActors(rule.actors) } : {}),
    ...(rule.except ? { except: compileActors(rule.except) } : {}),
    when,
    ...(when.authorEmail ? { authorEmail: compileMatch(when.authorEmail, true) } : {}),
    ...(when.committerEmail ? { committerEmail: compileMatch(when.committerEmail, true) } : {}),
    ...(when.message ? { message: compileMatch(when.message, false) } : {}),
    ...(when.extensions ? { extensions: new Set(when.extensions.map((e) => e.replace(/^\*?\./, '').toLowerCase())) } : {}),
  };
}

/** Compiles a rule's path glob (gitignore-style, as compileGlob reads it) with a cheap literal pre-check. */
export function compilePathGlob(glob: string): PathGlob {
  return withLiteralCheck(compileGlob(glob, 'paths'));
}

/** Characters that start something other than a literal in a path glob. */
const GLOB_SPECIAL = /[*?[\]{}]/;

/**
 * A path glob that first checks its literal prefix and suffix with string comparisons: most paths
 * of a large push fail those, and RE2 (linear, but a few microseconds a call) then runs only on the
 * few that might match. Both checks are necessary conditions of the glob as compileGlob reads it:
 * a glob with `/` is anchored at the path's start (its leading `/` optional), every glob at its end.
 */
function withLiteralCheck(g: PathGlob): PathGlob {
  const glob = g.glob;
  const first = glob.search(GLOB_SPECIAL);
  const prefix = glob.includes('/') ? (first < 0 ? glob : glob.slice(0, first)).replace(/^\//, '') : '';
  let last = -1;
  for (let i = glob.length - 1; i >= 0; i--) {
    if (GLOB_SPECIAL.test(glob[i])) {
      last = i;
      break;
    }
  }
  const suffix = last < 0 ? glob.replace(/^\//, '') : glob.slice(last + 1);
  if (prefix === '' && suffix === '') return g;
  return { glob, matches: (path) => path.startsWith(prefix) && path.endsWith(suffix) && g.matches(path) };
}

function compileActors(a: { subjects?: string[]; emails?: string[]; groups?: string[]; agent?: boolean }): CompiledActors {
  return {
    ...(a.subjects ? { subjects: a.subjects.map((g) => compileNameGlob(g, 'flat')) } : {}),
    ...(a.emails ? { emails: a.emails.map((g) => compileNameGlob(g, 'flat', true)) } : {}),
    ...(a.groups ? { groups: new Set(a.groups) } : {}),
    ...(a.agent !== undefined ? { agent: a.agent } : {}),
  };
}

/** Email patterns ignore case (mail domains do); message patterns are as written (`(?i)` to ignore case). */
function compileMatch(m: { require?: string | string[]; forbid?: string | string[] }, caseInsensitive: boolean): CompiledMatch {
  const list = (p: string | string[] | undefined): CompiledPattern[] => (p === undefined ? [] : typeof p === 'string' ? [p] : p).map((s) => compilePattern(s, caseInsensitive));
  return { require: list(m.require), forbid: list(m.forbid) };
}

/** Compiles a user pattern on RE2; its input is cut to MAX_PATTERN_INPUT characters. */
export function compilePattern(source: string, caseInsensitive = false): CompiledPattern {
  const re = RE2JS.compile(source, caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  return { source, test: (text) => re.test(text.length > MAX_PATTERN_INPUT ? text.slice(0, MAX_PATTERN_INPUT) : text) };
}
