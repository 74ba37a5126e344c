/**
 * The `policy:` section of the configuration: the secret scanner's settings and the rules. The
 * gateway's configuration embeds PolicyConfigSchema; unknown keys are errors (a misspelt condition
 * must not silently turn a rule into one that matches every push), and every problem the schema
 * finds beyond its shape (a hold without approvers, an id used twice, a pattern or glob that does
 * not compile, a secrets setting the scanner refuses) is reported at the key concerned with the
 * rule's id in the message. describePolicyIssue names the rule for the shape errors zod reports.
 */
import { z } from 'zod';
import { RE2JS } from 're2js';
import { SecretsConfigError } from './errors';
import { compileGlob, createSecretScanner } from './secrets/index';
import { compileNameGlob, type GlobSegments } from './globs';

/** A rule id: what reasons, audit records and `pushgate policy test` name a rule by. */
const RuleId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a rule id is 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit');

const NonEmpty = z.string().min(1, 'must not be empty');
const Globs = z.array(NonEmpty).min(1, 'list at least one glob, or leave the key out');
/** A user regular expression (RE2 syntax; checked to compile by the rule's refinement). */
const Pattern = NonEmpty;
/** One pattern or several (any of them). */
const Patterns = z.union([Pattern, z.array(Pattern).min(1, 'list at least one pattern, or leave the key out')]);
const Count = z.number().int('must be a whole number').nonnegative('must not be negative');

/** Patterns a value must match (`require`, any of them) and must not match (`forbid`, none of them). */
const MatchSchema = z.strictObject({ require: Patterns.optional(), forbid: Patterns.optional() }).refine((m) => m.require !== undefined || m.forbid !== undefined, {
  message: 'give require, forbid or both',
});

/** The kinds of tag change the `tag` condition can name. */
export const TAG_CHANGES = ['create', 'move', 'delete'] as const;
/** Why content could not be scanned, as the `unscannable` condition can name it. */
export const UNSCANNABLE_REASONS = ['binary', 'too-large', 'budget-exhausted'] as const;

/** The conditions of a rule (`when`): all given must hold for the rule to match a ref. */
export const ConditionsSchema = z.strictObject({
  forcePush: z.boolean().optional(),
  deletion: z.boolean().optional(),
  creation: z.boolean().optional(),
  tag: z.union([z.boolean(), z.array(z.enum(TAG_CHANGES)).min(1, 'list create, move or delete')]).optional(),
  secrets: z.boolean().optional(),
  secretFiles: z.boolean().optional(),
  authorEmail: MatchSchema.optional(),
  committerEmail: MatchSchema.optional(),
  notPusher: z.boolean().optional(),
  message: MatchSchema.optional(),
  fileSizeOver: Count.optional(),
  extensions: z.array(NonEmpty).min(1, 'list at least one extension').optional(),
  pathLengthOver: Count.optional(),
  merges: z.boolean().optional(),
  unsigned: z.boolean().optional(),
  commitsOver: Count.optional(),
  filesOver: Count.optional(),
  unscannable: z.union([z.boolean(), z.array(z.enum(UNSCANNABLE_REASONS)).min(1, 'list binary, too-large or budget-exhausted')]).optional(),
});

/** The name of a condition (a key of `when`). */
export type ConditionName = keyof z.infer<typeof ConditionsSchema>;

/** Who a rule applies to: all given must match (each list: any of its entries). */
export const ActorsSchema = z.strictObject({
  subjects: Globs.optional(),
  emails: Globs.optional(),
  groups: z.array(NonEmpty).min(1, 'list at least one group, or leave the key out').optional(),
  agent: z.boolean().optional(),
});

/** Who is exempt from a rule: any match exempts (the match is still reported, marked exempt). */
export const ExceptSchema = z.strictObject({
  subjects: Globs.optional(),
  emails: Globs.optional(),
  groups: z.array(NonEmpty).min(1, 'list at least one group, or leave the key out').optional(),
});

/** Who may approve a held push. */
export const ApproversSchema = z.strictObject({
  groups: z.array(NonEmpty).min(1, 'name at least one group whose members may approve'),
  count: z.number().int('must be a whole number').min(1, 'at least one approval is needed'),
});

