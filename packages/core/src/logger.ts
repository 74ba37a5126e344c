/** The logging interface every package takes; the gateway backs it with winston (JSON lines). */

/** Structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/** A structured logger; `child` adds fields (request id, upstream, repo) to every line. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** A logger that drops everything (library defaults and tests that do not look at logs). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
