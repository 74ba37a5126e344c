/**
 * The change-set build's pacer: core's Pacer (yield every ~10 ms, abort check, progress that never
 * throws) with an abort reported as CHANGES_ABORTED, the code docs/ERRORS.md gives a push whose
 * inspection stopped because the request ended.
 */
import { Pacer as CorePacer, type ProgressSink } from '@pushgate/core';
import { ChangesError } from './errors';

/** Paces one change-set build; an abort throws CHANGES_ABORTED. */
export class Pacer extends CorePacer {
  constructor(signal: AbortSignal | undefined, onProgress: ProgressSink | undefined) {
    super({
      signal,
      onProgress,
      abortError: (reason) => new ChangesError('CHANGES_ABORTED', 'inspection of the push was aborted', { detail: String(reason ?? '') }, reason),
    });
  }
}
