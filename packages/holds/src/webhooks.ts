/**
 * Notifications about holds: a webhook per configured target, sent in the background so that a
 * slow or dead receiver never delays a push, an approval or a relay.
 *
 * A delivery is one event to one target. Its body is JSON, either pushgate's own shape or a
 * Slack incoming-webhook message (`{ text, blocks }`), and carries the hold's link and what it
 * changes — never the pack, a diff, a finding or a secret. Each delivery has a uuid
 * (`X-Pushgate-Delivery`) that stays the same across its retries, so a receiver can drop
 * duplicates; with a secret, `X-Pushgate-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw
 * body with it. A 2xx answer delivers; any other status, a network error or a timeout is retried
 * with exponential backoff; giving up is logged and, with a database, audited (`webhook.failed`),
 * as is each delivery (`webhook.delivered`). Audit rows name the target's host only: a webhook
 * URL often carries its own secret in the path (Slack's do).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '@pushgate/core';
import { appendAuditEvent, type Database } from '@pushgate/store';
import { backoffMs } from './backoff';
import type { HoldRecord, HoldStateKind } from './types';

/** What a webhook announces: a hold was created, or reached a decision or a final state. */
export type HoldEvent = 'held' | 'approved' | 'rejected' | 'relayed' | 'stale' | 'upstream-rejected' | 'expired' | 'cancelled';

/** Every event, in lifecycle order (for config validation and docs). */
export const HOLD_EVENTS: readonly HoldEvent[] = Object.freeze(['held', 'approved', 'rejected', 'relayed', 'stale', 'upstream-rejected', 'expired', 'cancelled']);

/**
 * The event a transition announces, or undefined for one nobody needs to hear about: creation is
 * `held`; reaching `approved` from `pending` is `approved`; reaching a final state is that state.
 * Claiming a relay, renewing or reclaiming a lease, and giving a relay back for a retry
 * (`relaying → approved`) are the relayer's business and announce nothing.
 */
export function holdEventOf(hold: HoldRecord, from: HoldStateKind | undefined): HoldEvent | undefined {
  const to = hold.state.kind;
  if (from === undefined) return to === 'pending' ? 'held' : undefined;
  if (from === to) return undefined;
  switch (to) {
    case 'pending':
    case 'relaying':
      return undefined;
    case 'approved':
      return from === 'pending' ? 'approved' : undefined;
    case 'relayed':
    case 'stale':
    case 'upstream-rejected':
    case 'rejected':
    case 'expired':
    case 'cancelled':
      return to;
  }
}

/** One place notifications go. */
export interface WebhookTarget {
  /** http or https URL; a redirect is not followed (it counts as a failed attempt). */
  readonly url: string;
  /** Only these events (all when absent). */
  readonly events?: readonly HoldEvent[];
  /** Signs each body (`X-Pushgate-Signature`). */
  readonly secret?: string;
  /** `json` (pushgate's shape, the default) or `slack` (an incoming-webhook message). */
  readonly format?: 'json' | 'slack';
}

