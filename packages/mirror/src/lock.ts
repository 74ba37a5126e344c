/**
 * A readers-writer lock per key, in process. Inspections read a mirror concurrently (shared);
 * fetching into it and repacking it are exclusive, so a repack never removes a pack an
 * inspection still has to open, and two fetches never race on the same refs.
 */

/** Releases what was acquired; calling it twice is harmless. */
export type Release = () => void;

interface State {
  readers: number;
  writer: boolean;
  queue: { write: boolean; grant: () => void }[];
}

/** Keyed readers-writer locks; writers are served in arrival order and are not starved. */
export class KeyedRwLock {
  private readonly states = new Map<string, State>();

  /** Waits for shared access to `key`. */
  read(key: string): Promise<Release> {
    return this.acquire(key, false);
  }

  /** Waits for exclusive access to `key`. */
  write(key: string): Promise<Release> {
    return this.acquire(key, true);
  }

  /** Exclusive access to `key` at once if nobody holds it or waits for it, else undefined (never waits). */
  tryWrite(key: string): Release | undefined {
    if (this.states.has(key)) return undefined;
    const state: State = { readers: 0, writer: true, queue: [] };
    this.states.set(key, state);
    return this.releaser(key, state, true);
  }

  private acquire(key: string, write: boolean): Promise<Release> {
    let s = this.states.get(key);
    if (!s) {
      s = { readers: 0, writer: false, queue: [] };
      this.states.set(key, s);
    }
    const state = s;
    return new Promise((resolve) => {
      state.queue.push({ write, grant: () => resolve(this.releaser(key, state, write)) });
      this.pump(key, state);
    });
  }

  private releaser(key: string, state: State, write: boolean): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (write) state.writer = false;
      else state.readers--;
      this.pump(key, state);
    };
  }

  private pump(key: string, state: State): void {
    while (state.queue.length > 0 && !state.writer) {
      const next = state.queue[0];
      if (next.write) {
        if (state.readers > 0) break;
        state.queue.shift();
        state.writer = true;
        next.grant();
        break;
      }
      state.queue.shift();
      state.readers++;
      next.grant();
    }
    if (!state.writer && state.readers === 0 && state.queue.length === 0) this.states.delete(key);
  }
}
