/**
 * What the pusher sees of a decision: the reason on each ref's `ng` line, and the `remote:` block
 * — one line per finding saying which rule, where (short commit, `path:line`), what (secrets only
 * masked, as every Reason carries them) and what to do. The gateway prints these as they are; the
 * same text is what `pushgate policy explain` shows.
 */
import type { Decision, Reason, ReasonSource } from './types';

/** Findings listed in the `remote:` block at most; the rest are counted in one line (the audit record has them all). */
export const MAX_REMOTE_FINDINGS = 100;

/** What renderDecision needs besides the decision. */
export interface RenderOptions {
  /** The gateway's public URL, for the review link of a hold. */
  readonly publicUrl?: string;
  /** The hold's id, once it is stored. */
  readonly holdId?: string;
  /** Every ref of the push: a refused push refuses all of them, so each gets an `ng` line. */
  readonly refs?: readonly string[];
}

/** The text of a decision for git: `ng` reasons per ref and `remote:` lines (without the `remote: ` prefix). */
export interface RenderedDecision {
  /** For a deny or hold, the reason of each ref's `ng` line; empty for allow. */
  readonly refLines: Map<string, string>;
  readonly remoteLines: string[];
}

/** What the pusher can do about a finding of each kind. */
const ADVICE: Readonly<Record<ReasonSource, string>> = {
  forcePush: 'rebase onto the current branch and push without --force',
  deletion: 'this ref may not be deleted',
  creation: 'this ref may not be created',
  tag: 'tags here may not be moved or deleted; push a new tag name',
  secrets: 'remove the secret from the commit (git rebase -i, or git commit --amend) and revoke it',
  secretFiles: 'remove the file from the commits and add it to .gitignore',
  authorEmail: 'set git config user.email to an allowed address and rewrite the commits',
  committerEmail: 'set git config user.email to an allowed address and rewrite the commits',
  notPusher: 'push only commits you authored and committed, or ask their author to push them',
  message: 'reword the commit message (git rebase -i, then reword)',
  fileSizeOver: 'remove the file from the commits; keep large files in Git LFS or an artifact store',
  extensions: 'remove the file from the commits',
  pathLengthOver: 'use a shorter path',
  merges: 'rebase instead of merging',
  unsigned: 'sign the commits (git commit -S, or git rebase --exec "git commit --amend -S --no-edit")',
  commitsOver: 'push fewer commits at a time',
  filesOver: 'split the change into smaller pushes',
  unscannable: 'content that cannot be scanned for secrets is not accepted here; remove it or ask for an exception',
  paths: 'this path is protected',
  scope: 'this push is not allowed here',
  truncated: '',
};

/** Renders a decision as git shows it (see the module comment). */
export function renderDecision(decision: Decision, options: RenderOptions = {}): RenderedDecision {
  const refLines = new Map<string, string>();
  const remoteLines: string[] = [];
  const refs = [...new Set([...(options.refs ?? []), ...decision.reasons.flatMap((r) => (r.ref === undefined ? [] : [r.ref]))])];
  switch (decision.kind) {
    case 'allow':
      break;
    case 'deny': {
      remoteLines.push('Push denied by policy; nothing was pushed.');
      for (const ref of refs) {
        const rules = [...new Set(decision.reasons.filter((r) => deciding(r) && r.outcome === 'deny' && r.ref === ref).map((r) => r.rule))];
        refLines.set(ref, rules.length === 0 ? 'denied with the rest of the push (policy)' : `denied by policy rule ${rules.join(', ')}`);
      }
      break;
    }
    case 'hold': {
      const link = options.publicUrl !== undefined && options.holdId !== undefined ? `${options.publicUrl.replace(/\/+$/, '')}/review/holds/${encodeURIComponent(options.holdId)}` : undefined;
      remoteLines.push(`Push held for approval${link !== undefined ? `: ${link}` : options.holdId !== undefined ? ` (hold ${printable(options.holdId)})` : ''}; nothing was pushed yet.`);
      const byRule = new Map(decision.reasons.filter((r) => deciding(r) && r.outcome === 'hold' && r.approvers !== undefined).map((r) => [r.rule, r.approvers]));
      for (const [rule, a] of byRule) {
        if (a === undefined) continue;
        remoteLines.push(`Needs ${a.count} ${a.count === 1 ? 'approval' : 'approvals'} from ${a.groups.join(' or ')} (rule ${rule}).`);
      }
      const line = `held for approval${options.holdId !== undefined ? ` (${printable(options.holdId)})` : ''}`;
      for (const ref of refs) refLines.set(ref, line);
      break;
    }
    default:
      unreachable(decision);
  }
  const shown = decision.reasons.filter((r) => r.outcome !== 'allow');
  const lines = shown.map((r) => findingLine(r));
  remoteLines.push(...lines.slice(0, MAX_REMOTE_FINDINGS));
  if (lines.length > MAX_REMOTE_FINDINGS) remoteLines.push(`… and ${lines.length - MAX_REMOTE_FINDINGS} more (the audit record lists them all)`);
  return { refLines, remoteLines };
}

function deciding(r: Reason): boolean {
  return r.mode === 'enforce' && r.exempt !== true;
}

/** `rule <id>: <commit7> <path:line>: <message> — <advice>`, prefixed for dry-run and exempt reasons. */
function findingLine(r: Reason): string {
  const where = [r.commit?.slice(0, 7), r.path === undefined ? (r.commit === undefined ? r.ref : undefined) : r.line === undefined ? r.path : `${r.path}:${r.line}`].filter((x) => x !== undefined).join(' ');
  const what = `${where === '' ? '' : `${where}: `}${r.message}`;
  const condition = r.condition ?? 'scope';
  const advice = r.outcome === 'hold' ? 'needs approval' : ADVICE[condition];
  const body = printable(`${what}${advice === '' || condition === 'truncated' ? '' : ` — ${advice}`}`);
  const verb = r.outcome === 'deny' ? 'deny' : 'hold';
  if (r.mode === 'evaluate') return `[evaluate] rule ${r.rule} would ${verb}: ${body}`;
  if (r.exempt === true) return `[exempt] rule ${r.rule} would ${verb}, but you are exempt: ${body}`;
  return `rule ${r.rule}: ${body}`;
}

/** Control characters (from paths, emails, commit messages) would reach the pusher's terminal: shown as `?`. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function unreachable(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
