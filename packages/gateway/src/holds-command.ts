/**
 * `pushgate holds list|show|approve|reject|cancel`: the approval API (holds-api.ts, docs/API.md)
 * from a terminal or a script. It talks to a running gateway over HTTP with the caller's own
 * token, so what it may do is exactly what the API lets that token do. Human output is a table or
 * a block; `--json` prints the API's JSON as it came. Text that came from other people (comments,
 * rule messages, ref names) is printed with control characters replaced, so a hostile comment
 * cannot drive the reviewer's terminal.
 *
 * Exit codes: 0 ok, 1 refused (the API's code and message are printed), 2 usage error, 3 the
 * gateway cannot be reached (or what answered is not its API).
 */
import { parseArgs } from 'node:util';
import { HOLD_STATES } from '@pushgate/holds';
import type { Approvers, Reason } from '@pushgate/policy';
import { UsageError } from './cli-usage';
import type { CliIo } from './commands';
import type { ApiErrorView, HoldListView, HoldView } from './holds-api';

/** Exit codes of `pushgate holds`. */
export const HOLDS_EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

/** How long the command waits for the gateway's answer. */
const ANSWER_TIMEOUT_MS = 30_000;

export const HOLDS_HELP = `Usage: pushgate holds list [--state <state>] [--mine] [--json]
       pushgate holds show <id> [--json]
       pushgate holds approve <id> [--comment <text>] [--digest <digest>] [--json]
       pushgate holds reject <id> --comment <text> [--json]
       pushgate holds cancel <id> [--comment <text>] [--json]

Reviews held pushes through a running gateway's API (docs/API.md).

  list     the holds you may approve or reject (pending unless --state names another state);
           --mine: the holds you pushed, in any state unless --state is given
  show     one hold: its state, link, pusher, refs, the rules that fired, approvals, what is missing
  approve  approve it; --digest binds the approval to the exact push you reviewed (from show)
  reject   reject it; the comment is required and the pusher is shown it
  cancel   withdraw your own pending push

Options:
  --gateway <url>   the gateway's base URL (default: $PUSHGATE_URL)
  --token <token>   your token, as for git (default: $PUSHGATE_TOKEN; prefer the variable:
                    a command-line argument is visible to other users of the machine)
  --json            print the API's JSON instead of text

States: ${HOLD_STATES.join(', ')}.
Exit codes: 0 ok, 1 refused (the API's code and message are printed), 2 usage error,
3 the gateway cannot be reached.
`;

/** Where to send requests, and as whom. */
interface Connection {
  readonly base: string;
  readonly token: string;
}

/** What one API call came to. */
type CallResult =
  | { readonly kind: 'ok'; readonly json: unknown }
  | { readonly kind: 'refused'; readonly status: number; readonly error: ApiErrorView['error']; readonly json: unknown }
  | { readonly kind: 'unreachable'; readonly message: string };

