/**
 * Keeping long CPU-bound loops cooperative (pack scanning, delta resolution, change-set building):
 * a loop asks `due()` (a clock read) as often as it likes, and when its ~2 ms slice is used up it
 * `yield()`s to the event loop, so one large push never stalls other clients' fetches, and then
 * learns whether its caller gave up. Progress goes to a sink that may never fail the work.
 */
import type { ProgressSink } from './progress';

/**
 * How long a loop may run before yielding. A small push served while a large one is inspected
 * waits up to a slice at each of its own I/O steps (a few dozen): with 10 ms slices a one-commit
 * push took 5.8× its idle time, with 2 ms 2.3×, while the large push's inspection took no longer
 * alone (scripts/bench/push.ts, busy and history parts).
 */
export const PACER_SLICE_MS = 2;
/** How often throttled progress is reported: git's own progress meter updates at a similar rate. */
export const PACER_REPORT_EVERY_MS = 100;

/** Options of a Pacer. */
export interface PacerOptions {
  /** The caller's signal: once aborted, the next check throws. */
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressSink;
  /**
   * The error thrown when `signal` is aborted, built from its reason; by default the reason itself
   * is thrown (as `signal.throwIfAborted()` does), for packages that have no code of their own.
   */
  readonly abortError?: (reason: unknown) => unknown;
}

/** Paces one long-running operation: yields every ~2 ms, checks for abort, reports progress. */
export class Pacer {
  private readonly signal: AbortSignal | undefined;
  private readonly onProgress: ProgressSink | undefined;
  private readonly abortError: (reason: unknown) => unknown;
  private lastYield = performance.now();
  private lastReport = performance.now();

  constructor(options: PacerOptions = {}) {
    this.signal = options.signal;
    this.onProgress = options.onProgress;
    this.abortError = options.abortError ?? ((reason) => reason);
  }

  /** Throws the abort error when the caller gave up. */
  check(): void {
    if (this.signal?.aborted) throw this.abortError(this.signal.reason);
  }

  /**
   * Whether the current slice is used up. Hot loops write `if (pacer.due()) await pacer.yield()`:
   * awaiting even a settled promise costs a microtask turn per iteration.
   */
  due(): boolean {
    return performance.now() - this.lastYield >= PACER_SLICE_MS;
  }

  /** Yields to the event loop now, then throws the abort error if the caller gave up meanwhile. */
  async yield(): Promise<void> {
    // setImmediate, not a resolved promise: pending I/O callbacks must get their turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.lastYield = performance.now();
    this.check();
  }

  /** Yields when the current slice is used up (for loops cold enough that an await per call costs nothing). */
  async tick(): Promise<void> {
    if (this.due()) await this.yield();
  }

  /** Reports progress if ~100 ms have passed since the last report, then yields (and checks for abort). */
  async pause(stage: string, done: number, total?: number): Promise<void> {
    if (performance.now() - this.lastReport >= PACER_REPORT_EVERY_MS) this.progress(stage, done, total);
    await this.yield();
  }

  /** Reports progress of a stage now, whatever the time since the last report. */
  progress(stage: string, done: number, total?: number): void {
    this.lastReport = performance.now();
    try {
      this.onProgress?.({ stage, done, ...(total !== undefined ? { total } : {}) });
    } catch {
      // Progress is best effort: a failing sink must not fail the work it reports on.
    }
  }
}
