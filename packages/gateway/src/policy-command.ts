/**
 * `pushgate policy test` and `pushgate policy explain`: a policy judged offline, against declared
 * cases (policy-test.ts) or against one push of a local repository, through the same inspection
 * and engine the gateway runs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ZERO_OID, runGit, type Oid, type RefUpdate } from '@pushgate/core';
import type { Decision, Reason } from '@pushgate/policy';
import { UsageError } from './cli-usage';
import { resolveRevision } from './offline-inspection';
import { TEST_ISSUER, formatResult, formatSummary, judgePush, junitXml, loadPolicyFile, runPolicyCases } from './policy-test';

/** Where the policy verbs write. */
export interface PolicyCommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** `--help` of `pushgate policy`. */
export const POLICY_HELP = `Usage: pushgate policy test <cases.yaml> [--junit <file>]
       pushgate policy explain --config <file> --repo <dir> --ref <ref> --old <id> --new <id>
                               [--as <sub>] [--email <e>] [--groups <a,b>] [--agent]
                               [--push-option <k=v>]... [--upstream <name>] [--repo-path <path>]

policy test      Judges every case of a cases file offline: builds each fixture repository it
                 names (once), makes an upstream holding exactly the case's refs, the thin pack
                 git push would send, and runs the gateway's inspection and policy engine on it.
                 Prints one line per case (ok/FAIL, name, outcome, rule ids; on failure what
                 differed), then "N passed, M failed". Exit 0 when all pass, 1 otherwise.
                 --junit <file> also writes the results as JUnit XML.
                 Format of cases: README.md, "Testing a policy in CI"; fixtures/policy/cases.yaml.

policy explain   What one push of a local repository would get, and why: the decision, every
                 reason, and the ng and remote: lines the git client would print. The upstream is
                 taken to hold --ref at --old (--old 0000000000000000000000000000000000000000 or
                 omitted: the ref is created). --old/--new take ids or revisions of --repo; a zero
                 --new deletes the ref. --config is a policy file or a gateway config with a
                 policy: section. The identity is declared (--as, default "local"; --email,
                 --groups, --agent), so is the repository the repos scope sees (--upstream,
                 default "local"; --repo-path, default the directory's name + .git).
                 Exit 0 whatever the decision.
`;