/** Runs `pushgate holds …`; resolves with the exit code (a usage mistake throws UsageError). */
export async function holdsCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(HOLDS_HELP);
    return sub === undefined ? HOLDS_EXIT.usage : HOLDS_EXIT.ok;
  }
  if (sub !== 'list' && sub !== 'show' && sub !== 'approve' && sub !== 'reject' && sub !== 'cancel') {
    throw new UsageError(`unknown holds subcommand "${sub}": list, show, approve, reject or cancel`);
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...rest],
      options: {
        gateway: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        state: { type: 'string' },
        mine: { type: 'boolean' },
        comment: { type: 'string' },
        digest: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout.write(HOLDS_HELP);
    return HOLDS_EXIT.ok;
  }
  const allowed: Record<typeof sub, readonly string[]> = {
    list: ['state', 'mine'],
    show: [],
    approve: ['comment', 'digest'],
    reject: ['comment'],
    cancel: ['comment'],
  };
  for (const option of ['state', 'mine', 'comment', 'digest']) {
    if (values[option] !== undefined && !allowed[sub].includes(option)) throw new UsageError(`holds ${sub} does not take --${option}`);
  }
  const json = values.json === true;
  const connection = connect(values, io);

  if (sub === 'list') {
    if (positionals.length > 0) throw new UsageError('holds list takes no arguments');
    const state = typeof values.state === 'string' ? values.state : undefined;
    if (state !== undefined && !HOLD_STATES.some((s) => s === state)) throw new UsageError(`--state must be one of ${HOLD_STATES.join(', ')}`);
    const query = new URLSearchParams();
    if (state !== undefined) query.set('state', state);
    if (values.mine === true) query.set('mine', '1');
    const q = query.toString();
    const result = await call(connection, 'GET', `/api/holds${q === '' ? '' : `?${q}`}`);
    return finish(result, io, json, (body) => renderList(body as HoldListView, { state, mine: values.mine === true }));
  }

  if (positionals.length !== 1) throw new UsageError(`holds ${sub} takes exactly one hold id`);
  const id = positionals[0];
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new UsageError(`"${printable(id.slice(0, 80))}" is not a hold id`);
  const path = `/api/holds/${id}`;
  switch (sub) {
    case 'show':
      return finish(await call(connection, 'GET', path), io, json, (body) => renderShow(body as HoldView));
    case 'approve': {
      const body = { comment: optionalText(values.comment), digest: optionalText(values.digest) };
      return finish(await call(connection, 'POST', `${path}/approve`, body), io, json, (hold) => renderApproved(hold as HoldView));
    }
    case 'reject': {
      const comment = optionalText(values.comment);
      if (comment === undefined || comment.trim() === '') throw new UsageError('holds reject needs --comment <text>: the pusher is told why');
      return finish(await call(connection, 'POST', `${path}/reject`, { comment }), io, json, (hold) => `rejected hold ${printable((hold as HoldView).id)}\n`);
    }
    case 'cancel':
      return finish(await call(connection, 'POST', `${path}/cancel`, { comment: optionalText(values.comment) }), io, json, (hold) => `cancelled hold ${printable((hold as HoldView).id)}\n`);
  }
}

