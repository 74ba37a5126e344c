/**
 * Keeps long pack loops cooperative: they ask `due()` per object (a clock read), and when it is
 * time they `pause()`, which reports progress (at most every ~100 ms), yields to the event loop
 * (so one large push never stalls other clients) and honours cancellation.
 */
import type { ProgressSink } from '@pushgate/core';

/** How long a loop may run before yielding: ~10 ms keeps other requests' latency low. */
const YIELD_EVERY_MS = 10;
/** How often progress is reported: git's own progress meter updates at a similar rate. */
const REPORT_EVERY_MS = 100;

/** The stages of pack indexing as progress reports name them. */
export type PackStage = 'receiving pack' | 'indexing objects' | 'resolving deltas';

/** Paces one long-running pack operation. */
export class Pacer {
  private lastYield = performance.now();
  private lastReport = performance.now();

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly onProgress: ProgressSink | undefined,
  ) {
    signal?.throwIfAborted();
  }

  /** True when the loop has run ~10 ms since it last yielded. */
  due(): boolean {
    return performance.now() - this.lastYield >= YIELD_EVERY_MS;
  }

  /** Reports progress if ~100 ms have passed, yields to the event loop, then checks for abort. */
  async pause(stage: PackStage, done: number, total?: number): Promise<void> {
    const now = performance.now();
    if (this.onProgress && now - this.lastReport >= REPORT_EVERY_MS) {
      this.lastReport = now;
      this.onProgress({ stage, done, total });
    }
    await new Promise(setImmediate);
    this.lastYield = performance.now();
    this.signal?.throwIfAborted();
  }

  /** Reports that a stage finished. */
  finished(stage: PackStage, done: number, total?: number): void {
    this.lastReport = performance.now();
    this.onProgress?.({ stage, done, total });
  }
}
