/**
 * From a verified claims set to an Identity. Claims that are present but not of a shape we can
 * read are refused (AUTH_INVALID_CLAIM) rather than read as absent: groups and the agent flag
 * scope policy rules, so guessing would let a token slip past a rule meant for it.
 */
import type { Identity } from '@pushgate/core';
import { AuthError } from './errors';

/** Which claims carry email, groups and the agent flag for one issuer. */
export interface ClaimNames {
  readonly emailClaim: string;
  readonly groupsClaim: string;
  readonly agentClaim: string;
}

/**
 * Reads the agent flag. `true`, `"true"` and `1` mean an agent; `false`, `"false"` and `0` mean
 * not; a missing or `null` claim means not. Anything else ("yes", "True", 2, an object) is
 * AUTH_INVALID_CLAIM, so a misconfigured issuer cannot make agents look like humans.
 */
export function readAgentClaim(value: unknown, claim: string): boolean {
  if (value === undefined || value === null) return false;
  if (value === true || value === 'true' || value === 1) return true;
  if (value === false || value === 'false' || value === 0) return false;
  throw new AuthError(
    'AUTH_INVALID_CLAIM',
    `claim "${claim}" is ${describe(value)}; expected true, "true", 1, false, "false" or 0`,
    { claim, expected: 'boolean', actual: describe(value) },
  );
}

/**
 * Reads groups: an array of strings, or one string of names separated by spaces and/or commas
 * (how some providers flatten them). Empty names are dropped and duplicates kept once, in order;
 * missing or `null` means no groups.
 */
export function readGroupsClaim(value: unknown, claim: string): string[] {
  if (value === undefined || value === null) return [];
  let names: string[];
  if (typeof value === 'string') {
    names = value.split(/[\s,]+/);
  } else if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) {
    names = value;
  } else {
    const actual = Array.isArray(value) ? 'an array with a non-string member' : describe(value);
    throw new AuthError(
      'AUTH_INVALID_CLAIM',
      `claim "${claim}" is ${actual}; expected an array of strings or a space/comma separated string`,
      { claim, expected: 'string[] | string', actual },
    );
  }
  return [...new Set(names.filter((n) => n !== ''))];
}

/** Reads the email: a non-empty string, or nothing when the claim is missing or `null`. */
export function readEmailClaim(value: unknown, claim: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new AuthError('AUTH_INVALID_CLAIM', `claim "${claim}" is ${describe(value)}; expected a non-empty string`, {
      claim,
      expected: 'string',
      actual: describe(value),
    });
  }
  return value;
}

/**
 * The identity a verified claims set vouches for. `sub` is required. An email the token itself
 * marks unverified (OIDC `email_verified: false`) is dropped, because policy compares it with
 * commit authors and an unverified address is whatever the user typed.
 */
export function identityFromClaims(claims: Readonly<Record<string, unknown>>, issuer: string, names: ClaimNames): Identity {
  const sub = claims['sub'];
  if (sub === undefined || sub === null) {
    throw new AuthError('AUTH_MISSING_CLAIM', 'token has no "sub" (subject) claim', { claim: 'sub', issuer });
  }
  if (typeof sub !== 'string' || sub === '') {
    throw new AuthError('AUTH_INVALID_CLAIM', `claim "sub" is ${describe(sub)}; expected a non-empty string`, {
      claim: 'sub',
      expected: 'string',
      actual: describe(sub),
    });
  }
  let email = readEmailClaim(claims[names.emailClaim], names.emailClaim);
  if (email !== undefined && claims['email_verified'] === false) email = undefined;
  const groups = readGroupsClaim(claims[names.groupsClaim], names.groupsClaim);
  const agent = readAgentClaim(claims[names.agentClaim], names.agentClaim);
  return email === undefined ? { sub, issuer, groups, agent } : { sub, issuer, email, groups, agent };
}

/** Describes a claim value by type and, for short scalars, value — never a whole object. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value === '' ? 'an empty string' : `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    default:
      return `of type ${typeof value}`;
  }
}
