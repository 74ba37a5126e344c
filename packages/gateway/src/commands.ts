/**
 * The `pushgate` command line (node:util parseArgs, no framework). Every verb has `--help`.
 *
 * Exit codes (also in docs/CONFIG.md):
 *   0  success (for `serve` and `demo`: stopped cleanly by SIGTERM/SIGINT)
 *   1  failure at run time (database unreachable, port in use, upstream error, …)
 *   2  usage error (unknown verb or option, missing argument)
 *   3  the config file is unreadable or invalid, or a secret it names is missing
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { isPushgateError } from '@pushgate/core';
import { DEFAULT_MAX_TOKEN_TTL_SEC, issueToken, loadOrCreateSigningKeys, parseDuration } from '@pushgate/auth';
import { migrate, openDatabase } from '@pushgate/store';
import { startGitUpstream } from '@pushgate/git-server';
import { ConfigError, configJsonSchema, formatIssue, loadConfig, readConfigFile } from './config';
import { createGateway } from './gateway';
import { runDemo } from './demo';
import { pushgateVersion } from './version';
import { UsageError } from './cli-usage';
import { POLICY_HELP, policyCommand } from './policy-command';
import { HOLDS_HELP, holdsCommand } from './holds-command';

/** Where the CLI writes and what it reads. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); `serve` and `demo` wait on it. */
  readonly stopSignal: () => Promise<NodeJS.Signals>;
}

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 3 } as const;

const HELP = `pushgate ${'\u2014'} a Git smart-HTTP gateway that governs what people and AI agents push

Usage: pushgate <command> [options]

Commands:
  serve --config <file>            run the gateway
  demo [--port 8080] [--data-dir ./demo-data]
                                   run a ready demo: a local upstream, the gateway in front, a clone URL
  token issue --config <file> --sub <id> [--email e] [--groups a,b] [--agent] [--ttl 1h]
                                   print a token the gateway with that config accepts
  migrate --config <file>          apply database migrations
  config validate <file>           check a config file (errors name the key, line and policy rule)
  config schema                    print the config file's JSON Schema (for editors and CI)
  dev-upstream --root <dir> [--port N] [--username u --password-env VAR]
                                   serve the bare repositories under <dir> with git http-backend
  policy test <cases.yaml> [--junit F]
                                   judge declared pushes of fixture repositories offline (CI)
  policy explain --config F --repo <dir> --ref <ref> --old <id> --new <id> [--as sub] …
                                   what one push of a local repository would get, and why
  holds list|show|approve|reject|cancel [--gateway <url>] [--token <t>] …
                                   review held pushes through a running gateway (exit 3: unreachable)

Options: --help (also after any command), --version

Exit codes: 0 ok, 1 failure, 2 usage error, 3 invalid config or missing secret.
Configuration: docs/CONFIG.md
`;

const VERB_HELP: Record<string, string> = {
  serve: `Usage: pushgate serve --config <file>

Runs the gateway. Stops on SIGTERM or SIGINT: stops accepting, lets in-flight requests finish
(up to shutdown.drainTimeoutMs), closes the database, exits 0. A second signal exits at once (1).
`,
  demo: `Usage: pushgate demo [--port 8080] [--host 127.0.0.1] [--data-dir ./demo-data]

Starts a local upstream repository (git http-backend on loopback, protected by a random password
that only the gateway is given), the gateway in front of it on the embedded database, and prints
a clone URL with a fresh token. Ctrl-C stops everything. The data directory is kept and reused.
`,
  token: `Usage: pushgate token issue --config <file> --sub <id> [--email <e>] [--groups <a,b>] [--agent] [--ttl <1h>]

Prints one line: a token signed with the gateway's key (generated in dataDir on first use, or
auth.gateway.signingKeyFile) that the gateway with this config accepts. --ttl: <n>s|m|h|d,
at most auth.gateway.maxTtl (default 30d). --agent marks the holder as an AI agent.
`,
  migrate: `Usage: pushgate migrate --config <file>

Applies pending database migrations (serve also does so on start unless database.autoMigrate is false).
`,
  config: `Usage: pushgate config validate <file>
       pushgate config schema

validate checks a config file: YAML syntax, every key and value, unknown keys, the policy's rules
(patterns and globs compiled). Each error names the key path and the line, and the rule's id
within policy.rules. Secrets (passwordEnv, passwordFile, urlEnv) are not read. Exit 0 when valid,
3 when not. schema prints the JSON Schema of the file (draft 2020-12).
`,
  'dev-upstream': `Usage: pushgate dev-upstream --root <dir> [--port <n>] [--host 127.0.0.1] [--username <u> --password-env <VAR>]

Serves the bare repositories under <dir> over smart HTTP with git http-backend (for demos and
docker compose). With --username/--password-env, requests need that Basic credential.
`,
  policy: POLICY_HELP,
  holds: HOLDS_HELP,
};

