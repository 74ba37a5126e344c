/**
 * Push options addressed to the gateway rather than the real server: `wait` and `wait=<seconds>`
 * (`git push -o wait`: keep the client connected until a decision), and every option in the
 * `pushgate.` namespace — session metadata an AI agent (or its harness) attaches to a push, e.g.
 * `-o pushgate.session=<id>` or `-o pushgate.model=<name>`, which the audit record keeps with the
 * push and the policy's `pushOptions` scope can match. They are removed before a push is relayed;
 * every other option goes on (and `relayPush` drops them all when the upstream does not advertise
 * `push-options`).
 */

/** The namespace of push options that carry metadata for the gateway (recorded, never relayed). */
export const GATEWAY_OPTION_PREFIX = 'pushgate.';

/** True for an option addressed to the gateway itself (`wait`, `wait=<n>`, `pushgate.*`). */
export function isGatewayPushOption(option: string): boolean {
  return option === 'wait' || option.startsWith('wait=') || option.startsWith(GATEWAY_OPTION_PREFIX);
}

/** The options of `options` addressed to the gateway, in order. */
export function gatewayPushOptions(options: readonly string[]): string[] {
  return options.filter(isGatewayPushOption);
}

/** The options to relay upstream: all but the gateway's own, in order. */
export function relayedPushOptions(options: readonly string[]): string[] {
  return options.filter((o) => !isGatewayPushOption(o));
}