/** Runs `pushgate policy <sub> …`; resolves with the exit code. */
export async function policyCommand(args: readonly string[], io: PolicyCommandIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case undefined:
      throw new UsageError('policy needs a subcommand: test or explain');
    case '--help':
    case '-h':
      io.stdout.write(POLICY_HELP);
      return 0;
    case 'test':
      return policyTest(rest, io);
    case 'explain':
      return policyExplain(rest, io);
    default:
      throw new UsageError(`unknown policy subcommand "${sub}"`);
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

function parse(args: readonly string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options'], allowPositionals: boolean): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

function text(values: Values, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

function required(values: Values, key: string): string {
  const v = text(values, key);
  if (v === undefined || v === '') throw new UsageError(`--${key} is required`);
  return v;
}

async function policyTest(args: readonly string[], io: PolicyCommandIo): Promise<number> {
  const { values, positionals } = parse(args, { junit: { type: 'string' } }, true);
  if (values.help === true) {
    io.stdout.write(POLICY_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('policy test takes exactly one cases file');
  const report = await runPolicyCases(positionals[0], { onResult: (r) => io.stdout.write(`${formatResult(r)}\n`) });
  io.stdout.write(`${formatSummary(report)}\n`);
  const junit = text(values, 'junit');
  if (junit !== undefined) await writeFile(junit, junitXml(report));
  return report.failed === 0 ? 0 : 1;
}

async function policyExplain(args: readonly string[], io: PolicyCommandIo): Promise<number> {
  const { values } = parse(
    args,
    {
      config: { type: 'string', short: 'c' },
      repo: { type: 'string' },
      ref: { type: 'string' },
      old: { type: 'string' },
      new: { type: 'string' },
      as: { type: 'string' },
      email: { type: 'string' },
      groups: { type: 'string' },
      agent: { type: 'boolean' },
      'push-option': { type: 'string', multiple: true },
      upstream: { type: 'string' },
      'repo-path': { type: 'string' },
    },
    false,
  );
  if (values.help === true) {
    io.stdout.write(POLICY_HELP);
    return 0;
  }
  const policy = await loadPolicyFile(required(values, 'config'));
  const repoDir = resolve(required(values, 'repo'));
  const ref = required(values, 'ref');
  if (!ref.startsWith('refs/')) throw new UsageError(`--ref must be a full ref name (refs/heads/…), not "${ref}"`);
  const found = await runGit({ cwd: repoDir, args: ['rev-parse', '--absolute-git-dir'] });
  if (found.code !== 0) throw new UsageError(`--repo ${repoDir} is not a git repository`);
  const gitDir = found.stdout.toString('utf8').trim();
  const id = async (rev: string | undefined): Promise<Oid> => (rev === undefined || /^0{40}$/.test(rev) ? ZERO_OID : resolveRevision(gitDir, rev));
  const command: RefUpdate = { ref, oldOid: await id(text(values, 'old')), newOid: await id(required(values, 'new')) };
  if (command.oldOid === ZERO_OID && command.newOid === ZERO_OID) throw new UsageError('--old and --new are both zero: nothing is pushed');
  const groups = (text(values, 'groups') ?? '').split(',').map((g) => g.trim()).filter((g) => g !== '');
  const email = text(values, 'email');
  const pushOptions = Array.isArray(values['push-option']) ? values['push-option'] : [];
  const workDir = await mkdtemp(join(tmpdir(), 'pushgate-policy-explain-'));
  try {
    const judged = await judgePush({
      sourceGitDir: gitDir,
      upstreamRefs: command.oldOid === ZERO_OID ? new Map() : new Map([[ref, command.oldOid]]),
      commands: [command],
      workDir,
      policy,
      upstream: text(values, 'upstream') ?? 'local',
      repo: text(values, 'repo-path') ?? `${basename(repoDir).replace(/\.git$/, '')}.git`,
      identity: { sub: text(values, 'as') ?? 'local', issuer: TEST_ISSUER, groups, agent: values.agent === true, ...(email !== undefined ? { email } : {}) },
      pushOptions,
    });
    const out: string[] = [];
    for (const r of judged.changeSet.refs) out.push(`push: ${describeRef(r.kind, r.ref, command, r.kind === 'update' ? r.fastForward : true)}`);
    out.push(`commits: ${judged.changeSet.commits.length} new`, `decision: ${judged.decision.kind}${approversText(judged.decision)}`);
    out.push(judged.decision.reasons.length === 0 ? 'reasons: none (no rule matched)' : 'reasons:');
    for (const r of judged.decision.reasons) out.push(`  ${reasonText(r)}`);
    out.push('git would print:');
    for (const l of judged.refLines) out.push(`  ${l}`);
    for (const l of judged.remoteLines) out.push(`  remote: ${l}`);
    io.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return 0;
}

function describeRef(kind: string, ref: string, c: RefUpdate, fastForward: boolean): string {
  const ids = `${c.oldOid.slice(0, 7)}..${c.newOid.slice(0, 7)}`;
  if (kind === 'update') return `${ref} ${ids} (${fastForward ? 'fast-forward' : 'not a fast-forward'})`;
  return `${ref} ${ids} (${kind})`;
}

function approversText(d: Decision): string {
  if (d.kind !== 'hold') return '';
  return ` (approval: ${d.approvers.map((a) => `${a.count} of ${a.groups.join('|')}`).join('; ')})`;
}

function reasonText(r: Reason): string {
  const flags = [r.mode === 'evaluate' ? 'evaluate only' : undefined, r.exempt === true ? 'exempt' : undefined].filter((f) => f !== undefined);
  const where = [r.ref, r.commit?.slice(0, 7), r.path === undefined ? undefined : `${r.path}${r.line === undefined ? '' : `:${r.line}`}`].filter((w) => w !== undefined).join(' ');
  return `${r.outcome} ${r.rule}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}${where === '' ? '' : ` [${where}]`}: ${r.message}`;
}
