/** Token lifetimes as operators type them: `45s`, `30m`, `1h`, `7d`. */
import { AuthError } from './errors';

/**
 * The longest lifetime of a gateway-issued token by default: 30 days. A gateway token cannot be
 * revoked before it expires (only by rotating the signing key, which revokes all of them), so a
 * leaked token stays usable this long at most; long-lived automation should be issued fresh
 * tokens rather than one that never ends.
 */
export const DEFAULT_MAX_TOKEN_TTL_SEC = 30 * 24 * 60 * 60;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
// At most 9 digits: the seconds stay exact in a double and far below any sane maximum.
const DURATION_RE = /^([1-9][0-9]{0,8})([smhd])$/;

/**
 * Seconds in a duration such as `1h`; throws AUTH_BAD_DURATION for anything else and
 * AUTH_TTL_TOO_LONG above `maxSec` (default DEFAULT_MAX_TOKEN_TTL_SEC).
 */
export function parseDuration(text: string, maxSec: number = DEFAULT_MAX_TOKEN_TTL_SEC): number {
  const m = DURATION_RE.exec(text);
  if (m === null) {
    throw new AuthError(
      'AUTH_BAD_DURATION',
      `duration ${JSON.stringify(text.slice(0, 40))} is not a positive whole number followed by s, m, h or d (e.g. 45s, 30m, 1h, 7d)`,
      { actual: text.slice(0, 40), expected: '<n>s|<n>m|<n>h|<n>d' },
    );
  }
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  return checkTtl(seconds, maxSec, text);
}

/** Returns `seconds` when it is a whole positive lifetime no longer than `maxSec`. */
export function checkTtl(seconds: number, maxSec: number = DEFAULT_MAX_TOKEN_TTL_SEC, shown: string = `${seconds}s`): number {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new AuthError('AUTH_BAD_DURATION', `token lifetime ${shown} is not a whole positive number of seconds`, {
      actual: seconds,
    });
  }
  if (seconds > maxSec) {
    throw new AuthError(
      'AUTH_TTL_TOO_LONG',
      `token lifetime ${shown} (${seconds}s) exceeds the maximum of ${maxSec}s`,
      { actual: seconds, max: maxSec },
    );
  }
  return seconds;
}
