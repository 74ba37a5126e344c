/**
 * evaluate: the decision about one push, from its change set, the pusher's identity and what the
 * content scan found. Pure and synchronous: no I/O, no clock, so the same input always gets the
 * same decision (what `pushgate policy test` relies on).
 *
 * A rule is judged per ref: the rule's scopes (repos, actors, push options) select the push, `refs`
 * selects refs, `paths` selects refs whose changes touch a matching path, and every condition of
 * `when` must find something on the ref. What the conditions found becomes the rule's reasons.
 * Outcome: deny if an enforced, non-exempt reason denies; else hold if one holds; else allow.
 */
import type { CommitChange, FileChange, FileChangeList, FileSummary, RefChange } from '@pushgate/changes';
import type { Identity, Oid } from '@pushgate/core';
import { asCompiled, type CompiledActors, type CompiledMatch, type CompiledPolicy, type CompiledRule, type RulePathGlob } from './compile';
import type { ConditionName, PolicyConditions, PolicyConfig, PolicyConfigInput } from './config';
import { secretLookingPath } from './secrets/index';
import type { Approvers, Decision, PolicyInput, Reason, ReasonSource } from './types';

/**
 * Reasons one rule gives at most; the rest are counted in one last reason. A push of ten thousand
 * files under a protected path needs no ten thousand lines to be refused, and the audit record and
 * the pusher's terminal must stay bounded.
 */
export const MAX_REASONS_PER_RULE = 50;

/** Characters of a commit subject quoted in a reason. */
const SUBJECT_CHARS = 60;

/** Something a rule found, before it becomes a Reason. */
interface Finding {
  readonly condition: ReasonSource;
  readonly message: string;
  readonly ref?: string;
  readonly commit?: Oid;
  readonly path?: string;
  readonly line?: number;
  readonly finding?: string;
}

/** What a rule sees of one ref. */
interface RefContext {
  readonly ref: RefChange;
  /** Every new commit the ref brings. */
  readonly commits: ReadonlySet<Oid>;
  /** The commits the rule looks at: those touching its paths, or all of them. */
  readonly scoped: readonly CommitChange[];
  /** The file changes of a scoped commit the rule looks at. */
  files(commit: CommitChange): readonly FileFacts[];
  /** Whether a path is within the rule's paths (every path when it has none). */
  inScope(path: string): boolean;
  /** What the rule's paths matched (empty when it has none), described on the first call: only a rule without conditions reports it. */
  pathHits(): readonly Finding[];
  /** Whether the rule's paths matched anything (false when it has none). */
  readonly pathsMatched: boolean;
  /** Paths of the ref's net change within scope (made on first call: only filesOver reads them). */
  netPaths(): readonly string[];
}

/** Judges a push: every matching rule reported, the most restrictive enforced outcome deciding. */
export function evaluate(input: PolicyInput, policy: PolicyConfigInput | PolicyConfig | CompiledPolicy): Decision {
  const compiled = asCompiled(policy);
  const repo = repoName(input.upstream, input.repo);
  const push = pushIndex(input);
  const reasons: Reason[] = [];
  for (const rule of compiled.rules) reasons.push(...judgeRule(rule, input, push, repo));
  return decide(reasons);
}

/**
 * What every rule reads of the push, made once per evaluation and shared by the rules: the facts
 * of each file change, each ref's new commits, and the answers about paths. A large push changes
 * the same paths in commit after commit (libgit2's history: 78,486 file changes of ~20,000
 * distinct paths), so each distinct path is matched once per rule's `paths`, not once per change.
 */
interface PushIndex {
  files(commit: CommitChange): readonly FileFacts[];
  net(ref: RefChange): readonly FileFacts[];
  /** The new commits a ref brings, in its order, and their ids. */
  own(ref: RefChange): readonly CommitChange[];
  ownIds(ref: RefChange): ReadonlySet<Oid>;
  /** Both sides' paths of the ref's net change (the scope of a rule without paths). */
  netPaths(ref: RefChange): readonly string[];
  /** Whether a path is within a rule's paths (RE2 asked at most once per distinct path). */
  inScope(paths: readonly RulePathGlob[]): (path: string) => boolean;
}