function optionalText(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The gateway and token from options or the environment; neither is ever printed back whole. */
function connect(values: Record<string, string | boolean | undefined>, io: CliIo): Connection {
  const gateway = optionalText(values.gateway) ?? io.env.PUSHGATE_URL;
  const token = optionalText(values.token) ?? io.env.PUSHGATE_TOKEN;
  if (gateway === undefined || gateway === '') throw new UsageError('the gateway is unknown: give --gateway <url> or set PUSHGATE_URL');
  if (token === undefined || token.trim() === '') throw new UsageError('no token: give --token <token> or set PUSHGATE_TOKEN');
  let url: URL;
  try {
    url = new URL(gateway);
  } catch {
    throw new UsageError('--gateway (or PUSHGATE_URL) is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--gateway (or PUSHGATE_URL) must be an http:// or https:// URL');
  if (url.username !== '' || url.password !== '') throw new UsageError('--gateway (or PUSHGATE_URL) must not carry credentials: give the token with --token or PUSHGATE_TOKEN');
  if (url.search !== '' || url.hash !== '') throw new UsageError('--gateway (or PUSHGATE_URL) is the gateway\'s base URL, without a query or fragment');
  return { base: url.toString().replace(/\/+$/, ''), token: token.trim() };
}

/** One request to the API. */
async function call(connection: Connection, method: 'GET' | 'POST', path: string, body?: Record<string, string | undefined>): Promise<CallResult> {
  const where = `${connection.base}${path}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(where, {
      method,
      headers: {
        authorization: `Bearer ${connection.token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'error',
      signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (e) {
    return { kind: 'unreachable', message: `cannot reach the gateway at ${connection.base}: ${reasonOf(e)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null) {
    return { kind: 'unreachable', message: `${connection.base} answered HTTP ${response.status} without the API's JSON: is it a pushgate gateway, and its base URL?` };
  }
  if (response.ok) return { kind: 'ok', json };
  const error = (json as Partial<ApiErrorView>).error;
  if (typeof error !== 'object' || error === null || typeof error.code !== 'string' || typeof error.message !== 'string') {
    return { kind: 'unreachable', message: `${connection.base} answered HTTP ${response.status} without the API's error JSON` };
  }
  return { kind: 'refused', status: response.status, error, json };
}

/** Why a request failed, in a few words. Read by shape: fetch's errors may come from another realm than this module's `Error`. */
function reasonOf(e: unknown): string {
  const error = typeof e === 'object' && e !== null ? (e as { name?: unknown; message?: unknown; cause?: unknown }) : undefined;
  if (error?.name === 'TimeoutError') return `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`;
  const cause = typeof error?.cause === 'object' && error.cause !== null ? (error.cause as { code?: unknown; message?: unknown }) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return typeof error?.message === 'string' ? error.message : String(e);
}

/** Prints a result and returns the exit code. */
function finish(result: CallResult, io: CliIo, json: boolean, render: (body: unknown) => string): number {
  switch (result.kind) {
    case 'unreachable':
      io.stderr.write(`pushgate: ${result.message}\n`);
      return HOLDS_EXIT.unreachable;
    case 'refused': {
      if (json) io.stdout.write(`${JSON.stringify(result.json, null, 2)}\n`);
      const requestId = typeof result.error.requestId === 'string' ? ` (request id ${printable(result.error.requestId)})` : '';
      io.stderr.write(`pushgate: ${printable(result.error.code)}: ${printable(result.error.message)}${requestId}\n`);
      return HOLDS_EXIT.refused;
    }
    case 'ok': {
      if (json) {
        io.stdout.write(`${JSON.stringify(result.json, null, 2)}\n`);
        return HOLDS_EXIT.ok;
      }
      let text: string;
      try {
        text = render(result.json);
      } catch {
        io.stderr.write('pushgate: the gateway answered JSON this command cannot read (use --json to see it)\n');
        return HOLDS_EXIT.unreachable;
      }
      io.stdout.write(text);
      return HOLDS_EXIT.ok;
    }
  }
}

// --- Rendering --------------------------------------------------------------------------------

/**
 * Text from others, safe to print: C0/C1 control characters (escape sequences, carriage returns)
 * and bidirectional overrides become U+FFFD; line breaks are kept only where `lines` allows.
 */
export function printable(text: string, lines?: { readonly indent: string }): string {
  const safe = String(text)
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '\uFFFD');
  return lines === undefined ? safe.replace(/\n/g, '\uFFFD') : safe.replace(/\n/g, `\n${lines.indent}`);
}

function shortId(oid: string): string {
  return /^0+$/.test(oid) ? '0000000' : oid.slice(0, 7);
}

/** A date as `2026-12-05 10:07 UTC`. */
function when(iso: string | undefined): string {
  if (iso === undefined) return '?';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? printable(iso) : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function person(p: HoldView['pusher']): string {
  return `${printable(p.sub)}${p.email === undefined ? '' : ` <${printable(p.email)}>`}${p.agent ? ' (AI agent)' : ''}`;
}

function needed(entries: readonly Approvers[]): string {
  return entries.map((a) => `${a.count} from ${a.groups.map((g) => printable(g)).join(' or ')}`).join('; ');
}

function approvalCount(hold: HoldView): string {
  const need = hold.approvers.reduce((n, a) => n + a.count, 0);
  const missing = hold.missing.reduce((n, a) => n + a.count, 0);
  return `${need - missing}/${need}`;
}

function stateLine(hold: HoldView): string {
  switch (hold.state) {
    case 'pending':
      return `pending, expires ${when(hold.expiresAt)}`;
    case 'approved':
      return `approved ${when(hold.approvedAt)}, waiting to be relayed (attempts so far: ${hold.attempts}, next ${when(hold.nextAttemptAt)})${hold.lastError === undefined ? '' : `; last error: ${printable(hold.lastError)}`}`;
    case 'relaying':
      return `approved ${when(hold.approvedAt)}, being relayed now (attempt ${hold.attempts + 1})`;
    case 'relayed':
      return `relayed ${when(hold.finishedAt)} (approved ${when(hold.approvedAt)})`;
    case 'stale':
      return `stale ${when(hold.finishedAt)}: the upstream's refs moved since the push, nothing was overwritten; fetch, rebase and push again`;
    case 'upstream-rejected':
      return `rejected by the upstream ${when(hold.finishedAt)}: ${printable(hold.message)}`;
    case 'rejected':
      return `rejected by ${person(hold.by)} ${when(hold.at)}`;
    case 'expired':
      return `expired ${when(hold.at)}`;
    case 'cancelled':
      return `cancelled by ${person(hold.by)} ${when(hold.at)}`;
  }
}

function reasonLine(r: Reason): string {
  const where = [r.ref, r.commit === undefined ? undefined : shortId(r.commit), r.path === undefined ? undefined : r.line === undefined ? r.path : `${r.path}:${r.line}`]
    .filter((x): x is string => x !== undefined)
    .map((x) => printable(x));
  const mode = r.mode === 'evaluate' ? ', evaluate only' : '';
  const exempt = r.exempt === true ? ', exempt' : '';
  return `  ${printable(r.rule)} (${printable(r.outcome)}${mode}${exempt}): ${printable(r.message)}${where.length === 0 ? '' : ` [${where.join(' ')}]`}${r.finding === undefined ? '' : ` ${printable(r.finding)}`}`;
}

function renderList(list: HoldListView, filter: { readonly state: string | undefined; readonly mine: boolean }): string {
  if (!Array.isArray(list.holds)) throw new Error('no holds array');
  if (list.holds.length === 0) {
    const state = filter.state ?? (filter.mine ? undefined : 'pending');
    return filter.mine ? `no${state === undefined ? '' : ` ${state}`} holds you pushed\n` : `no ${state} holds you may review\n`;
  }
  const rows = [['ID', 'STATE', 'REPO', 'PUSHER', 'REFS', 'APPROVALS', 'CREATED']];
  for (const h of list.holds) {
    const first = h.commands[0];
    const refs = first === undefined ? '' : `${printable(first.ref)}${h.commands.length > 1 ? ` +${h.commands.length - 1}` : ''}`;
    rows.push([printable(h.id), printable(h.state), `${printable(h.upstream)}/${printable(h.repo)}`, `${printable(h.pusher.sub)}${h.pusher.agent ? ' (agent)' : ''}`, refs, approvalCount(h), when(h.createdAt)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

/** The block `holds show` prints. */
function renderShow(hold: HoldView): string {
  if (typeof hold.id !== 'string' || !Array.isArray(hold.commands)) throw new Error('not a hold');
  const out: string[] = [];
  const field = (name: string, value: string): void => void out.push(`${`${name}:`.padEnd(12)}${value}`);
  out.push(`Hold ${printable(hold.id)}: ${stateLine(hold)}`);
  field('Link', printable(hold.link));
  field('Repo', `${printable(hold.repo)} on ${printable(hold.upstream)}`);
  field('Pusher', person(hold.pusher));
  field('Pushed', `${when(hold.createdAt)} (push ${printable(hold.pushId)})`);
  out.push('Refs:');
  const refWidth = Math.max(...hold.commands.map((c) => printable(c.ref).length));
  for (const c of hold.commands) out.push(`  ${printable(c.ref).padEnd(refWidth)}  ${shortId(c.oldOid)} → ${shortId(c.newOid)}  (${printable(c.kind)})`);
  if (hold.pushOptions.length > 0) field('Options', hold.pushOptions.map((o) => printable(o)).join(', '));
  if (hold.reasons.length > 0) {
    out.push('Rules:');
    for (const r of hold.reasons) out.push(reasonLine(r));
  }
  if (hold.state === 'rejected') field('Reason', printable(hold.comment, { indent: ' '.repeat(12) }));
  if (hold.state === 'stale') for (const m of hold.moved) out.push(`  ${printable(m.ref)}: expected ${shortId(m.expected)}, the upstream has ${shortId(m.actual)}`);
  if (hold.state === 'relayed' || (hold.state === 'upstream-rejected' && hold.report !== undefined)) {
    const report = hold.report;
    if (report !== undefined) for (const r of report.refs) out.push(`  upstream: ${printable(r.ref)} ${r.status === 'ok' ? 'ok' : `ng ${printable(r.reason)}`}`);
  }
  field('Approvers', needed(hold.approvers));
  if (hold.approvals.length === 0) field('Approvals', 'none yet');
  else {
    out.push('Approvals:');
    for (const a of hold.approvals) out.push(`  ${person(a.by)} ${when(a.at)}${a.comment === undefined ? '' : `: ${printable(a.comment, { indent: '    ' })}`}`);
  }
  if (hold.missing.length > 0) field('Missing', needed(hold.missing));
  field('Digest', printable(hold.digest));
  const may = [...(hold.mayReview ? ['approve', 'reject'] : []), ...(hold.mayCancel ? ['cancel'] : [])];
  field('You may', may.length === 0 ? 'only read it' : may.join(', '));
  return `${out.join('\n')}\n`;
}

function renderApproved(hold: HoldView): string {
  const id = printable(hold.id);
  if (hold.state === 'pending') return `approved hold ${id}; still missing: ${needed(hold.missing)}\n`;
  return `approved hold ${id}: the approvals are complete and the gateway relays the push (now ${printable(hold.state)})\n`;
}
