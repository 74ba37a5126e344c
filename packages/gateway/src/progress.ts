/**
 * Progress of a push's inspection as the git client shows it: `remote: pushgate: indexing
 * objects: 41% (17000/42000)` lines on side-band 2 (gitprotocol-pack(5) "side-band,
 * side-band-64k"), redrawn in place with CR like git's own progress meter (progress.c) and
 * finished with ", done." and LF. A client that asked for `quiet` or for no side-band gets none.
 */
import type { ProgressEvent, ProgressSink } from '@pushgate/core';

/** How often a stage's line is redrawn; git's meter redraws on percentage change, about as often. */
const REDRAW_MS = 200;

/** Draws progress lines through `write` (which frames them for band 2). */
export class ClientProgress {
  private stage: string | undefined;
  private last: ProgressEvent | undefined;
  private drawnAt = 0;

  constructor(private readonly write: (text: string) => void) {}

  /** The sink to hand to the pack engine and the change-set builder. */
  readonly sink: ProgressSink = (event) => {
    if (event.stage !== this.stage) {
      this.finish();
      this.stage = event.stage;
      this.drawnAt = 0;
    }
    this.last = event;
    const now = performance.now();
    if (now - this.drawnAt < REDRAW_MS) return;
    this.drawnAt = now;
    this.write(`${render(event)}\r`);
  };

  /** Ends the current stage's line with its final count and ", done.". */
  finish(): void {
    if (this.stage === undefined || this.last === undefined) return;
    const last = this.last;
    const final = last.total === undefined ? last : { ...last, done: last.total };
    this.write(`${render(final)}, done.\n`);
    this.stage = undefined;
    this.last = undefined;
  }

  /**
   * Ends the current stage's line for a push that was refused: ", done." only if the stage had
   * reached its total; otherwise where it stopped (a push refused at 41% must not read as 100%
   * indexed), as git's meter is left when a command dies.
   */
  abandon(): void {
    if (this.stage === undefined || this.last === undefined) return;
    const last = this.last;
    if (last.total !== undefined && last.done === last.total) return this.finish();
    this.write(`${render(last)}\n`);
    this.stage = undefined;
    this.last = undefined;
  }

  /** A whole line of its own (after finishing any stage in progress). */
  line(text: string): void {
    this.finish();
    this.write(`${text}\n`);
  }
}

function render(e: ProgressEvent): string {
  if (e.stage === 'receiving pack') return `pushgate: ${e.stage}: ${mib(e.done)}`;
  if (e.total === undefined || e.total === 0) return `pushgate: ${e.stage}: ${e.done}`;
  const pct = Math.floor((e.done * 100) / e.total);
  return `pushgate: ${e.stage}: ${String(pct).padStart(3)}% (${e.done}/${e.total})`;
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(2)} KiB` : `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}
