import { describe, expect, it } from '@jest/globals';
import { gatewayPushOptions, isGatewayPushOption, relayedPushOptions } from './push-options';

describe('push options addressed to the gateway', () => {
  it('are wait, wait=<n> and the pushgate. namespace; everything else is the upstream\'s', () => {
    for (const o of ['wait', 'wait=30', 'wait=', 'pushgate.session=s-1', 'pushgate.model=x', 'pushgate.']) expect(isGatewayPushOption(o)).toBe(true);
    for (const o of ['ci.skip', 'topic=x', 'waiting', 'Wait', 'merge_request.create', 'pushgate', 'xpushgate.session=1']) expect(isGatewayPushOption(o)).toBe(false);
  });

  it('split a push\'s options in order, losing none', () => {
    const options = ['ci.skip', 'wait=60', 'pushgate.session=s-42', 'topic=x', 'wait'];
    expect(gatewayPushOptions(options)).toEqual(['wait=60', 'pushgate.session=s-42', 'wait']);
    expect(relayedPushOptions(options)).toEqual(['ci.skip', 'topic=x']);
  });
});