/** One rule. */
export const RuleSchema = z
  .strictObject({
    id: RuleId,
    description: z.string().optional(),
    repos: Globs.optional(),
    refs: Globs.optional(),
    actors: ActorsSchema.optional(),
    pushOptions: Globs.optional(),
    paths: Globs.optional(),
    when: ConditionsSchema.optional(),
    action: z.enum(['allow', 'deny', 'hold']),
    approvers: ApproversSchema.optional(),
    mode: z.enum(['enforce', 'evaluate', 'off']).default('enforce'),
    except: ExceptSchema.optional(),
  })
  .superRefine((rule, ctx) => {
    const at = `rule ${JSON.stringify(rule.id)}`;
    if (rule.action === 'hold' && rule.approvers === undefined) {
      ctx.addIssue({ code: 'custom', path: ['approvers'], message: `${at}: action hold needs approvers ({ groups: [...], count: N })` });
    }
    if (rule.action !== 'hold' && rule.approvers !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['approvers'], message: `${at}: approvers apply only to action hold` });
    }
    for (const problem of ruleCompileProblems(rule)) ctx.addIssue({ code: 'custom', path: problem.path, message: `${at}: ${problem.message}` });
  });

/** The secret scanner's settings (see docs/SECRETS.md); passed to createSecretScanner. */
export const SecretsSchema = z.strictObject({
  allow: z
    .strictObject({
      paths: z.array(NonEmpty).optional(),
      patterns: z.array(NonEmpty).optional(),
      fingerprints: z.array(NonEmpty).optional(),
      documentedExamples: z.boolean().optional(),
    })
    .optional(),
  detectors: z
    .array(
      z.strictObject({
        id: NonEmpty,
        description: z.string().optional(),
        pattern: NonEmpty,
        keywords: z.array(NonEmpty).min(1, 'list at least one keyword'),
        secretGroup: z.number().int().nonnegative().optional(),
        entropy: z.number().nonnegative().optional(),
      }),
    )
    .optional(),
  disable: z.array(NonEmpty).optional(),
});

/** The `policy:` section: secret scanner settings and the rules, in order. */
export const PolicyConfigSchema = z
  .strictObject({
    secrets: SecretsSchema.optional(),
    rules: z.array(RuleSchema).default([]),
  })
  .superRefine((policy, ctx) => {
    const first = new Map<string, number>();
    policy.rules.forEach((rule, i) => {
      const earlier = first.get(rule.id);
      if (earlier === undefined) first.set(rule.id, i);
      else ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `rule ${JSON.stringify(rule.id)}: the id is already used by rules[${earlier}]` });
    });
    if (policy.secrets !== undefined) {
      try {
        createSecretScanner(policy.secrets);
      } catch (e) {
        if (!(e instanceof SecretsConfigError)) throw e;
        const setting = e.data?.setting ?? 'secrets';
        ctx.addIssue({ code: 'custom', path: ['secrets', ...setting.split('.')], message: e.message });
      }
    }
  });

/** The policy configuration after parsing (defaults applied). */
export type PolicyConfig = z.output<typeof PolicyConfigSchema>;
/** The policy configuration as written (before defaults). */
export type PolicyConfigInput = z.input<typeof PolicyConfigSchema>;
/** One rule after parsing. */
export type PolicyRule = z.output<typeof RuleSchema>;
/** A rule's conditions after parsing. */
export type PolicyConditions = z.output<typeof ConditionsSchema>;
/** The secret scanner settings after parsing. */
export type PolicySecrets = z.output<typeof SecretsSchema>;

/** Where a pattern or glob of a rule does not compile. */
interface CompileProblem {
  readonly path: (string | number)[];
  readonly message: string;
}

/** The scopes whose globs match whole names, and how their `*` behaves. */
const NAME_GLOB_SCOPES: ReadonlyArray<readonly [key: 'repos' | 'refs' | 'pushOptions', segments: GlobSegments]> = [
  ['repos', 'segmented'],
  ['refs', 'segmented'],
  ['pushOptions', 'flat'],
];