/** How often and how patiently a delivery is retried. */
export interface WebhookRetry {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Wait after the first failure; doubled after each further one (with jitter) up to `maxMs`. */
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Options of `Webhooks`. */
export interface WebhooksOptions {
  readonly targets: readonly WebhookTarget[];
  /** The gateway's public base URL: links are `<publicUrl>/review/holds/<id>`. */
  readonly publicUrl: string;
  /** Where `webhook.delivered` and `webhook.failed` audit events go (none without it). */
  readonly db?: Database;
  readonly logger?: Logger;
  readonly retry?: WebhookRetry;
  /** Longest wait for one attempt's answer (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * Most deliveries queued or running at once; beyond it new ones are dropped with a warning, so a
   * dead receiver cannot make the gateway hold an unbounded backlog in memory (default 1000).
   */
  readonly maxPending?: number;
}

/**
 * Six attempts 1 s … 5 min apart span about ten minutes: long enough to ride out a receiver's
 * restart or a short outage, short enough that the notification is still news.
 */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetry = Object.freeze({ attempts: 6, initialMs: 1_000, maxMs: 300_000 });
/** A receiver that has not answered in 10 s is treated as down for this attempt. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** Deliveries kept at once (see `WebhooksOptions.maxPending`). */
export const DEFAULT_WEBHOOK_MAX_PENDING = 1_000;
/** Characters of an error kept in logs and audit rows. */
const ERROR_CHARS = 300;

/** The JSON body of the `json` format. */
export interface HoldWebhookBody {
  readonly event: HoldEvent;
  readonly hold: {
    readonly id: string;
    readonly link: string;
    readonly state: HoldStateKind;
    readonly upstream: string;
    readonly repo: string;
    readonly pusher: { readonly sub: string; readonly email: string | null; readonly agent: boolean };
    readonly refs: readonly { readonly ref: string; readonly old: string; readonly new: string }[];
    /** The ids of the rules that held it. */
    readonly rules: readonly string[];
    /** The reviewer's comment, the upstream's refusal, or which refs moved, when the state has one. */
    readonly message?: string;
  };
  /** When the gateway queued the notification (ISO 8601). */
  readonly occurredAt: string;
}

/** The link a hold is reviewed at. */
export function holdLink(publicUrl: string, holdId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/review/holds/${encodeURIComponent(holdId)}`;
}

/** The ids of the rules that made it a hold (enforced, not exempt), each once, in order. */
function holdRules(hold: HoldRecord): string[] {
  const deciding = hold.decision.reasons.filter((r) => r.outcome === 'hold' && r.mode === 'enforce' && r.exempt !== true);
  return [...new Set((deciding.length > 0 ? deciding : hold.decision.reasons).map((r) => r.rule))];
}

/** The state's own words, when it has some. */
function stateMessage(hold: HoldRecord): string | undefined {
  const s = hold.state;
  switch (s.kind) {
    case 'rejected':
      return s.comment;
    case 'upstream-rejected':
      return s.message;
    case 'stale':
      return s.moved.map((m) => `${m.ref} is at ${m.actual.slice(0, 12)}, not ${m.expected.slice(0, 12)}`).join('; ');
    default:
      return undefined;
  }
}

/** The `json` body of an event about `hold`. */
export function webhookBody(event: HoldEvent, hold: HoldRecord, publicUrl: string, occurredAt: Date): HoldWebhookBody {
  const message = stateMessage(hold);
  return {
    event,
    hold: {
      id: hold.id,
      link: holdLink(publicUrl, hold.id),
      state: hold.state.kind,
      upstream: hold.upstream,
      repo: hold.repo,
      pusher: { sub: hold.pusher.sub, email: hold.pusher.email ?? null, agent: hold.pusher.agent },
      refs: hold.commands.map((c) => ({ ref: c.ref, old: c.oldOid, new: c.newOid })),
      rules: holdRules(hold),
      ...(message === undefined || message === '' ? {} : { message }),
    },
    occurredAt: occurredAt.toISOString(),
  };
}

const EVENT_WORDS: Readonly<Record<HoldEvent, string>> = {
  held: 'held for approval',
  approved: 'approved',
  rejected: 'rejected',
  relayed: 'relayed upstream',
  stale: 'not relayed: the upstream moved',
  'upstream-rejected': 'refused by the upstream',
  expired: 'expired unreviewed',
  cancelled: 'cancelled by the pusher',
};

/** Slack mrkdwn treats `&`, `<` and `>` as markup. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The `slack` body: one line of text with the link, and the same as blocks with the details. */
export function slackBody(body: HoldWebhookBody): { text: string; blocks: unknown[] } {
  const h = body.hold;
  const who = h.pusher.email ?? h.pusher.sub;
  const refs = h.refs.map((r) => r.ref.replace(/^refs\/(heads|tags)\//, '')).join(', ');
  const line = `Push by ${slackEscape(who)}${h.pusher.agent ? ' (agent)' : ''} to ${slackEscape(`${h.upstream}/${h.repo}`)} (${slackEscape(refs)}) ${EVENT_WORDS[body.event]}: <${h.link}|${h.id}>`;
  const details = [`*Rules:* ${h.rules.length > 0 ? slackEscape(h.rules.join(', ')) : '—'}`];
  if (h.message !== undefined) details.push(`*Message:* ${slackEscape(h.message)}`);
  return {
    text: line,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: line } },
      { type: 'context', elements: details.map((text) => ({ type: 'mrkdwn', text })) },
    ],
  };
}

/** `sha256=<hex>`: the HMAC-SHA256 of the raw body with the target's secret. */
export function webhookSignature(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** One event on its way to one target. */
interface Delivery {
  readonly id: string;
  readonly event: HoldEvent;
  readonly hold: HoldRecord;
  readonly target: WebhookTarget;
  readonly host: string;
  readonly body: string;
}

/** The outcome of one attempt. */
type Attempt = { readonly kind: 'delivered'; readonly status: number } | { readonly kind: 'failed'; readonly error: string };

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}

/** Whether `e` looks like an Error (`instanceof` fails for errors from another realm, e.g. fetch's under a test runner). */
function isErrorLike(e: unknown): e is Error & { code?: unknown; cause?: unknown } {
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

function describeError(e: unknown): string {
  if (isErrorLike(e)) {
    // fetch wraps the socket's error in `cause` ("fetch failed" alone says nothing).
    const cause = e.cause;
    const inner = isErrorLike(cause) ? `: ${typeof cause.code === 'string' ? cause.code : cause.message}` : '';
    return `${e.message}${inner}`.slice(0, ERROR_CHARS);
  }
  return String(e).slice(0, ERROR_CHARS);
}

/** Sends hold notifications to the configured webhooks (see the module comment). */
export class Webhooks {
  private readonly targets: readonly WebhookTarget[];
  private readonly publicUrl: string;
  private readonly db: Database | undefined;
  private readonly logger: Logger;
  private readonly retry: WebhookRetry;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  /** Deliveries queued, waiting for a retry or sending. */
  private readonly pending = new Set<Promise<void>>();
  /** Aborts requests in flight and waits between retries when closing. */
  private readonly closing = new AbortController();

  constructor(options: WebhooksOptions) {
    for (const t of options.targets) {
      const url = new URL(t.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`webhook URL must be http or https, got ${url.protocol}`);
    }
    this.targets = options.targets;
    this.publicUrl = options.publicUrl;
    this.db = options.db;
    this.logger = (options.logger ?? silentLogger).child({ component: 'webhooks' });
    this.retry = options.retry ?? DEFAULT_WEBHOOK_RETRY;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    this.maxPending = options.maxPending ?? DEFAULT_WEBHOOK_MAX_PENDING;
  }

  /** Deliveries queued or in flight. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Queues `event` about `hold` for every target that wants it and returns at once: the callers
   * are a push, an approval and a relay, and none of them may wait for a receiver or fail
   * because of one.
   */
  notify(event: HoldEvent, hold: HoldRecord): void {
    if (this.closing.signal.aborted) {
      this.logger.warn('webhook not sent: notifications are closed', { holdId: hold.id, pushId: hold.pushId, event });
      return;
    }
    const occurredAt = new Date();
    for (const target of this.targets) {
      if (target.events !== undefined && !target.events.includes(event)) continue;
      const host = hostOf(target.url);
      if (this.pending.size >= this.maxPending) {
        this.logger.warn('webhook dropped: too many deliveries pending', { holdId: hold.id, pushId: hold.pushId, event, target: host, pending: this.pending.size });
        continue;
      }
      let body: string;
      try {
        const json = webhookBody(event, hold, this.publicUrl, occurredAt);
        body = JSON.stringify(target.format === 'slack' ? slackBody(json) : json);
      } catch (e) {
        // A bug, not the receiver's fault; it still must not reach the caller.
        this.logger.error('webhook body could not be built', { holdId: hold.id, pushId: hold.pushId, event, error: describeError(e) });
        continue;
      }
      const delivery: Delivery = { id: randomUUID(), event, hold, target, host, body };
      const task = this.deliver(delivery).catch((e: unknown) => {
        this.logger.error('webhook delivery failed unexpectedly', { holdId: hold.id, pushId: hold.pushId, event, target: host, error: describeError(e) });
      });
      this.pending.add(task);
      void task.finally(() => this.pending.delete(task));
    }
  }

  /**
   * Notifies the event a transition announces, if any (`holdEventOf`): fits the hold store's
   * `onTransition` option, which reports every committed change, on whichever replica made it.
   */
  notifyTransition(hold: HoldRecord, from: HoldStateKind | undefined): void {
    const event = holdEventOf(hold, from);
    if (event !== undefined) this.notify(event, hold);
  }

  /** Resolves when every queued delivery has ended (delivered or given up), or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    const all = (async () => {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    })();
    try {
      await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops: later notifications are dropped, requests in flight are abandoned and waiting retries
   * given up (each logged). Call `drain` first to let queued deliveries finish.
   */
  async close(): Promise<void> {
    this.closing.abort();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Runs one delivery's attempts until it is delivered, out of attempts, or closed. */
  private async deliver(d: Delivery): Promise<void> {
    const log = { holdId: d.hold.id, pushId: d.hold.pushId, event: d.event, target: d.host, delivery: d.id };
    const attempts = Math.max(1, this.retry.attempts);
    let lastError = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const result = await this.attempt(d);
      if (this.closing.signal.aborted) {
        this.logger.warn('webhook abandoned: notifications closed', { ...log, attempts: attempt });
        return;
      }
      if (result.kind === 'delivered') {
        this.logger.info('webhook delivered', { ...log, attempts: attempt, status: result.status });
        await this.audit(d, 'webhook.delivered', 'ok', { attempts: attempt, status: result.status });
        return;
      }
      lastError = result.error;
      if (attempt === attempts) break;
      const delayMs = backoffMs(this.retry, attempt);
      this.logger.info('webhook attempt failed; retrying', { ...log, attempt, error: lastError, delayMs });
      if (!(await this.wait(delayMs))) {
        this.logger.warn('webhook abandoned: notifications closed', { ...log, attempts: attempt, lastError });
        return;
      }
    }
    this.logger.warn('webhook failed: giving up', { ...log, attempts, lastError });
    await this.audit(d, 'webhook.failed', 'failed', { attempts, lastError });
  }

  /** One POST, bounded by the timeout; never throws. */
  private async attempt(d: Delivery): Promise<Attempt> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'pushgate-webhooks',
      'x-pushgate-event': d.event,
      'x-pushgate-delivery': d.id,
    };
    if (d.target.secret !== undefined) headers['x-pushgate-signature'] = webhookSignature(d.target.secret, d.body);
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]);
    try {
      // A redirect is not followed: the configured URL is the only place a notification goes.
      const res = await fetch(d.target.url, { method: 'POST', headers, body: d.body, redirect: 'manual', signal });
      // The receiver's body is not needed; reading it (bounded by the same signal) frees the connection.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { kind: 'delivered', status: res.status };
      return { kind: 'failed', error: `HTTP ${res.status}` };
    } catch (e) {
      if (signal.aborted && !this.closing.signal.aborted) return { kind: 'failed', error: `no answer within ${this.timeoutMs} ms` };
      return { kind: 'failed', error: describeError(e) };
    }
  }

  /** Waits `ms` unless closed first; true when the wait ran out. */
  private wait(ms: number): Promise<boolean> {
    const signal = this.closing.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve(!signal.aborted);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  /** Appends the delivery's audit event when there is a database; a failure to do so is logged only. */
  private async audit(d: Delivery, kind: 'webhook.delivered' | 'webhook.failed', outcome: string, extra: Record<string, unknown>): Promise<void> {
    if (this.db === undefined) return;
    try {
      await appendAuditEvent(this.db, {
        occurredAt: new Date(),
        requestId: d.hold.pushId,
        kind,
        upstream: d.hold.upstream,
        repo: d.hold.repo,
        outcome,
        detail: { holdId: d.hold.id, event: d.event, target: d.host, delivery: d.id, ...extra },
      });
    } catch (e) {
      this.logger.error('webhook audit event not written', { holdId: d.hold.id, pushId: d.hold.pushId, kind, error: describeError(e) });
    }
  }
}
