/**
 * Writes audit events to the store.
 *
 * Failure policy: an `http.request` event is written after the request finished; if that write
 * fails the request has already been served, so the failure is logged at error level and counted
 * (`pushgate_audit_write_failures_total`) — it never fails or crashes the request. A push is
 * different: its `push.received` event is written before the push is relayed, and when that write
 * fails the push is refused (503) so nothing reaches the upstream unrecorded (never fail open).
 */
import { PushgateError, silentLogger, type Logger } from '@pushgate/core';
import { appendAuditEvent, type Database } from '@pushgate/store';
import { httpRequestRow, pushReceivedRow, type AuditEventKind, type HttpRequestRecord, type PushReceivedRecord } from './events';
import type { SecretMasker } from './masker';

/** The audit store could not record a push, so the push is refused. */
export class AuditUnavailableError extends PushgateError<'AUDIT_UNAVAILABLE', { kind: AuditEventKind }> {
  constructor(kind: AuditEventKind, cause: unknown) {
    super('AUDIT_UNAVAILABLE', 'the audit store is unavailable, so the push was not relayed; try again later', {
      data: { kind },
      cause,
      delivery: { kind: 'http', status: 503 },
    });
  }
}

/** Options of an AuditRecorder. */
export interface AuditRecorderOptions {
  readonly db: Database;
  readonly masker: SecretMasker;
  readonly logger?: Logger;
  /** Called once per failed write (the gateway counts them in metrics). */
  readonly onWriteFailure?: (kind: AuditEventKind) => void;
}

/** Records the gateway's audit events; `drain()` waits for writes still in flight. */
export class AuditRecorder {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly logger: Logger;

  constructor(private readonly options: AuditRecorderOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Records a finished request; never throws (see the failure policy above). */
  async recordRequest(record: HttpRequestRecord): Promise<void> {
    try {
      await this.track(appendAuditEvent(this.options.db, httpRequestRow(record, this.options.masker)));
    } catch (e) {
      this.failed('http.request', record.requestId, e);
    }
  }

  /** Records a push before it is relayed; throws AuditUnavailableError when that is impossible. */
  async recordPushReceived(record: PushReceivedRecord): Promise<{ id: string }> {
    try {
      return await this.track(appendAuditEvent(this.options.db, pushReceivedRow(record, this.options.masker)));
    } catch (e) {
      this.failed('push.received', record.requestId, e);
      throw new AuditUnavailableError('push.received', e);
    }
  }

  /** Resolves when every write started so far has finished (used before closing the database). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = (): void => void this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  private failed(kind: AuditEventKind, requestId: string, e: unknown): void {
    this.options.onWriteFailure?.(kind);
    const message = this.options.masker.mask(e instanceof Error ? e.message : String(e));
    this.logger.error('AUDIT WRITE FAILED: an audit event was not recorded', { kind, requestId, error: message });
  }
}