function pushIndex(input: PolicyInput): PushIndex {
  const commits = new Map(input.changeSet.commits.map((c) => [c.oid, c]));
  const own = memo((r: RefChange) => (r.kind === 'delete' ? [] : r.commits.flatMap((oid) => commits.get(oid) ?? [])));
  const net = memo((r: RefChange) => factsOf(netList(r)));
  return {
    files: memo((c: CommitChange) => factsOf(c.files)),
    net,
    own,
    ownIds: memo((r: RefChange) => new Set(own(r).map((c) => c.oid))),
    netPaths: memo((r: RefChange) => net(r).flatMap((f) => sidePaths(f))),
    inScope: memo((paths: readonly RulePathGlob[]) => {
      const matches = cached((path: string) => paths.some((g) => g.matches(path)));
      // The literal checks settle most paths for less than a lookup would cost.
      return (path: string) => {
        for (const g of paths) if (g.mayMatch(path)) return matches(path);
        return false;
      };
    }),
  };
}

/**
 * What the rules read of one file change: its summary (status, paths, new size, whether the
 * content changed), read from the change set's columns without making the FileChange, which is
 * made (`FileChangeList.at(index)`) only for a change a reason describes.
 */
type FileFacts = FileSummary;

function factsOf(list: FileChangeList | undefined): FileFacts[] {
  return list === undefined ? [] : list.summaries();
}

/** The net change's file list of a ref, when it has one. */
function netList(ref: RefChange): FileChangeList | undefined {
  return ref.kind !== 'delete' && ref.net.kind === 'files' ? ref.net.files : undefined;
}

/** `answer` remembering its answer for each string it was asked about. */
function cached<V>(answer: (key: string) => V): (key: string) => V {
  const known = new Map<string, V>();
  return (key) => {
    const hit = known.get(key);
    if (hit !== undefined || known.has(key)) return hit as V;
    const v = answer(key);
    known.set(key, v);
    return v;
  };
}

function memo<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const cache = new WeakMap<K, V>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) {
      v = make(key);
      cache.set(key, v);
    }
    return v;
  };
}

/** `<upstream>/<repo path>`, without a leading `/` or a trailing `.git`: what `repos` globs match. */
export function repoName(upstream: string, repo: string): string {
  return `${upstream}/${repo.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.git$/, '')}`;
}

/** The decision its reasons make: deny > hold > allow, counting only enforced, non-exempt reasons. */
export function decide(reasons: readonly Reason[]): Decision {
  const deciding = reasons.filter((r) => r.mode === 'enforce' && r.exempt !== true);
  if (deciding.some((r) => r.outcome === 'deny')) return { kind: 'deny', reasons };
  const holding = deciding.filter((r) => r.outcome === 'hold');
  if (holding.length === 0) return { kind: 'allow', reasons };
  const byRule = new Map<string, Approvers>();
  for (const r of holding) if (r.approvers !== undefined && !byRule.has(r.rule)) byRule.set(r.rule, r.approvers);
  return { kind: 'hold', reasons, approvers: [...byRule.values()] };
}