/** Every pattern and glob of `rule` that does not compile (the rule is otherwise well-formed). */
function ruleCompileProblems(rule: PolicyRule): CompileProblem[] {
  const out: CompileProblem[] = [];
  const tryGlob = (path: (string | number)[], compile: () => unknown): void => {
    try {
      compile();
    } catch (e) {
      out.push({ path, message: e instanceof Error ? e.message : String(e) });
    }
  };
  for (const [key, segments] of NAME_GLOB_SCOPES) rule[key]?.forEach((g, i) => tryGlob([key, i], () => compileNameGlob(g, segments)));
  rule.paths?.forEach((g, i) => tryGlob(['paths', i], () => compileGlob(g, 'paths')));
  for (const who of ['actors', 'except'] as const) {
    rule[who]?.subjects?.forEach((g, i) => tryGlob([who, 'subjects', i], () => compileNameGlob(g, 'flat')));
    rule[who]?.emails?.forEach((g, i) => tryGlob([who, 'emails', i], () => compileNameGlob(g, 'flat', true)));
  }
  for (const key of ['authorEmail', 'committerEmail', 'message'] as const) {
    const m = rule.when?.[key];
    if (m === undefined) continue;
    for (const side of ['require', 'forbid'] as const) {
      const list = m[side];
      if (list === undefined) continue;
      const many = Array.isArray(list);
      (typeof list === 'string' ? [list] : list).forEach((p, i) => {
        try {
          RE2JS.compile(p);
        } catch (e) {
          const reason = e instanceof Error ? e.message : String(e);
          out.push({ path: ['when', key, side, ...(many ? [i] : [])], message: `pattern ${JSON.stringify(p)} is not valid RE2: ${reason}` });
        }
      });
    }
  }
  return out;
}

/** The result of parsing a `policy:` section: the configuration, or every problem named by rule. */
export type PolicyConfigResult = { readonly ok: true; readonly config: PolicyConfig } | { readonly ok: false; readonly errors: readonly string[] };

/** Parses a `policy:` section; problems come back as messages naming the rule id and the key, never thrown. */
export function parsePolicyConfig(raw: unknown): PolicyConfigResult {
  const parsed = PolicyConfigSchema.safeParse(raw);
  if (parsed.success) return { ok: true, config: parsed.data };
  return { ok: false, errors: parsed.error.issues.map((issue) => describePolicyIssue(issue.path, raw, issue.message)) };
}

/** Renders a path as configuration keys are written: `rules[3].when.secrets`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * Turns an issue path (`rules[3].when.secrets`, or zod's `['rules', 3, 'when', 'secrets']`, possibly
 * under a prefix such as `policy`) into words naming the rule: `rule "secrets" (rules[3]): when.secrets`,
 * followed by `: <message>` when one is given. `config` is the value the path starts from (the
 * policy section, or the whole configuration when the path starts with `policy`); the id is read
 * from it when it has one.
 */
export function describePolicyIssue(path: readonly PropertyKey[] | string, config: unknown, message?: string): string {
  const keys = typeof path === 'string' ? parseIssuePath(path) : path;
  const suffix = message === undefined ? '' : `: ${message}`;
  const at = keys.findIndex((k, i) => k === 'rules' && typeof keys[i + 1] === 'number');
  if (at < 0) return `${formatIssuePath(keys) || 'policy'}${suffix}`;
  let node: unknown = config;
  for (const key of keys.slice(0, at + 2)) node = isRecord(node) || Array.isArray(node) ? (node as Record<PropertyKey, unknown>)[key] : undefined;
  const id = isRecord(node) && typeof node.id === 'string' ? node.id : undefined;
  const rule = formatIssuePath(keys.slice(0, at + 2));
  const rest = formatIssuePath(keys.slice(at + 2));
  const who = id === undefined ? rule : `rule ${JSON.stringify(id)} (${rule})`;
  // A message from the schema's own refinements already starts with the rule's id.
  const said = id !== undefined && message?.startsWith(`rule ${JSON.stringify(id)}: `) ? message.slice(`rule ${JSON.stringify(id)}: `.length) : message;
  return `${who}${rest === '' ? '' : `: ${rest}`}${said === undefined ? '' : `: ${said}`}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `rules[3].when.secrets` → `['rules', 3, 'when', 'secrets']`. */
function parseIssuePath(path: string): PropertyKey[] {
  const out: PropertyKey[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] === undefined ? m[1] : Number(m[2]));
  return out;
}
