/** Progress of a long stage, reported to the git client on side-band 2 when it asked for progress. */
export interface ProgressEvent {
  /** What is being done, e.g. "inspecting objects". */
  readonly stage: string;
  readonly done: number;
  /** Total when known. */
  readonly total?: number;
}

/** Receives progress; must be cheap (it is called often) and must not throw. */
export type ProgressSink = (event: ProgressEvent) => void;
