/**
 * Push options the gateway reads itself (`git push -o wait`, `-o wait=<seconds>`: keep the client
 * connected until a decision). They are addressed to pushgate, not to the real server, so they are
 * removed before a push is relayed; every other option goes on (and `relayPush` drops them all
 * when the upstream does not advertise `push-options`).
 */

/** True for an option addressed to the gateway itself (`wait`, `wait=<n>`). */
export function isGatewayPushOption(option: string): boolean {
  return option === 'wait' || option.startsWith('wait=');
}

/** The options of `options` addressed to the gateway, in order. */
export function gatewayPushOptions(options: readonly string[]): string[] {
  return options.filter(isGatewayPushOption);
}

/** The options to relay upstream: all but the gateway's own, in order. */
export function relayedPushOptions(options: readonly string[]): string[] {
  return options.filter((o) => !isGatewayPushOption(o));
}
