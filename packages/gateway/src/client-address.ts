/**
 * The client's address for logs and the audit record. Behind a load balancer the socket's peer is
 * the balancer; its `X-Forwarded-For` (a comma-separated list, each proxy appending the address it
 * received from) is believed only hop by hop from the right, and only while the hop that added an
 * entry is one of the configured trusted proxies — otherwise anyone could claim any address.
 */
import { BlockList, isIP } from 'node:net';

/** The address a request came from, given its socket's peer address and its X-Forwarded-For header. */
export type ClientAddressOf = (peer: string | undefined, forwardedFor: string | readonly string[] | undefined) => string | undefined;

/** True when `entry` is an IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrCidr(entry: string): boolean {
  const [ip, prefix, ...rest] = entry.split('/');
  const family = isIP(ip);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}

/** Builds the resolver; with no trusted proxies it is the socket's peer address. */
export function clientAddressResolver(trustedProxies: readonly string[]): ClientAddressOf {
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [ip, prefix] = entry.split('/');
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) trusted.addAddress(ip, type);
    else trusted.addSubnet(ip, Number(prefix), type);
  }
  const isTrusted = (addr: string): boolean => trusted.check(addr, isIP(addr) === 6 ? 'ipv6' : 'ipv4');
  return (peer, forwardedFor) => {
    let addr = unmapped(peer);
    if (addr === undefined || trustedProxies.length === 0 || !isTrusted(addr)) return addr;
    const hops = (typeof forwardedFor === 'string' ? forwardedFor : (forwardedFor ?? []).join(',')).split(',').map((h) => h.trim()).filter((h) => h !== '');
    for (const hop of hops.reverse()) {
      const candidate = unmapped(hop);
      if (candidate === undefined || isIP(candidate) === 0) return addr;
      addr = candidate;
      if (!isTrusted(candidate)) return candidate;
    }
    return addr;
  };
}

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) as `1.2.3.4`. */
function unmapped(addr: string | undefined): string | undefined {
  if (addr === undefined) return undefined;
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}
