/**
 * `pushgate demo`: a ready-to-use gateway on a fresh machine with no network. A local upstream
 * (git http-backend on loopback) that requires a random Basic credential only the gateway is
 * given (through its config's passwordEnv, like a real deployment), an initial commit, the gateway
 * in front on the embedded database, and printed instructions with a clone URL carrying a fresh
 * token. The data directory is kept, so a second run serves the same repository and audit record.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { issueToken } from '@pushgate/auth';
import { startGitUpstream } from '@pushgate/git-server';
import type { CliIo } from './commands';
import { loadConfig } from './config';
import { createGateway } from './gateway';

/** Options of runDemo. */
export interface DemoOptions {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly io: CliIo;
}

/** The environment variable the demo hands the upstream password to the gateway through. */
export const DEMO_PASSWORD_ENV = 'PUSHGATE_DEMO_UPSTREAM_PASSWORD';
/** The group whose members may approve the demo's held pushes (the printed reviewer token has it). */
export const DEMO_REVIEWERS = 'reviewers';

/**
 * A small policy, so that a first push shows rules at work: main is never rewritten, no credentials
 * are pushed, and a change under `deploy/` waits for a reviewer's approval.
 */
export const DEMO_POLICY = {
  rules: [
    { id: 'no-force-push-main', description: 'main is never rewritten', refs: ['refs/heads/main'], when: { forcePush: true }, action: 'deny' },
    { id: 'no-secrets', description: 'no credentials in what is pushed', when: { secrets: true }, action: 'deny' },
    { id: 'deploy-needs-review', description: 'deployment changes are reviewed', paths: ['deploy/**'], action: 'hold', approvers: { groups: [DEMO_REVIEWERS], count: 1 } },
  ],
};

/** How long the printed token is valid. */
const DEMO_TOKEN_TTL = '12h';

/** Runs the demo until the stop signal; resolves once everything is stopped. */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { io } = options;
  const dataDir = resolve(options.dataDir);
  const reposDir = join(dataDir, 'upstream');
  await mkdir(reposDir, { recursive: true });

  const password = randomBytes(24).toString('base64url');
  const upstream = await startGitUpstream({ root: reposDir, auth: { username: 'x-access-token', password } });
  try {
    if (!existsSync(join(reposDir, 'demo.git', 'HEAD'))) await upstream.createRepo('demo.git', { initialCommit: true });

    const configPath = join(dataDir, 'pushgate.yaml');
    await writeFile(
      configPath,
      `# Written by \`pushgate demo\` on each start (the upstream's port and password change every run).\n${stringify({
        // No publicUrl: the gateway derives it from the port it listens on, which with --port 0
        // is known only once it listens.
        listen: { host: options.host, port: options.port },
        dataDir: '.',
        upstreams: [{ name: 'local', url: upstream.url, username: 'x-access-token', passwordEnv: DEMO_PASSWORD_ENV }],
        log: { level: 'info' },
        shutdown: { drainTimeoutMs: 10_000 },
        policy: DEMO_POLICY,
      })}`,
      'utf8',
    );
    const config = await loadConfig(configPath, { env: { ...io.env, [DEMO_PASSWORD_ENV]: password } });
    const logPath = join(dataDir, 'gateway.log');
    const logStream = createWriteStream(logPath, { flags: 'a' });
    const gateway = await createGateway(config, { logStream });
    try {
      const address = await gateway.listen();
      const base = new URL(address.publicUrl);
      const token = await issueToken(gateway.signingKeys, {
        issuer: config.auth.gateway.issuer,
        audience: config.auth.gateway.audience,
        sub: 'demo-user',
        email: 'demo-user@example.invalid',
        agentClaim: config.auth.agentClaim,
        ttl: DEMO_TOKEN_TTL,
      });
      const reviewerToken = await issueToken(gateway.signingKeys, {
        issuer: config.auth.gateway.issuer,
        audience: config.auth.gateway.audience,
        sub: 'demo-reviewer',
        email: 'demo-reviewer@example.invalid',
        groups: [DEMO_REVIEWERS],
        agentClaim: config.auth.agentClaim,
        ttl: DEMO_TOKEN_TTL,
      });
      const cloneUrl = new URL(`${base.origin}/local/demo.git`);
      cloneUrl.username = 'demo';
      cloneUrl.password = token;
      io.stdout.write(
        [
          'pushgate demo is running.',
          '',
          `  gateway    ${base.origin}   (logs: ${logPath})`,
          `  upstream   ${upstream.url}/demo.git   (needs a password only the gateway holds)`,
          '',
          `Clone through pushgate (the token in the URL is valid for ${DEMO_TOKEN_TTL}):`,
          '',
          `  git clone ${cloneUrl.toString()} pushgate-demo`,
          '',
          'then commit and `git push` as usual: every request is checked, relayed with the',
          "gateway's own credential, and recorded in the audit log. The demo's policy",
          `(${configPath}) denies a force push onto main and a commit that adds a credential,`,
          'and holds a change under deploy/ until a reviewer approves it; the gateway then',
          'relays the held push itself (`git push -o wait` stays connected until then).',
          'Review as demo-reviewer (in group reviewers):',
          '',
          `  export PUSHGATE_URL=${base.origin} PUSHGATE_TOKEN=${reviewerToken}`,
          '  npx pushgate holds list',
          '  npx pushgate holds approve <id> --comment "looks right"',
          '',
          'New tokens:',
          `  pushgate token issue --config ${configPath} --sub <you>`,
          '',
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      await io.stopSignal();
      io.stdout.write('stopping…\n');
    } finally {
      await gateway.close();
      await new Promise<void>((done) => logStream.end(done));
    }
  } finally {
    await upstream.close();
  }
}
