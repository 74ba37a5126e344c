/** fast-check arbitraries for protocol values, shared by the property tests of this package. */
import fc from 'fast-check';
import { ZERO_OID, type Oid, type RefUpdate } from '@pushgate/core';
import { Capabilities, type CapabilityEntry } from './capabilities';
import type { ReceivePackRequest } from './request';

/** A random SHA-1 object id (never the zero id). */
export const oidArb: fc.Arbitrary<Oid> = fc
  .stringMatching(/^[0-9a-f]{40}$/)
  .filter((s) => s !== ZERO_OID)
  .map((s) => s as Oid);

const componentArb = fc.oneof(fc.stringMatching(/^[a-z0-9_-][a-z0-9_.-]{0,8}[a-z0-9_-]$/), fc.constantFrom('ü', 'main', 'v1.0', '日本', 'x@y'));

/** A ref name git's receive-pack accepts. */
export const refArb: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('heads', 'tags', 'notes', 'pushgate'), fc.array(componentArb, { minLength: 1, maxLength: 3 }))
  .map(([category, parts]) => `refs/${category}/${parts.join('/')}`)
  .filter((r) => !r.includes('..'));

/** One create, update or delete (zero to zero included: git's delete of a ref the server does not have). */
export const commandArb = (ref: fc.Arbitrary<string> = refArb): fc.Arbitrary<RefUpdate> =>
  fc.record({
    ref,
    oldOid: fc.oneof(fc.constant(ZERO_OID), oidArb),
    newOid: fc.oneof(fc.constant(ZERO_OID), oidArb),
  });

const printable = fc.stringMatching(/^[\x21-\x7e]{0,20}$/);

/** A capability list a git client could send to pushgate. */
export const requestCapabilitiesArb: fc.Arbitrary<Capabilities> = fc
  .tuple(
    fc.subarray(['report-status', 'report-status-v2', 'quiet', 'atomic', 'push-options', 'ofs-delta', 'delete-refs']),
    fc.constantFrom<string[]>([], ['side-band'], ['side-band-64k']),
    fc.option(printable.map((v): CapabilityEntry => ({ name: 'agent', value: v }))),
    fc.option(printable.map((v): CapabilityEntry => ({ name: 'session-id', value: v }))),
    fc.boolean(),
  )
  .chain(([flags, sideband, agent, session, sha1]) => {
    const entries: CapabilityEntry[] = [...flags, ...sideband].map((name) => ({ name, value: true }));
    if (agent) entries.push(agent);
    if (session) entries.push(session);
    if (sha1) entries.push({ name: 'object-format', value: 'sha1' });
    return fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length });
  })
  .map((entries) => new Capabilities(entries));

/** A push option: one line of text (NUL, CR and LF excluded). */
export const pushOptionArb: fc.Arbitrary<string> = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !/[\0\r\n]/.test(s));

/** A whole request. */
export const requestArb: fc.Arbitrary<ReceivePackRequest> = fc
  .record({
    commands: fc.uniqueArray(commandArb(), { minLength: 1, maxLength: 8, selector: (c) => c.ref }),
    capabilities: requestCapabilitiesArb,
    shallow: fc.array(oidArb, { maxLength: 3 }),
    pushOptions: fc.array(pushOptionArb, { maxLength: 4 }),
  })
  .map((r) => ({ ...r, pushOptions: r.capabilities.pushOptions ? r.pushOptions : [] }));
