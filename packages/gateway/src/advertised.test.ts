import { describe, expect, it } from '@jest/globals';
import { Capabilities } from '@pushgate/protocol';
import { AdvertisedCapabilities } from './advertised';

describe('AdvertisedCapabilities', () => {
  const caps = Capabilities.parse('report-status side-band-64k atomic');

  it('recalls what an upstream repository advertised, per upstream and repository, until the TTL', () => {
    let now = 0;
    const cache = new AdvertisedCapabilities({ ttlMs: 60_000, now: () => now });
    cache.remember('local', 'team/app.git', caps);
    expect(cache.recall('local', 'team/app.git')).toBe(caps);
    expect(cache.recall('local', 'team/other.git')).toBeUndefined();
    expect(cache.recall('other', 'team/app.git')).toBeUndefined();
    now = 60_000;
    expect(cache.recall('local', 'team/app.git')).toBe(caps);
    now = 60_001;
    expect(cache.recall('local', 'team/app.git')).toBeUndefined();
  });

  it('forgets the least recently advertised repository beyond its bound', () => {
    const cache = new AdvertisedCapabilities({ maxEntries: 2, now: () => 0 });
    cache.remember('u', 'a', caps);
    cache.remember('u', 'b', caps);
    cache.remember('u', 'a', caps);
    cache.remember('u', 'c', caps);
    expect(['a', 'b', 'c'].map((r) => cache.recall('u', r) !== undefined)).toEqual([true, false, true]);
  });
});
