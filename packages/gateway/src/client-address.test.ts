import { describe, expect, it } from '@jest/globals';
import { clientAddressResolver, isAddressOrCidr } from './client-address';

describe('clientAddressResolver', () => {
  it('uses the peer address when no proxy is trusted, whatever X-Forwarded-For claims', () => {
    const of = clientAddressResolver([]);
    expect(of('203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
    expect(of('::ffff:127.0.0.1', undefined)).toBe('127.0.0.1');
  });

  it('believes X-Forwarded-For hop by hop only through trusted proxies', () => {
    const of = clientAddressResolver(['10.0.0.0/8', '192.0.2.7']);
    expect(of('10.1.2.3', '198.51.100.4')).toBe('198.51.100.4');
    // the client put a fake entry first; the balancer appended the real peer
    expect(of('10.1.2.3', '6.6.6.6, 198.51.100.4')).toBe('198.51.100.4');
    // two trusted hops
    expect(of('10.1.2.3', '198.51.100.4, 192.0.2.7')).toBe('198.51.100.4');
    // an untrusted peer's header is ignored
    expect(of('203.0.113.9', '198.51.100.4')).toBe('203.0.113.9');
    // garbage stops the walk at the last address known
    expect(of('10.1.2.3', 'not-an-ip')).toBe('10.1.2.3');
    expect(of('10.1.2.3', undefined)).toBe('10.1.2.3');
  });

  it('validates entries', () => {
    expect(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1'].every(isAddressOrCidr)).toBe(true);
    expect(['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '1.2.3.4/x'].some(isAddressOrCidr)).toBe(false);
  });
});
