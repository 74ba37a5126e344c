import { describe, expect, it } from '@jest/globals';
import { upstreamRejected, type UpstreamReportRecord } from './events';

const report = (unpack: string, refs: [string, 'ok' | 'ng'][]): UpstreamReportRecord => ({
  kind: 'report',
  unpack,
  refs: refs.map(([ref, status]) => (status === 'ok' ? { ref, status } : { ref, status, reason: 'pre-receive hook declined' })),
  messages: [],
});

describe('upstreamRejected', () => {
  it.each<[string, UpstreamReportRecord | undefined, boolean]>([
    ['every ref ok', report('ok', [['refs/heads/main', 'ok'], ['refs/tags/v1', 'ok']]), false],
    ['one ref ng among several', report('ok', [['refs/heads/main', 'ok'], ['refs/heads/blocked', 'ng']]), true],
    ['every ref ng (atomic)', report('ok', [['refs/heads/a', 'ng'], ['refs/heads/b', 'ng']]), true],
    ['unpack failed', report('index-pack failed', [['refs/heads/main', 'ng']]), true],
    ['the upstream aborted the push', { kind: 'fatal', message: 'protocol error', messages: [] }, true],
    ['the client asked for no report', { kind: 'no-report', messages: [] }, false],
    ['the answer could not be read', { kind: 'unreadable', reason: 'cut off' }, false],
    ['nothing was relayed', undefined, false],
  ])('%s', (_name, r, expected) => {
    expect(upstreamRejected(r)).toBe(expected);
  });
});
