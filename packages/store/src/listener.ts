/**
 * LISTEN on PostgreSQL: one dedicated connection per Database (a pooled connection cannot listen:
 * it is handed to other requests, and the pool closes idle ones), opened at the first `listen`,
 * listening on every subscribed channel. When it drops (server restart, a terminated backend, the
 * network) it is reopened with backoff and listens again; notifications sent meanwhile are lost,
 * which is why listeners also poll.
 */
import { Client, type Notification } from 'pg';
import type { Logger } from '@pushgate/core';
import { describe } from './errors';

/** The first reconnection waits this long, doubling up to RECONNECT_MAX_MS. */
const RECONNECT_FIRST_MS = 100;
/** A server that stays down is retried this often. */
const RECONNECT_MAX_MS = 10_000;

/** Options of the listener's connection. */
export interface ListenerOptions {
  readonly url: string;
  readonly description: string;
  readonly scrub: (text: string) => string;
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
}

type Subscriber = (payload: string) => void;

/** The LISTEN connection of one Database. */
export class PgListener {
  readonly #channels = new Map<string, Set<Subscriber>>();
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;

  constructor(private readonly options: ListenerOptions) {}

  /** Subscribes `onNotify` to `channel`; resolves once the server listens. */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const subscriber: Subscriber = (payload) => onNotify(payload);
    let set = this.#channels.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    set.add(subscriber);
    try {
      const client = await this.#connected();
      // LISTEN twice is a no-op, so a channel the connection already listens on is harmless.
      await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (e) {
      this.#unsubscribe(channel, subscriber);
      throw e;
    }
    return async () => {
      if (!this.#unsubscribe(channel, subscriber)) return;
      const client = this.#client;
      if (client === undefined) return;
      await client.query(`UNLISTEN ${client.escapeIdentifier(channel)}`).catch(() => undefined);
    };
  }

  /** Removes a subscriber; true when its channel has none left. */
  #unsubscribe(channel: string, subscriber: Subscriber): boolean {
    const set = this.#channels.get(channel);
    if (set === undefined || !set.delete(subscriber)) return false;
    if (set.size > 0) return false;
    this.#channels.delete(channel);
    return true;
  }

  /** Ends the connection and stops reconnecting. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#channels.clear();
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connected(): Promise<Client> {
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      application_name: 'pushgate-listen',
      keepAlive: true,
    });
    let lost = false;
    const onLost = (e?: Error): void => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.options.logger.warn('PostgreSQL notification connection lost; reconnecting', {
        database: this.options.description,
        error: this.options.scrub(e === undefined ? 'connection ended' : describe(e)),
      });
      this.#scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n: Notification) => this.#dispatch(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.#channels.keys()) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (e) {
      lost = true;
      await client.end().catch(() => undefined);
      throw e;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      throw new Error(`${this.options.description} was closed`);
    }
    this.#client = client;
    this.#failures = 0;
    return client;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry !== undefined || this.#channels.size === 0) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.#failures);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed || this.#channels.size === 0) return;
      this.#connected().then(
        () => this.options.logger.info('PostgreSQL notification connection restored', { database: this.options.description }),
        (e: unknown) => {
          this.#failures++;
          this.options.logger.warn('PostgreSQL notification connection failed; retrying', {
            database: this.options.description,
            error: this.options.scrub(describe(e)),
            retryInMs: Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.#failures),
          });
          this.#scheduleReconnect();
        },
      );
    }, delay);
    // A pending reconnection alone does not keep the process alive.
    this.#retry.unref();
  }

  #dispatch(channel: string, payload: string): void {
    for (const subscriber of this.#channels.get(channel) ?? []) {
      try {
        subscriber(payload);
      } catch (e) {
        this.options.logger.error('notification listener failed', { database: this.options.description, channel, error: describe(e) });
      }
    }
  }
}
