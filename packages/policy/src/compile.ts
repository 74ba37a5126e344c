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
  readonly paths?: readonly RulePathGlob[];
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

/**
 * A rule's path glob. `mayMatch` is a necessary condition of `matches` made of string comparisons
 * only (a literal prefix, suffix and inner text), for a path as git writes it (never with a leading
 * `/`): most paths of a large push fail it, and RE2 (linear, but a few microseconds a call) runs
 * only on the few that pass.
 */
export interface RulePathGlob extends PathGlob {
  mayMatch(path: string): boolean;
}

/** Compiles a rule's path glob (gitignore-style, as compileGlob reads it) with a cheap literal pre-check. */
export function compilePathGlob(glob: string): RulePathGlob {
  const g = compileGlob(glob, 'paths');
  const { prefix, suffixes, inner } = literalParts(glob);
  const mayMatch = (path: string): boolean => {
    if (!path.startsWith(prefix)) return false;
    if (suffixes.length > 0 && !suffixes.some((s) => path.endsWith(s))) return false;
    for (const t of inner) if (!path.includes(t)) return false;
    return true;
  };
  return { glob, mayMatch, matches: (path) => mayMatch(path) && g.matches(path) };
}

/** A glob read as globSource reads it: literal text, a wildcard, or a `{…}` group (its alternatives when they are all literal). */
type GlobToken = { readonly kind: 'literal'; readonly text: string } | { readonly kind: 'wildcard' } | { readonly kind: 'group'; readonly literals?: readonly string[] };

/** Characters that make a `{…}` alternative more than literal text. */
const GLOB_SPECIAL = /[*?[\]{}]/;

/** A glob's tokens, in order (the glob compiles: compileGlob has checked every `[` and `{` closes). */
function globTokens(glob: string): GlobToken[] {
  const tokens: GlobToken[] = [];
  let text = '';
  const flush = (next: GlobToken): void => {
    if (text !== '') tokens.push({ kind: 'literal', text });
    text = '';
    tokens.push(next);
  };
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      // `**/` also matches no directory at all: its slash is not required.
      if (glob[i + 1] === '*') i += glob[i + 2] === '/' ? 2 : 1;
      flush({ kind: 'wildcard' });
    } else if (c === '?') flush({ kind: 'wildcard' });
    else if (c === '[') {
      i = glob.indexOf(']', i + 1);
      flush({ kind: 'wildcard' });
    } else if (c === '{') {
      const close = groupEnd(glob, i);
      const body = glob.slice(i + 1, close);
      flush(GLOB_SPECIAL.test(body) ? { kind: 'group' } : { kind: 'group', literals: body.split(',') });
      i = close;
    } else text += c; // `}` and `,` outside a group are literal, as globSource reads them
  }
  if (text !== '') tokens.push({ kind: 'literal', text });
  return tokens;
}

/** The index of the `}` closing the group opened at `open` (classes skipped, groups nested, as globSource reads them). */
function groupEnd(glob: string, open: number): number {
  let depth = 0;
  for (let i = open; i < glob.length; i++) {
    if (glob[i] === '[') i = glob.indexOf(']', i + 1);
    else if (glob[i] === '{') depth++;
    else if (glob[i] === '}' && --depth === 0) return i;
  }
  return glob.length; // unclosed: compileGlob has refused the glob already
}

/**
 * The literal text every path a glob matches holds: `prefix` at its start (a glob with `/` is
 * anchored there, its leading `/` left out), one of `suffixes` at its end (every glob is anchored
 * there; several when it ends in a group of literal alternatives, none when it ends in a
 * wildcard), and each of `inner` somewhere.
 */
export function literalParts(glob: string): { prefix: string; suffixes: string[]; inner: string[] } {
  const anchored = glob.includes('/');
  // A leading `/` anchors the glob at the root (gitignore): it is no text a path must hold.
  const tokens = globTokens(anchored ? glob.replace(/^\//, '') : glob);
  const first = tokens[0];
  const last = tokens[tokens.length - 1];
  const prefix = anchored && first?.kind === 'literal' ? first.text : '';
  let suffixes: string[] = [];
  if (last?.kind === 'literal') suffixes = [last.text];
  else if (last?.kind === 'group' && last.literals !== undefined) {
    const before = tokens[tokens.length - 2];
    const lead = before?.kind === 'literal' ? before.text : '';
    suffixes = last.literals.map((l) => lead + l);
  }
  const inner = tokens.flatMap((t) => (t.kind === 'literal' && !(t === first && prefix !== '') && t !== last ? [t.text] : []));
  return { prefix, suffixes, inner };
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
