/**
 * The gateway's logger: winston writing one JSON object per line, every value passed through the
 * secret masker first (defence in depth: no code path logs a credential on purpose).
 */
import type { Writable } from 'node:stream';
import winston from 'winston';
import type { LogFields, Logger } from '@pushgate/core';
import type { SecretMasker } from '@pushgate/audit';

/** Log levels the config accepts. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Options of createLogger. */
export interface LoggerOptions {
  readonly level: LogLevel;
  readonly masker: SecretMasker;
  /** Where lines go; default stdout. */
  readonly stream?: Writable;
}

/** A Logger that can be flushed and closed at shutdown. */
export interface ClosableLogger extends Logger {
  /** Resolves once every line logged so far has been handed to the stream. */
  close(): Promise<void>;
}

/** Builds the JSON-lines logger. */
export function createLogger(options: LoggerOptions): ClosableLogger {
  const mask = winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (key === 'level') continue;
      info[key] = options.masker.maskValue(info[key]);
    }
    return info;
  });
  const base = winston.createLogger({
    level: options.level,
    format: winston.format.combine(mask(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
  const wrap = (fields: LogFields): Logger => {
    const log = (level: LogLevel) => (message: string, extra?: LogFields) => {
      base.log({ ...fields, ...extra, level, message });
    };
    return {
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: (more) => wrap({ ...fields, ...more }),
    };
  };
  return {
    ...wrap({}),
    close: () =>
      new Promise<void>((resolve) => {
        base.once('finish', () => resolve());
        base.end();
      }),
  };
}
