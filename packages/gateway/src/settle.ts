/**
 * How a policy decision reaches the git client (gitprotocol-pack(5) "Report Status"): the same
 * rendering (@pushgate/policy's renderDecision) as the audit record and the review page.
 *
 * - allow: the push is relayed; reasons that did not decide (rules in `evaluate` mode, exemptions)
 *   are shown as `remote:` lines before the upstream's own answer.
 * - deny: `unpack ok`, then `ng <ref> <reason naming the rule>` for every ref — refs the reasons do
 *   not name included, since nothing of the push reaches the upstream — and one `remote:` line per
 *   finding (rule, commit, path:line, the masked finding, what to do).
 * - hold: the same, each ref `ng <ref> held for approval (<id>)`, and `remote:` lines with the
 *   review link `<publicUrl>/review/holds/<id>`, the rules that fired, who may approve, and how to
 *   follow the hold (hold.ts stores it first; `-o wait` answers later, from the hold).
 *
 * A refused push answers inside the protocol rather than with an HTTP error: git prints the
 * `remote:` lines and a per-ref status, which an HTTP error body would not give.
 */
import { renderDecision } from '@pushgate/policy';
import type { ReportStatus } from '@pushgate/protocol';
import type { AllowDecision, RefusingDecision } from './git';

/** The `ng` reason of a held ref (followed by ` (<id>)` once stored). */
export const HELD_REF_REASON = 'held for approval';

/** The stored hold a held push's answer names. */
export interface HeldAs {
  readonly id: string;
  /** The base of the review link. */
  readonly publicUrl: string;
}

/**
 * The report-status and `remote:` lines of a push (its refs, in command order) the policy denied
 * or held (see the module comment); a hold is named by `held` once stored.
 */
export function decisionReport(refs: readonly string[], decision: RefusingDecision, requestId: string, held?: HeldAs): { report: ReportStatus; lines: string[] } {
  const rendered = renderDecision(decision, { refs, holdId: held?.id, publicUrl: held?.publicUrl });
  // The renderer names every ref it is given; the fallback only guards the report's shape.
  const fallback = decision.kind === 'hold' ? (held === undefined ? HELD_REF_REASON : `${HELD_REF_REASON} (${held.id})`) : 'denied with the rest of the push (policy)';
  const report: ReportStatus = { unpack: { ok: true }, refs: refs.map((ref) => ({ ref, ok: false as const, reason: rendered.refLines.get(ref) ?? fallback })) };
  if (decision.kind === 'hold' && held !== undefined) {
    return {
      report,
      lines: [
        ...rendered.remoteLines,
        `pushgate: follow it with \`pushgate holds show ${held.id}\`; \`git push -o wait\` keeps a push waiting for the decision`,
        `pushgate: nothing was sent to the upstream yet (request id ${requestId})`,
      ],
    };
  }
  return { report, lines: [...rendered.remoteLines, `pushgate: nothing was sent to the upstream (request id ${requestId})`] };
}

/** The `remote:` lines of a push's decision: for deny and hold what the pusher must know, for allow the notes. */
export function decisionText(decision: RefusingDecision | AllowDecision, held?: HeldAs): string[] {
  return renderDecision(decision, { holdId: held?.id, publicUrl: held?.publicUrl }).remoteLines;
}

/** What an allowed push's pusher is shown before the upstream's answer: dry-run rules that would have refused it, exemptions. */
export function allowNotes(decision: AllowDecision): string[] {
  return decisionText(decision);
}
