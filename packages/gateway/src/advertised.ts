/**
 * The receive-pack capabilities each upstream repository advertised last, kept for a short time.
 * git fetches the advertisement (`GET info/refs?service=git-receive-pack`) moments before it POSTs
 * its push, and the gateway relays that advertisement; the relay then needs the upstream's
 * capabilities to build its own request (gitprotocol-capabilities(5)). Remembering them here saves
 * the live push a second round trip to the upstream; when they are missing or old, the relay reads
 * the advertisement itself. Only capabilities are kept: the live push does not need the refs.
 */
import type { Capabilities } from '@pushgate/protocol';

/** How long an advertisement's capabilities are used: a push follows its advertisement within seconds. */
export const ADVERTISED_TTL_MS = 60_000;
/** Repositories remembered at once; the oldest is forgotten first. */
export const ADVERTISED_MAX_ENTRIES = 1_000;

/** Options of AdvertisedCapabilities. */
export interface AdvertisedCapabilitiesOptions {
  readonly ttlMs?: number;
  readonly maxEntries?: number;
  /** Milliseconds now (tests). */
  readonly now?: () => number;
}

/** A small bounded cache of (upstream, repository) → the capabilities its receive-pack advertised. */
export class AdvertisedCapabilities {
  private readonly entries = new Map<string, { readonly capabilities: Capabilities; readonly at: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: AdvertisedCapabilitiesOptions = {}) {
    this.ttlMs = options.ttlMs ?? ADVERTISED_TTL_MS;
    this.maxEntries = options.maxEntries ?? ADVERTISED_MAX_ENTRIES;
    this.now = options.now ?? (() => performance.now());
  }

  /** Remembers what `upstream` advertised for `repoPath` just now. */
  remember(upstream: string, repoPath: string, capabilities: Capabilities): void {
    const key = keyOf(upstream, repoPath);
    // Deleted first so that the entry moves to the end: the Map's order is the eviction order.
    this.entries.delete(key);
    this.entries.set(key, { capabilities, at: this.now() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** What `upstream` advertised for `repoPath` within the TTL, if anything. */
  recall(upstream: string, repoPath: string): Capabilities | undefined {
    const key = keyOf(upstream, repoPath);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() - entry.at > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.capabilities;
  }
}

function keyOf(upstream: string, repoPath: string): string {
  // Neither an upstream name nor a validated path contains NUL.
  return `${upstream}\0${repoPath}`;
}