/** Runs the CLI; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    switch (verb) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        io.stdout.write(HELP);
        return verb === undefined ? EXIT.usage : EXIT.ok;
      case '--version':
      case '-v':
        io.stdout.write(`${pushgateVersion()}\n`);
        return EXIT.ok;
      case 'serve':
        return await serve(rest, io);
      case 'demo':
        return await demo(rest, io);
      case 'token':
        return await token(rest, io);
      case 'migrate':
        return await migrateCommand(rest, io);
      case 'config':
        return await configCommand(rest, io);
      case 'dev-upstream':
        return await devUpstream(rest, io);
      case 'policy':
        return await policyCommand(rest, io);
      case 'holds':
        return await holdsCommand(rest, io);
      default:
        throw new UsageError(`unknown command "${verb}"`);
    }
  } catch (e) {
    return report(e, io, verb);
  }
}

function report(e: unknown, io: CliIo, verb: string | undefined): number {
  if (e instanceof UsageError) {
    io.stderr.write(`pushgate: ${e.message}\nRun \`pushgate ${verb !== undefined && verb in VERB_HELP ? `${verb} ` : ''}--help\` for usage.\n`);
    return EXIT.usage;
  }
  if (e instanceof ConfigError) {
    io.stderr.write(`pushgate: ${e.code}: the config cannot be used:\n${e.message}\n`);
    return EXIT.config;
  }
  if (isPushgateError(e)) {
    io.stderr.write(`pushgate: ${e.clientMessage()}\n`);
    return EXIT.failure;
  }
  io.stderr.write(`pushgate: ${e instanceof Error ? e.message : String(e)}\n`);
  return EXIT.failure;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed options of a verb. */
interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/** Parses a verb's options; `--help` prints the verb's help and returns undefined. */
function parse(verb: string, args: readonly string[], options: Options, io: CliIo, allowPositionals = false): Parsed | undefined {
  let parsed: Parsed;
  try {
    const result = parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
    parsed = { values: result.values as Record<string, string | boolean | undefined>, positionals: result.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.values.help === true) {
    io.stdout.write(VERB_HELP[verb] ?? HELP);
    return undefined;
  }
  return parsed;
}

function optional(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function required(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

async function serve(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('serve', args, { config: { type: 'string', short: 'c' } }, io);
  if (parsed === undefined) return EXIT.ok;
  const config = await loadConfig(required(parsed.values.config, '--config'), { env: io.env });
  const gateway = await createGateway(config);
  await gateway.listen();
  const signal = await io.stopSignal();
  gateway.logger.info('stop requested', { signal });
  await gateway.close();
  return EXIT.ok;
}

async function demo(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('demo', args, { port: { type: 'string', short: 'p' }, host: { type: 'string' }, 'data-dir': { type: 'string' } }, io);
  if (parsed === undefined) return EXIT.ok;
  const port = parsePort(optional(parsed.values.port) ?? '8080');
  await runDemo({ port, host: optional(parsed.values.host) ?? '127.0.0.1', dataDir: optional(parsed.values['data-dir']) ?? './demo-data', io });
  return EXIT.ok;
}

async function token(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h') {
    io.stdout.write(VERB_HELP.token);
    return EXIT.ok;
  }
  if (sub !== 'issue') throw new UsageError(sub === undefined ? 'token needs a subcommand: issue' : `unknown token subcommand "${sub}"`);
  const parsed = parse(
    'token',
    rest,
    {
      config: { type: 'string', short: 'c' },
      sub: { type: 'string' },
      email: { type: 'string' },
      groups: { type: 'string' },
      agent: { type: 'boolean' },
      ttl: { type: 'string' },
    },
    io,
  );
  if (parsed === undefined) return EXIT.ok;
  const { values } = parsed;
  const config = await loadConfig(required(values.config, '--config'), { env: io.env, upstreamSecrets: 'skip' });
  const keys = await loadOrCreateSigningKeys({ dataDir: config.dataDir, keyFile: config.auth.gateway.signingKeyFile });
  const maxTtlSec = config.auth.gateway.maxTtl === undefined ? DEFAULT_MAX_TOKEN_TTL_SEC : parseDuration(config.auth.gateway.maxTtl, Number.MAX_SAFE_INTEGER);
  const groupList = optional(values.groups);
  const groups = groupList === undefined ? undefined : groupList.split(',').map((g) => g.trim()).filter((g) => g !== '');
  const jwt = await issueToken(keys, {
    issuer: config.auth.gateway.issuer,
    audience: config.auth.gateway.audience,
    sub: required(values.sub, '--sub'),
    email: optional(values.email),
    groups,
    agent: values.agent === true,
    agentClaim: config.auth.agentClaim,
    ttl: optional(values.ttl) ?? '1h',
    maxTtlSec,
  });
  io.stdout.write(`${jwt}\n`);
  return EXIT.ok;
}

async function migrateCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('migrate', args, { config: { type: 'string', short: 'c' } }, io);
  if (parsed === undefined) return EXIT.ok;
  const config = await loadConfig(required(parsed.values.config, '--config'), { env: io.env, upstreamSecrets: 'skip' });
  const db = await openDatabase({ url: config.database.url, dataDir: config.dataDir });
  try {
    const result = await migrate(db);
    const applied = result.applied.map((m) => `${m.version} ${m.name}`);
    io.stdout.write(applied.length === 0 ? `schema is current (version ${result.version})\n` : `applied: ${applied.join(', ')}; schema version ${result.version}\n`);
  } finally {
    await db.close();
  }
  return EXIT.ok;
}

async function configCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h') {
    io.stdout.write(VERB_HELP.config);
    return EXIT.ok;
  }
  if (sub === 'schema') {
    if (parse('config', rest, {}, io) === undefined) return EXIT.ok;
    io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return EXIT.ok;
  }
  if (sub !== 'validate') throw new UsageError(sub === undefined ? 'config needs a subcommand: validate or schema' : `unknown config subcommand "${sub}"`);
  const parsed = parse('config', rest, {}, io, true);
  if (parsed === undefined) return EXIT.ok;
  if (parsed.positionals.length !== 1) throw new UsageError('config validate takes exactly one file');
  const file = parsed.positionals[0];
  try {
    await readConfigFile(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const issue of e.data?.issues ?? []) io.stderr.write(`${formatIssue(file, issue)}\n`);
    io.stderr.write(`${file}: invalid (${e.data?.issues.length ?? 0} problem${e.data?.issues.length === 1 ? '' : 's'})\n`);
    return EXIT.config;
  }
  io.stdout.write(`${file}: valid\n`);
  return EXIT.ok;
}

async function devUpstream(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(
    'dev-upstream',
    args,
    { root: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, username: { type: 'string' }, 'password-env': { type: 'string' } },
    io,
  );
  if (parsed === undefined) return EXIT.ok;
  const { values } = parsed;
  const root = required(values.root, '--root');
  if (!existsSync(root)) throw new UsageError(`--root ${root} does not exist`);
  let auth: { username: string; password: string } | undefined;
  if (values.username !== undefined || values['password-env'] !== undefined) {
    const variable = required(values['password-env'], '--password-env');
    const password = io.env[variable];
    if (password === undefined || password === '') throw new UsageError(`environment variable ${variable} (--password-env) is not set`);
    auth = { username: required(values.username, '--username'), password };
  }
  const port = optional(values.port);
  const upstream = await startGitUpstream({ root, auth, listen: { host: optional(values.host) ?? '127.0.0.1', port: port === undefined ? 0 : parsePort(port) } });
  io.stdout.write(`serving ${root} at ${upstream.url}${auth ? ` (Basic credential required, user ${auth.username})` : ''}\n`);
  await io.stopSignal();
  await upstream.close();
  return EXIT.ok;
}


function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535, not "${text}"`);
  return port;
}
