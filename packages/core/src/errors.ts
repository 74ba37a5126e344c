/**
 * Errors as data. Every error pushgate shows a git client carries a literal `code` (the public
 * contract, listed in docs/ERRORS.md), a `data` payload for machines, and says how it reaches
 * the client, so a refused push renders the same in git, in logs and in the audit record.
 */

/** How an error reaches the git client. */
export type ClientDelivery =
  /** Before any git protocol output: an HTTP status with a plain-text body. */
  | { readonly kind: 'http'; readonly status: number }
  /** A push whose pack cannot be accepted: `unpack <reason>` and `ng <ref>` for every ref. */
  | { readonly kind: 'unpack' }
  /** A push refused per ref: `ng <ref> <reason>` for the refs named (or all when none named). */
  | { readonly kind: 'ng'; readonly refs?: readonly string[] };

/** Options for constructing a PushgateError. */
export interface PushgateErrorOptions<Data> {
  readonly data?: Data;
  readonly cause?: unknown;
  readonly delivery?: ClientDelivery;
}

/** The one base error of pushgate: a stable `code`, a message for humans, `data` for machines. */
export class PushgateError<Code extends string = string, Data = unknown> extends Error {
  readonly code: Code;
  readonly data: Data | undefined;
  readonly delivery: ClientDelivery;

  constructor(code: Code, message: string, options: PushgateErrorOptions<Data> = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = options.data;
    this.delivery = options.delivery ?? { kind: 'unpack' };
  }

  /** The single line a git client is shown, e.g. `PACK_BAD_TRAILER: pack checksum mismatch`. */
  clientMessage(): string {
    return `${this.code}: ${this.message}`;
  }

  toJSON(): { name: string; code: Code; message: string; data: Data | undefined } {
    return { name: this.name, code: this.code, message: this.message, data: this.data };
  }
}

/** True when `e` is a PushgateError (optionally with the given code). */
export function isPushgateError(e: unknown, code?: string): e is PushgateError {
  return e instanceof PushgateError && (code === undefined || e.code === code);
}

/**
 * A failure inside pushgate rather than in what the client sent. Shown to the client as
 * "internal error" with the request id, never with details that could leak configuration.
 */
export class InternalError extends PushgateError<'INTERNAL'> {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, { cause, delivery: { kind: 'http', status: 500 } });
  }
}
