/**
 * `database.url` carries a password; it must never reach a log line, an error message or an audit
 * record. This module is the one place that reads the URL, and everything else sees the masked form.
 */
import { StoreError } from './errors';

/** A checked database URL: the real one for the driver, a masked one for humans, and a scrubber. */
export interface DatabaseUrl {
  /** The URL as configured, for the driver only. */
  readonly url: string;
  /** The URL with its password (in the userinfo or a `password=` parameter) replaced by `***`. */
  readonly masked: string;
  /** Removes every occurrence of the password (raw and percent-encoded) from a text. */
  scrub(text: string): string;
}

const MASK = '***';

/** Masks the password in anything that looks like a URL, even one that does not parse. */
export function maskDatabaseUrl(url: string): string {
  return url
    // Greedy to the last '@' of the authority, as URL parsers read it, so a raw '@' in the
    // password cannot leave its tail visible.
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#]*@/i, `$1:${MASK}@`)
    .replace(/([?&]password=)[^&#]*/gi, `$1${MASK}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Checks that `url` is a postgres:// or postgresql:// URL and prepares its masked form. */
export function parseDatabaseUrl(url: string): DatabaseUrl {
  const masked = maskDatabaseUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Neither URL's own error (Node attaches the whole input to it) nor the input: where a URL
    // does not parse, masking cannot be trusted to find the password.
    throw new StoreError(
      'STORE_BAD_URL',
      'database.url is not a valid URL (postgres://user:password@host:port/database); it is not shown as it may contain a password',
      {},
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new StoreError(
      'STORE_BAD_URL',
      `database.url must start with postgres:// or postgresql://, not ${parsed.protocol}//: ${masked}`,
      { url: masked, expected: ['postgres:', 'postgresql:'], actual: parsed.protocol },
    );
  }
  const secrets = new Set<string>();
  for (const raw of [parsed.password, parsed.searchParams.get('password') ?? '']) {
    if (raw === '') continue;
    secrets.add(raw);
    secrets.add(safeDecode(raw));
    secrets.add(encodeURIComponent(safeDecode(raw)));
  }
  // Longest first, so a password that contains another form of itself is removed whole.
  const ordered = [...secrets].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  return {
    url,
    masked,
    scrub: (text) => ordered.reduce((t, secret) => t.split(secret).join(MASK), text),
  };
}
