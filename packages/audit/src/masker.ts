/**
 * Secret masking, defence in depth: the gateway never puts an upstream credential into a log line,
 * an error or an audit row on purpose, and this masker scrubs every configured secret value from
 * all of them anyway, in the forms it could travel in (as is, URL-encoded, and inside the Basic
 * `Authorization` value built from it).
 */

/** What a masked secret is replaced with. */
export const MASK = '[MASKED]';

/**
 * Secrets shorter than this are still masked but reported by `weakSecrets()`: masking a very short
 * value also hides innocent text that happens to contain it, and such a credential is weak anyway.
 */
export const MIN_SECRET_LENGTH = 8;

/** Removes known secret values from text and structured values. */
export class SecretMasker {
  private secrets: string[] = [];

  constructor(secrets: Iterable<string> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Adds a secret (and its URL-encoded form); empty strings are ignored. */
  add(secret: string): void {
    for (const form of [secret, encodeURIComponent(secret)]) {
      if (form.length > 0 && !this.secrets.includes(form)) this.secrets.push(form);
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  /** Adds the secrets of an HTTP Basic credential: the password and the header value built from it. */
  addBasicCredential(username: string, password: string): void {
    this.add(password);
    this.add(Buffer.from(`${username}:${password}`, 'utf8').toString('base64'));
  }

  /** How many secret forms are known. */
  get size(): number {
    return this.secrets.length;
  }

  /** The known secrets shorter than MIN_SECRET_LENGTH, reported by count only. */
  weakSecrets(): number {
    return this.secrets.filter((s) => s.length < MIN_SECRET_LENGTH).length;
  }

  /** `text` with every known secret replaced by MASK. */
  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) {
      if (out.includes(s)) out = out.split(s).join(MASK);
    }
    return out;
  }

  /**
   * A copy of `value` with every string in it masked (object keys included), recursing through
   * plain objects, arrays and errors. Dates, numbers and booleans are kept; cycles are cut, while
   * a value shared by several parents (a decision's approvers, also on its reasons) is copied at
   * each place it appears.
   */
  maskValue<T>(value: T): T {
    return this.walk(value, new WeakSet()) as T;
  }

  /** `ancestors`: the objects being copied on the way down to `value`, the only ones that make a cycle. */
  private walk(value: unknown, ancestors: WeakSet<object>): unknown {
    if (typeof value === 'string') return this.mask(value);
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Date) return value;
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
    if (ancestors.has(value)) return '[Circular]';
    ancestors.add(value);
    try {
      if (Array.isArray(value)) return value.map((v) => this.walk(v, ancestors));
      if (value instanceof Error) {
        const out: Record<string, unknown> = { name: value.name, message: this.mask(value.message) };
        const code = (value as { code?: unknown }).code;
        if (code !== undefined) out.code = this.walk(code, ancestors);
        return out;
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[this.mask(k)] = this.walk(v, ancestors);
      return out;
    } finally {
      ancestors.delete(value);
    }
  }
}
