/**
 * Starting a pushgate gateway for tests, benchmarks and the demo: in this process (fast, the
 * gateway's objects reachable), or as a child `node dist/pushgate.js serve` (real process: RSS,
 * signals, the CLI). Its config is written to a YAML file in a fresh data directory, exactly as an
 * operator would write it. @pushgate/gateway is imported dynamically so testkit has no static
 * dependency on the package whose tests use it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { PushgateError } from '@pushgate/core';

/** The gateway could not be started (missing bundle, exited early, never listened). */
export class GatewayStartError extends PushgateError<'TESTKIT_GATEWAY_FAILED', Record<string, unknown>> {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TESTKIT_GATEWAY_FAILED', message, { data, delivery: { kind: 'http', status: 500 } });
  }
}

/** How to run the gateway. */
export type GatewayMode = 'in-process' | 'child';

/** Options of startGateway. */
export interface StartGatewayOptions {
  readonly mode: GatewayMode;
  /**
   * The config as it would be written in YAML (see docs/CONFIG.md); `upstreams` is required.
   * `listen` defaults to 127.0.0.1 port 0, `dataDir` to `./data` beside the config file and
   * `log.level` to debug; keep it at info or debug, since a child is seen to start by its
   * `listening` line.
   */
  readonly config: Readonly<Record<string, unknown>>;
  /** Extra environment (upstream passwords for `passwordEnv`, `urlEnv` values). */
  readonly env?: Readonly<Record<string, string>>;
  /** Directory for the config file and data; a fresh temporary one (removed by stop()) when omitted. */
  readonly dir?: string;
  /**
   * Child mode: a bundle to run with `node <bundle>`. By default the child is the `pushgate`
   * command itself (bin/pushgate.js, run through its shebang with the node flags and allocator
   * settings production runs with), loading dist/pushgate.js.
   */
  readonly bundle?: string;
  /** Longest wait for the gateway to report that it listens. */
  readonly startTimeoutMs?: number;
  /** Child mode: how long stop() waits after SIGTERM before SIGKILL (default 60 s). */
  readonly stopTimeoutMs?: number;
}

/** How a child gateway ended. */
export interface GatewayExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running gateway. */
export interface StartedGateway {
  /** `http://127.0.0.1:<port>`: remotes are `${url}/<upstream>/<repo>`. */
  readonly url: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly configPath: string;
  /** Every log line written so far (JSON text, one object per line), and stderr lines in child mode. */
  readonly logs: readonly string[];
  /** The child's pid (child mode). */
  readonly pid?: number;
  /** The in-process Gateway object (in-process mode); typed loosely to keep testkit free of a static dependency. */
  readonly gateway?: unknown;
  /** Child mode: resolves when the process exits. */
  readonly exited?: Promise<GatewayExit>;
  /** Stops the gateway (SIGTERM for a child), waits for it, and removes a temporary directory. */
  stop(): Promise<GatewayExit | undefined>;
}

/** The bundle the CLI is built into (`npm run build`). */
export function defaultBundlePath(): string {
  return fileURLToPath(new URL('../../../dist/pushgate.js', import.meta.url));
}

/** The `pushgate` command of the repository (what `npx pushgate` and the docker image run). */
export function defaultBinPath(): string {
  return fileURLToPath(new URL('../../../bin/pushgate.js', import.meta.url));
}

/** Starts a gateway with the given config and resolves once it accepts requests. */
export async function startGateway(options: StartGatewayOptions): Promise<StartedGateway> {
  const temporary = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'pushgate-gateway-')));
  await mkdir(dir, { recursive: true });
  const config: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: './data',
    log: { level: 'debug' },
    ...options.config,
  };
  const configPath = join(dir, 'pushgate.yaml');
  await writeFile(configPath, stringify(config), 'utf8');
  const dataDir = join(dir, typeof config.dataDir === 'string' ? config.dataDir : './data');
  const cleanup = async (): Promise<void> => {
    if (temporary) await rm(dir, { recursive: true, force: true });
  };
  try {
    return options.mode === 'in-process'
      ? await startInProcess(options, dir, dataDir, configPath, cleanup)
      : await startChild(options, dir, dataDir, configPath, cleanup);
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function startInProcess(
  options: StartGatewayOptions,
  dir: string,
  dataDir: string,
  configPath: string,
  cleanup: () => Promise<void>,
): Promise<StartedGateway> {
  const logs: string[] = [];
  const logStream = lineCollector(logs);
  const gw = await import('@pushgate/gateway');
  const config = await gw.loadConfig(configPath, { env: { ...process.env, ...options.env } });
  const gateway = await gw.createGateway(config, { logStream });
  const address = await gateway.listen();
  let stopped = false;
  return {
    url: address.url,
    dir,
    dataDir,
    configPath,
    logs,
    gateway,
    async stop() {
      if (stopped) return undefined;
      stopped = true;
      await gateway.close();
      await cleanup();
      return undefined;
    },
  };
}

async function startChild(
  options: StartGatewayOptions,
  dir: string,
  dataDir: string,
  configPath: string,
  cleanup: () => Promise<void>,
): Promise<StartedGateway> {
  const bundle = options.bundle ?? defaultBundlePath();
  if (!existsSync(bundle)) {
    throw new GatewayStartError(`${bundle} is missing; run \`npm run build\` first`, { bundle });
  }
  const logs: string[] = [];
  // The real command by default: a gateway run without its flags measures memory it never has.
  const [command, args] = options.bundle === undefined ? [defaultBinPath(), []] : [process.execPath, [bundle]];
  const child = spawn(command, [...args, 'serve', '--config', configPath], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<GatewayExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new GatewayStartError(`the gateway did not start within ${options.startTimeoutMs ?? 30_000} ms:\n${logs.join('\n')}`, {}));
    }, options.startTimeoutMs ?? 30_000);
    collectLines(child, logs, (line) => {
      const listening = listeningUrl(line);
      if (listening !== undefined) {
        clearTimeout(timer);
        resolve(listening);
      }
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new GatewayStartError(`the gateway exited (${exit.code ?? exit.signal}) before listening:\n${logs.join('\n')}`, {}));
    });
  });
  let stopping: Promise<GatewayExit> | undefined;
  return {
    url,
    dir,
    dataDir,
    configPath,
    logs,
    pid: child.pid,
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        // A gateway that does not drain in time is killed, and the exit shows it (signal SIGKILL).
        const killer = setTimeout(() => child.kill('SIGKILL'), options.stopTimeoutMs ?? 60_000);
        const exit = await exited;
        clearTimeout(killer);
        await cleanup();
        return exit;
      })();
      return stopping;
    },
  };
}

/** The URL in the gateway's `listening` log line, if `line` is that line. */
function listeningUrl(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { message?: unknown; url?: unknown };
    return entry.message === 'listening' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}

function collectLines(child: ChildProcess, logs: string[], onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        logs.push(line);
        onLine(line);
      }
    });
  }
}

/** A Writable that appends each complete line written to it to `lines`. */
function lineCollector(lines: string[]): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      done();
    },
  });
}