function judgeRule(rule: CompiledRule, input: PolicyInput, push: PushIndex, repo: string): Reason[] {
  if (rule.repos && !rule.repos.some((g) => g.matches(repo))) return [];
  if (rule.actors && !actorMatches(rule.actors, input.identity)) return [];
  if (rule.pushOptions && !input.pushOptions.some((o) => rule.pushOptions?.some((g) => g.matches(o) || g.matches(optionKey(o))))) return [];
  const exempt = rule.except !== undefined && exemptionMatches(rule.except, input.identity);

  const found: Finding[] = [];
  const seen = new Set<string>();
  for (const ref of input.changeSet.refs) {
    if (rule.refs && !rule.refs.some((g) => g.matches(ref.ref))) continue;
    // A condition about the ref alone (forcePush, deletion, creation, tag) that fails spares the walk over its changes.
    if (REF_CONDITIONS.some((name) => refCondition(name, rule.when, ref)?.length === 0)) continue;
    const ctx = refContext(rule, ref, push);
    if (rule.paths && !ctx.pathsMatched) continue;
    const findings = conditionsOf(rule, ctx, input);
    if (findings === undefined) continue;
    for (const f of findings) {
      // A commit several refs bring is reported once, under the first of them.
      const key = f.commit === undefined ? `${f.ref}\0${f.condition}\0${f.message}` : `${f.condition}\0${f.commit}\0${f.path}\0${f.line}\0${f.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      found.push(f);
    }
  }
  const kept = found.length > MAX_REASONS_PER_RULE ? found.slice(0, MAX_REASONS_PER_RULE - 1) : found;
  const reasons = kept.map((f) => toReason(rule, f, exempt));
  if (kept.length < found.length) {
    const more = found.length - kept.length;
    reasons.push(toReason(rule, { condition: 'truncated', message: `and ${more} more ${more === 1 ? 'finding' : 'findings'} of this rule` }, exempt));
  }
  return reasons;
}

function toReason(rule: CompiledRule, f: Finding, exempt: boolean): Reason {
  return {
    rule: rule.id,
    mode: rule.mode,
    outcome: rule.action,
    message: f.message,
    ...(exempt ? { exempt: true } : {}),
    ...(f.ref !== undefined ? { ref: f.ref } : {}),
    ...(f.commit !== undefined ? { commit: f.commit } : {}),
    ...(f.path !== undefined ? { path: f.path } : {}),
    ...(f.line !== undefined ? { line: f.line } : {}),
    ...(f.finding !== undefined ? { finding: f.finding } : {}),
    ...(rule.approvers !== undefined ? { approvers: rule.approvers } : {}),
    condition: f.condition,
  };
}

function optionKey(option: string): string {
  const eq = option.indexOf('=');
  return eq < 0 ? option : option.slice(0, eq);
}

/** All given fields must match; within a list, any entry. */
function actorMatches(a: CompiledActors, id: Identity): boolean {
  if (a.subjects && !a.subjects.some((g) => g.matches(id.sub))) return false;
  if (a.emails && (id.email === undefined || !a.emails.some((g) => g.matches(id.email ?? '')))) return false;
  if (a.groups && !id.groups.some((g) => a.groups?.has(g))) return false;
  if (a.agent !== undefined && a.agent !== id.agent) return false;
  return true;
}

/** Any listed subject, email or group exempts. */
function exemptionMatches(e: CompiledActors, id: Identity): boolean {
  if (e.subjects?.some((g) => g.matches(id.sub))) return true;
  if (id.email !== undefined && e.emails?.some((g) => g.matches(id.email ?? ''))) return true;
  return id.groups.some((g) => e.groups?.has(g) === true);
}

function refContext(rule: CompiledRule, ref: RefChange, push: PushIndex): RefContext {
  const own = push.own(ref);
  const paths = rule.paths;
  if (paths === undefined) {
    return {
      ref,
      commits: push.ownIds(ref),
      scoped: own,
      files: push.files,
      inScope: () => true,
      pathHits: () => [],
      pathsMatched: false,
      netPaths: () => push.netPaths(ref),
    };
  }
  const inScope = push.inScope(paths);
  const filesByCommit = new Map<Oid, readonly FileFacts[]>();
  // Each hit is described only if the rule reports it: a broad glob matches thousands of changes.
  const hits: (() => Finding)[] = [];
  const hitPaths = new Set<string>();
  for (const c of own) {
    // Most commits touch none of the rule's paths: their list is made only once one does.
    let files: FileFacts[] | undefined;
    for (const f of push.files(c)) {
      const path = scopedPath(f, inScope);
      if (path === undefined) continue;
      (files ??= []).push(f);
      hits.push(() => ({ condition: 'paths', ref: ref.ref, commit: c.oid, path, message: describeFileChange(c.files.at(f.index)) }));
      hitPaths.add(path);
    }
    let touched = files !== undefined;
    if (c.merge.kind === 'merge') {
      // A merge's own result (what no parent has) can change a protected path that no commit touched.
      const hitHere = new Set(files?.map((f) => scopedPath(f, inScope)));
      for (const m of c.merge.introduced) {
        if (!inScope(m.path) || hitHere.has(m.path)) continue;
        hits.push(() => ({ condition: 'paths', ref: ref.ref, commit: c.oid, path: m.path, message: `merge result changes ${m.path}` }));
        hitPaths.add(m.path);
        touched = true;
      }
    }
    if (touched) filesByCommit.set(c.oid, files ?? []);
  }
  // The net change catches what no new commit shows: a force-push back to an older commit.
  const netPaths: string[] = [];
  const netChanges = netList(ref);
  if (netChanges !== undefined) {
    for (const f of push.net(ref)) {
      const path = scopedPath(f, inScope);
      if (path === undefined) continue;
      netPaths.push(path);
      if (hitPaths.has(path)) continue;
      hits.push(() => ({ condition: 'paths', ref: ref.ref, path, message: `${ref.ref} ${describeFileChange(netChanges.at(f.index))} (compared with its old value)` }));
    }
  }
  return {
    ref,
    commits: push.ownIds(ref),
    scoped: own.filter((c) => filesByCommit.has(c.oid)),
    files: (c) => filesByCommit.get(c.oid) ?? [],
    inScope,
    pathHits: () => hits.map((hit) => hit()),
    pathsMatched: hits.length > 0,
    netPaths: () => netPaths,
  };
}

/** The first of a change's paths (the new side's, then a rename's old one) within scope, if any. */
function scopedPath(f: FileFacts, inScope: (path: string) => boolean): string | undefined {
  if (inScope(f.path)) return f.path;
  return f.renamedFrom !== undefined && inScope(f.renamedFrom) ? f.renamedFrom : undefined;
}

/** The paths of both sides of a change (one for added, deleted, modified and type-changed). */
function sidePaths(f: FileFacts): string[] {
  return f.renamedFrom === undefined ? [f.path] : [f.path, f.renamedFrom];
}

const KIND_WORDS = { regular: 'a regular file', executable: 'an executable file', symlink: 'a symlink', submodule: 'a submodule' } as const;

/** A file change in words: `adds a/b`, `renames a to b`, `turns a into a symlink`. */
export function describeFileChange(f: FileChange): string {
  switch (f.status) {
    case 'added':
      return f.new.kind === 'regular' ? `adds ${f.new.path}` : `adds ${f.new.path} (${KIND_WORDS[f.new.kind]})`;
    case 'deleted':
      return `deletes ${f.old.path}`;
    case 'modified':
      if (f.old.mode !== f.new.mode) return `changes the mode of ${f.new.path} (${f.old.mode} → ${f.new.mode})`;
      return `modifies ${f.new.path}`;
    case 'renamed':
      return `renames ${f.old.path} to ${f.new.path}`;
    case 'type-changed':
      return `turns ${f.new.path} into ${KIND_WORDS[f.new.kind]}`;
    default:
      return unreachable(f);
  }
}

/** Every given condition's findings, or undefined when one of them finds nothing. */
function conditionsOf(rule: CompiledRule, ctx: RefContext, input: PolicyInput): Finding[] | undefined {
  const out: Finding[] = [];
  let any = false;
  for (const name of Object.keys(rule.when) as ConditionName[]) {
    const found = condition(name, rule, ctx, input);
    if (found === undefined) continue;
    if (found.length === 0) return undefined;
    any = true;
    out.push(...found);
  }
  if (any) return out;
  // No condition: the scopes alone decide, and say what they matched.
  if (rule.paths) return [...ctx.pathHits()];
  return [{ condition: 'scope', ref: ctx.ref.ref, message: `${describeRefChange(ctx.ref)} (matches the rule's scope)` }];
}

/** A ref update in words. */
export function describeRefChange(ref: RefChange): string {
  switch (ref.kind) {
    case 'create':
      return `creates ${ref.ref}`;
    case 'delete':
      return `deletes ${ref.ref}`;
    case 'update':
      return ref.fastForward ? `updates ${ref.ref}` : `force-pushes ${ref.ref}`;
    default:
      return unreachable(ref);
  }
}

/** The conditions that read only the ref update, never its commits. */
const REF_CONDITIONS = ['forcePush', 'deletion', 'creation', 'tag'] as const;

/** A ref-only condition's findings; undefined when the condition is not set (absent or false). */
function refCondition(name: (typeof REF_CONDITIONS)[number], w: PolicyConditions, ref: RefChange): Finding[] | undefined {
  const at = { ref: ref.ref };
  switch (name) {
    case 'forcePush':
      if (w.forcePush !== true) return undefined;
      return ref.kind === 'update' && !ref.fastForward ? [{ condition: name, ...at, message: `force-push to ${ref.ref} (${short(ref.oldOid)} is not an ancestor of ${short(ref.newOid)})` }] : [];
    case 'deletion':
      if (w.deletion !== true) return undefined;
      return ref.kind === 'delete' ? [{ condition: name, ...at, message: `deletes ${ref.ref}` }] : [];
    case 'creation':
      if (w.creation !== true) return undefined;
      return ref.kind === 'create' ? [{ condition: name, ...at, message: `creates ${ref.ref} at ${short(ref.newOid)}` }] : [];
    case 'tag': {
      if (w.tag === undefined || w.tag === false) return undefined;
      if (ref.category !== 'tag') return [];
      const change = ref.kind === 'update' ? 'move' : ref.kind;
      if (w.tag !== true && !w.tag.includes(change)) return [];
      const words = { create: 'creates tag', move: 'moves tag', delete: 'deletes tag' } as const;
      const name_ = ref.ref.replace(/^refs\/tags\//, '');
      return [{ condition: name, ...at, message: `${words[change]} ${name_}${change === 'move' ? ' (overwrites an existing tag)' : ''}` }];
    }
    default:
      return unreachable(name);
  }
}

/** One condition's findings on a ref; undefined when the condition is not set (absent or false). */
function condition(name: ConditionName, rule: CompiledRule, ctx: RefContext, input: PolicyInput): Finding[] | undefined {
  const w = rule.when;
  const ref = ctx.ref;
  const at = { ref: ref.ref };
  switch (name) {
    case 'forcePush':
    case 'deletion':
    case 'creation':
    case 'tag':
      return refCondition(name, w, ref);
    case 'secrets':
      if (w.secrets !== true) return undefined;
      return input.content.secrets
        .filter((s) => ctx.commits.has(s.commit) && ctx.inScope(s.path))
        .map((s) => ({ condition: name, ...at, commit: s.commit, path: s.path, line: s.line, finding: `${s.detector} ${s.masked}`, message: `secret (${s.detector}) ${s.masked}` }));
    case 'secretFiles': {
      if (w.secretFiles !== true) return undefined;
      const out: Finding[] = [];
      eachFile(ctx, (c, f) => {
        if (f.status !== 'added' && f.status !== 'renamed') return;
        const looks = secretLookingPath(f.path);
        if (looks !== undefined) out.push({ condition: name, ...at, commit: c.oid, path: f.path, finding: looks.rule, message: `${f.status === 'added' ? 'adds' : 'renames into'} ${f.path}, a file name that holds credentials (${looks.rule})` });
      });
      // Files whose content makes them credential files (`.npmrc` with a token), found by scanContent.
      for (const h of input.content.secretFiles ?? []) {
        if (ctx.commits.has(h.commit) && ctx.inScope(h.path)) out.push({ condition: name, ...at, commit: h.commit, path: h.path, finding: h.rule, message: `${h.path} holds credentials (${h.rule})` });
      }
      return out;
    }
    case 'authorEmail':
      return rule.authorEmail && emailFindings(name, rule.authorEmail, ctx, 'author');
    case 'committerEmail':
      return rule.committerEmail && emailFindings(name, rule.committerEmail, ctx, 'committer');
    case 'notPusher': {
      if (w.notPusher !== true) return undefined;
      const pusher = input.identity.email?.trim().toLowerCase();
      if (ctx.scoped.length === 0) return [];
      if (pusher === undefined || pusher === '') return [{ condition: name, ...at, message: 'your identity has no email, so commits cannot be matched to you' }];
      const out: Finding[] = [];
      for (const c of ctx.scoped) {
        for (const role of ['author', 'committer'] as const) {
          const email = c[role].email.trim().toLowerCase();
          if (email !== pusher) out.push({ condition: name, ...at, commit: c.oid, message: `${role} ${c[role].email} is not the pusher (${input.identity.email ?? ''})` });
        }
      }
      return out;
    }
    case 'message': {
      const m = rule.message;
      if (m === undefined) return undefined;
      const out: Finding[] = [];
      for (const c of ctx.scoped) {
        const problem = matchProblem(m, c.message);
        if (problem !== undefined) out.push({ condition: name, ...at, commit: c.oid, message: `commit message "${subject(c.message)}" ${problem}` });
      }
      return out;
    }
    case 'fileSizeOver': {
      const limit = w.fileSizeOver;
      if (limit === undefined) return undefined;
      const out: Finding[] = [];
      eachFile(ctx, (c, f) => {
        if (f.size === undefined || f.size <= limit || f.sameObject) return;
        out.push({ condition: name, ...at, commit: c.oid, path: f.path, message: `${f.path} is ${formatBytes(f.size)} (over the ${formatBytes(limit)} limit)` });
      });
      return out;
    }
    case 'extensions': {
      const exts = rule.extensions;
      if (exts === undefined) return undefined;
      const out: Finding[] = [];
      eachFile(ctx, (c, f) => {
        if (f.status === 'deleted' || (f.status === 'modified' && f.sameObject)) return;
        const lower = f.path.toLowerCase();
        const ext = [...exts].find((e) => lower.endsWith(`.${e}`));
        if (ext !== undefined) out.push({ condition: name, ...at, commit: c.oid, path: f.path, message: `${f.status === 'added' ? 'adds' : 'changes'} ${f.path} (.${ext} files are not allowed here)` });
      });
      return out;
    }
    case 'pathLengthOver': {
      const limit = w.pathLengthOver;
      if (limit === undefined) return undefined;
      const out: Finding[] = [];
      eachFile(ctx, (c, f) => {
        if (f.status !== 'added' && f.status !== 'renamed') return;
        const bytes = Buffer.byteLength(f.path);
        if (bytes > limit) out.push({ condition: name, ...at, commit: c.oid, path: f.path, message: `path is ${bytes} bytes long (over ${limit})` });
      });
      return out;
    }
    case 'merges':
      if (w.merges !== true) return undefined;
      return ctx.scoped.filter((c) => c.merge.kind === 'merge').map((c) => ({ condition: name, ...at, commit: c.oid, message: `merge commit "${subject(c.message)}"` }));
    case 'unsigned':
      if (w.unsigned !== true) return undefined;
      return ctx.scoped.filter((c) => c.signature.kind === 'unsigned').map((c) => ({ condition: name, ...at, commit: c.oid, message: `commit "${subject(c.message)}" is not signed` }));
    case 'commitsOver': {
      const limit = w.commitsOver;
      if (limit === undefined) return undefined;
      const n = ctx.scoped.length;
      return n > limit ? [{ condition: name, ...at, message: `${ref.ref} brings ${n} new commits (over ${limit})` }] : [];
    }
    case 'filesOver': {
      const limit = w.filesOver;
      if (limit === undefined) return undefined;
      const paths = new Set<string>(ctx.netPaths().filter(ctx.inScope));
      eachFile(ctx, (_c, f) => {
        for (const p of sidePaths(f)) if (ctx.inScope(p)) paths.add(p);
      });
      return paths.size > limit ? [{ condition: name, ...at, message: `${ref.ref} changes ${paths.size} files (over ${limit})` }] : [];
    }
    case 'unscannable': {
      const u = w.unscannable;
      if (u === undefined || u === false) return undefined;
      return input.content.unscanned
        .filter((x) => ctx.commits.has(x.commit) && ctx.inScope(x.path) && (u === true || u.includes(x.reason)))
        .map((x) => ({ condition: name, ...at, commit: x.commit, path: x.path, finding: x.reason, message: `${x.path} could not be scanned for secrets (${x.reason}: ${x.detail})` }));
    }
    default:
      return unreachable(name);
  }
}

/** Calls `visit` for each file change the rule looks at, in commit order. */
function eachFile(ctx: RefContext, visit: (c: CommitChange, f: FileFacts) => void): void {
  for (const c of ctx.scoped) for (const f of ctx.files(c)) visit(c, f);
}

function emailFindings(name: 'authorEmail' | 'committerEmail', m: CompiledMatch, ctx: RefContext, role: 'author' | 'committer'): Finding[] {
  const out: Finding[] = [];
  for (const c of ctx.scoped) {
    const problem = matchProblem(m, c[role].email);
    if (problem !== undefined) out.push({ condition: name, ref: ctx.ref.ref, commit: c.oid, message: `${role} email ${c[role].email} ${problem}` });
  }
  return out;
}

/** Why `text` breaks a require/forbid pair, or undefined when it does not. */
function matchProblem(m: CompiledMatch, text: string): string | undefined {
  if (m.require.length > 0 && !m.require.some((p) => p.test(text))) return `does not match the required pattern ${m.require.map((p) => p.source).join(' or ')}`;
  const forbidden = m.forbid.find((p) => p.test(text));
  if (forbidden !== undefined) return `matches the forbidden pattern ${forbidden.source}`;
  return undefined;
}

function subject(message: string): string {
  const first = message.split('\n', 1)[0].trim();
  return first.length > SUBJECT_CHARS ? `${first.slice(0, SUBJECT_CHARS - 1)}…` : first;
}

function short(oid: string): string {
  return oid.slice(0, 7);
}

/** Bytes in the unit a person reads them in. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
}

function unreachable(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
