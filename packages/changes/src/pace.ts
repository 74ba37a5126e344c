/**
 * Pacing a long CPU-bound build: every ~10 ms it yields to the event loop (so one large push
 * never stalls other clients' fetches), checks whether the caller gave up, and reports progress.
 */
import type { ProgressSink } from '@pushgate/core';
import { ChangesError } from './errors';

/** How often to yield, in milliseconds. */
const SLICE_MS = 10;

/** Yields, checks abort and reports progress for one build. */
export class Pacer {
  private last = performance.now();

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly onProgress: ProgressSink | undefined,
  ) {}

  /** Throws CHANGES_ABORTED when the caller gave up. */
  check(): void {
    if (this.signal?.aborted) {
      throw new ChangesError('CHANGES_ABORTED', 'inspection of the push was aborted', { detail: String(this.signal.reason ?? '') }, this.signal.reason);
    }
  }

  /** Call often: yields when the current slice is used up. */
  async tick(): Promise<void> {
    if (this.due()) await this.yield();
  }

  /**
   * Whether the current slice is used up. Hot loops write `if (pacer.due()) await pacer.yield()`:
   * awaiting even a finished promise costs a microtask turn per iteration.
   */
  due(): boolean {
    return performance.now() - this.last >= SLICE_MS;
  }

  /** Yields to the event loop now, then throws CHANGES_ABORTED if the caller gave up meanwhile. */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    this.check();
  }

  /** Reports progress of a stage (never throws: a sink that does is ignored). */
  progress(stage: string, done: number, total?: number): void {
    try {
      this.onProgress?.({ stage, done, ...(total !== undefined ? { total } : {}) });
    } catch {
      // Progress is best effort; a failing sink must not fail the push.
    }
  }
}
