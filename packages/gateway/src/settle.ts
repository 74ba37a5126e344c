/**
 * How a policy decision reaches the git client (gitprotocol-pack(5) "Report Status"): the same
 * rendering (@pushgate/policy's renderDecision) as the audit record and, later, the review page.
 *
 * - allow: the push is relayed; reasons that did not decide (rules in `evaluate` mode, exemptions)
 *   are shown as `remote:` lines before the upstream's own answer.
 * - deny: `unpack ok`, then `ng <ref> <reason naming the rule>` for every ref — refs the reasons do
 *   not name included, since nothing of the push reaches the upstream — and one `remote:` line per
 *   finding (rule, commit, path:line, the masked finding, what to do).
 * - hold: the same, each ref `ng <ref> held for approval`, and `remote:` lines naming the rules and
 *   who may approve. Holds are not stored yet, so there is no review link to print.
 *
 * A refused push answers inside the protocol rather than with an HTTP error: git prints the
 * `remote:` lines and a per-ref status, which an HTTP error body would not give.
 */
import { renderDecision } from '@pushgate/policy';
import type { ReportStatus } from '@pushgate/protocol';
import type { AllowDecision, RefusingDecision } from './git';

/** The `ng` reason of a held ref. */
export const HELD_REF_REASON = 'held for approval';

/** Said to the pusher of a held push while holds are not stored. */
export const HOLD_NOT_STORED_LINE = 'pushgate: held pushes are not stored yet: there is no review link, and nothing will be relayed later';

/** The report-status and `remote:` lines of a push (its refs, in command order) the policy denied or held (see the module comment). */
export function decisionReport(refs: readonly string[], decision: RefusingDecision, requestId: string): { report: ReportStatus; lines: string[] } {
  const rendered = renderDecision(decision, { refs });
  // The renderer names every ref it is given; the fallback only guards the report's shape.
  const fallback = decision.kind === 'hold' ? HELD_REF_REASON : 'denied with the rest of the push (policy)';
  return {
    report: { unpack: { ok: true }, refs: refs.map((ref) => ({ ref, ok: false as const, reason: rendered.refLines.get(ref) ?? fallback })) },
    lines: [...withHoldNote(decision, rendered.remoteLines), `pushgate: nothing was sent to the upstream (request id ${requestId})`],
  };
}

/** The `remote:` lines of a push's decision: for deny and hold what the pusher must know, for allow the notes. */
export function decisionText(decision: RefusingDecision | AllowDecision): string[] {
  return withHoldNote(decision, renderDecision(decision).remoteLines);
}

function withHoldNote(decision: RefusingDecision | AllowDecision, lines: readonly string[]): string[] {
  // No review link: until holds are stored there is nothing for it to lead to.
  return decision.kind === 'hold' ? [...lines, HOLD_NOT_STORED_LINE] : [...lines];
}

/** What an allowed push's pusher is shown before the upstream's answer: dry-run rules that would have refused it, exemptions. */
export function allowNotes(decision: AllowDecision): string[] {
  return decisionText(decision);
}
