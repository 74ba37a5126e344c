/**
 * A labelled corpus made at run time: for every detector, fake secrets of the right format (random
 * within it, checksum-valid where the format has a checksum) embedded in lines of code and
 * configuration; and look-alikes that must not be reported (object ids, UUIDs, lockfile hashes,
 * data URIs, placeholders, checksums of other kinds). Nothing here is a real credential, and none is
 * stored in the repository: every value is generated from a seed.
 */
import { crc32, toBase62 } from './checksum';

/** A seeded random source (mulberry32): the same seed makes the same corpus. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** `length` characters drawn from `alphabet`. */
  str(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
  /** `length` random bytes. */
  bytes(length: number): Buffer {
    const b = Buffer.alloc(length);
    for (let i = 0; i < length; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = '0123456789abcdef';
const B64URL = `${ALNUM}_-`;
const B64 = `${ALNUM}+/`;
const BASE32 = `${UPPER}234567`;
const UPPER_NUM = UPPER + DIGITS;
const BECH32 = 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L';

/** A token in GitHub's and npm's checksummed format. */
export function checksummedToken(r: Rng, prefix: string): string {
  const body = r.str(ALNUM, 30);
  return `${prefix}${body}${toBase62(crc32(body), 6)}`;
}

function uuid(r: Rng): string {
  return `${r.str(HEX, 8)}-${r.str(HEX, 4)}-4${r.str(HEX, 3)}-${r.pick(['8', '9', 'a', 'b'])}${r.str(HEX, 3)}-${r.str(HEX, 12)}`;
}

/** A value that reads like a generated secret: random, with at least one digit. */
function randomValue(r: Rng, length: number, alphabet = ALNUM): string {
  return r.str(alphabet, length - 1) + r.pick([...DIGITS]);
}

/** A line that assigns `value` to `name` in one of several languages and formats. */
function assign(r: Rng, name: string, value: string): string {
  const camel = name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return r.pick([
    `const ${camel} = "${value}";`,
    `${name}=${value}`,
    `export ${name}="${value}"`,
    `  ${name.toLowerCase()}: ${value}`,
    `    "${camel}": "${value}",`,
    `${name.toLowerCase()} = '${value}'`,
    `        ${camel}: '${value}',`,
  ]);
}

/** Text containing a secret for one detector, and the secret as the detector must report it. */
export interface Sample {
  readonly text: string;
  readonly secret: string;
}

type Generator = (r: Rng) => Sample;

const token = (make: (r: Rng) => string, names: readonly string[]): Generator => (r) => {
  const secret = make(r);
  return { text: assign(r, r.pick(names), secret), secret };
};

function pemBody(r: Rng, lead: string, lines: number, width: number): string {
  const out: string[] = [];
  let first = lead + r.str(B64, width - lead.length);
  for (let i = 0; i < lines; i++) {
    out.push(first);
    first = r.str(B64, width);
  }
  out.push(`${r.str(B64, r.int(8, width - 4))}==`);
  return out.join('\n');
}

function dbUrl(scheme: string, host: string, userOptional = false): Generator {
  return (r) => {
    const secret = randomValue(r, r.int(12, 24), `${ALNUM}!*-_~`);
    const user = userOptional && r.next() < 0.5 ? '' : r.pick(['app', 'svc_orders', 'deploy', 'analytics']);
    const url = `${scheme}://${user}:${secret}@${host}`;
    const text = r.pick([`DATABASE_URL=${url}`, `  url: "${url}"`, `conn = connect("${url}")`, `spring.datasource.url=${url}`]);
    return { text, secret };
  };
}

/** Generators of positive samples, one per built-in detector id. */
export const POSITIVE_GENERATORS: Readonly<Record<string, Generator>> = {
  'aws-access-key-id': token((r) => r.pick(['AKIA', 'ASIA']) + r.str(BASE32, 16), ['AWS_ACCESS_KEY_ID', 'ACCESS_KEY', 'AWS_KEY']),
  'aws-secret-access-key': (r) => {
    const secret = r.str(B64, 40);
    return { text: r.pick([`aws_secret_access_key = ${secret}`, `AWS_SECRET_ACCESS_KEY="${secret}"`, `    "SecretAccessKey": "${secret}",`, `  aws_secret_key: ${secret}`]), secret };
  },
  'gcp-service-account-key': (r) => {
    const secret = `-----BEGIN PRIVATE KEY-----\\n${pemBody(r, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 25, 64).replace(/\n/g, '\\n')}\\n-----END PRIVATE KEY-----`;
    return { text: `  "private_key_id": "${r.str(HEX, 40)}",\n  "private_key": "${secret}\\n",\n  "client_email": "ci@proj-${r.int(100, 999)}.iam.gserviceaccount.com",`, secret };
  },
  'gcp-api-key': token((r) => `AIza${r.str(B64URL, 35)}`, ['GOOGLE_API_KEY', 'MAPS_KEY', 'FIREBASE_API_KEY']),
  'gcp-oauth-client-secret': token((r) => `GOCSPX-${r.str(B64URL, 28)}`, ['GOOGLE_CLIENT_SECRET', 'OAUTH_SECRET']),
  'azure-storage-account-key': (r) => {
    const secret = `${r.str(B64, 86)}==`;
    return { text: `AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acct${r.int(1, 999)};AccountKey=${secret};EndpointSuffix=core.windows.net"`, secret };
  },
  'azure-ad-client-secret': token((r) => `${r.str(ALNUM, 3)}${r.int(0, 9)}Q~${r.str(`${ALNUM}_~.-`, r.int(30, 33))}${r.pick([...ALNUM])}`, ['AZURE_CLIENT_SECRET', 'AAD_APP_SECRET']),
  'digitalocean-token': token((r) => `${r.pick(['dop', 'doo', 'dor'])}_v1_${r.str(HEX, 64)}`, ['DIGITALOCEAN_TOKEN', 'DO_API']),
  'alibaba-access-key-id': token((r) => `LTAI${r.str(ALNUM, r.int(12, 20))}`, ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIYUN_AK']),
  'github-pat': token((r) => checksummedToken(r, 'ghp_'), ['GITHUB_TOKEN', 'GH_PAT', 'git_auth']),
  'github-oauth-token': token((r) => checksummedToken(r, 'gho_'), ['GITHUB_OAUTH', 'GH_AUTH']),
  'github-user-token': token((r) => checksummedToken(r, 'ghu_'), ['GH_USER_TOKEN']),
  'github-app-token': token((r) => checksummedToken(r, 'ghs_'), ['GH_INSTALLATION', 'GITHUB_APP_TOKEN']),
  'github-refresh-token': token((r) => checksummedToken(r, 'ghr_'), ['GH_REFRESH']),
  'github-fine-grained-pat': token((r) => `github_pat_${r.str(ALNUM, 22)}_${r.str(ALNUM, 59)}`, ['GITHUB_TOKEN', 'GH_PAT']),
  'gitlab-pat': token((r) => `glpat-${r.str(B64URL, 19)}${r.pick([...ALNUM])}`, ['GITLAB_TOKEN', 'CI_PUSH_TOKEN']),
  'gitlab-pipeline-trigger-token': token((r) => `glptt-${r.str(HEX, 40)}`, ['TRIGGER', 'GITLAB_TRIGGER']),
  'gitlab-runner-token': token((r) => `glrt-${r.str(B64URL, 19)}${r.pick([...ALNUM])}`, ['RUNNER_TOKEN', 'REGISTRATION']),
  'gitlab-deploy-token': token((r) => `gldt-${r.str(B64URL, 19)}${r.pick([...ALNUM])}`, ['DEPLOY_TOKEN', 'REGISTRY_PASS']),
  'bitbucket-app-password': token((r) => `ATBB${r.str(ALNUM, 32)}`, ['BITBUCKET_APP_PASSWORD', 'BB_AUTH']),
  'npm-token': (r) => {
    const secret = checksummedToken(r, 'npm_');
    return { text: r.pick([`//registry.npmjs.org/:_authToken=${secret}`, assign(r, 'NPM_TOKEN', secret)]), secret };
  },
  'pypi-token': token((r) => `pypi-${r.pick(['AgEIcHlwaS5vcmc', 'AgENdGVzdC5weXBpLm9yZw'])}${r.str(B64URL, r.int(120, 200))}`, ['PYPI_TOKEN', 'TWINE_PASSWORD']),
  'circleci-token': token((r) => `CCIPAT_${r.str(ALNUM, 22)}_${r.str(HEX, 40)}`, ['CIRCLECI_TOKEN', 'CIRCLE_API']),
  'travis-ci-token': (r) => {
    const secret = r.str(B64URL, 21) + r.pick([...ALNUM]);
    return { text: r.pick([`TRAVIS_TOKEN=${secret}`, `travis_api_token: "${secret}"`, `  "travisToken": "${secret}",`]), secret };
  },
  'terraform-cloud-token': token((r) => `${r.str(ALNUM, 14)}.atlasv1.${r.str(B64URL, 66)}${r.pick([...ALNUM])}`, ['TFE_TOKEN', 'TF_CLOUD']),
  'vault-token': token((r) => `hvs.${r.str(B64URL, 93)}${r.pick([...ALNUM])}`, ['VAULT_TOKEN', 'VAULT_AUTH']),
  'dockerhub-pat': token((r) => `dckr_pat_${r.str(B64URL, 26)}${r.pick([...ALNUM])}`, ['DOCKERHUB_TOKEN', 'DOCKER_PASS']),
  'pulumi-token': token((r) => `pul-${r.str(HEX, 40)}`, ['PULUMI_ACCESS_TOKEN', 'PULUMI']),
  'doppler-token': token((r) => `dp.${r.pick(['pt', 'st', 'sa'])}.${r.str(ALNUM, 43)}`, ['DOPPLER_TOKEN', 'DOPPLER']),
  'slack-bot-token': token((r) => `xoxb-${r.str(DIGITS, 11)}-${r.str(DIGITS, 13)}-${r.str(ALNUM, 24)}`, ['SLACK_BOT_TOKEN', 'SLACK']),
  'slack-user-token': token((r) => `xoxp-${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(DIGITS, 13)}-${r.str(HEX, 32)}`, ['SLACK_USER_TOKEN']),
  'slack-app-token': token((r) => `xapp-1-${r.str(UPPER_NUM, 11)}-${r.str(DIGITS, 13)}-${r.str(HEX, 64)}`, ['SLACK_APP_TOKEN']),
  'slack-webhook-url': (r) => {
    const secret = `T${r.str(UPPER_NUM, 10)}/B${r.str(UPPER_NUM, 10)}/${r.str(ALNUM, 24)}`;
    return { text: assign(r, 'SLACK_WEBHOOK', `https://hooks.slack.com/services/${secret}`), secret };
  },
  'discord-bot-token': (r) => {
    const secret = `${r.pick(['M', 'N', 'O'])}${r.str(B64URL, 23)}.${r.str(B64URL, 6)}.${r.str(B64URL, 26)}${r.pick([...ALNUM])}`;
    return { text: assign(r, r.pick(['DISCORD_BOT_TOKEN', 'DISCORD_TOKEN']), secret), secret };
  },
  'discord-webhook-url': (r) => {
    const secret = `${r.str(DIGITS, 18)}/${r.str(B64URL, 67)}${r.pick([...ALNUM])}`;
    return { text: assign(r, 'ALERTS_HOOK', `https://discord.com/api/webhooks/${secret}`), secret };
  },
  'telegram-bot-token': token((r) => `${r.int(1, 9)}${r.str(DIGITS, 9)}:AA${r.str(B64URL, 32)}${r.pick([...ALNUM])}`, ['TELEGRAM_BOT_TOKEN', 'BOT_TOKEN']),
  'twilio-api-key': token((r) => `SK${r.str(HEX, 32)}`, ['TWILIO_API_KEY', 'TWILIO_KEY_SID']),
  'sendgrid-api-key': token((r) => `SG.${r.str(B64URL, 22)}.${r.str(B64URL, 42)}${r.pick([...ALNUM])}`, ['SENDGRID_API_KEY', 'MAIL_KEY']),
  'mailgun-api-key': token((r) => `key-${r.str(HEX, 32)}`, ['MAILGUN_API_KEY', 'MG_KEY']),
  'mailchimp-api-key': token((r) => `${r.str(HEX, 32)}-us${r.int(1, 21)}`, ['MAILCHIMP_API_KEY', 'MC_KEY']),
  'stripe-secret-key': token((r) => `sk_live_${r.str(ALNUM, r.pick([24, 99]))}`, ['STRIPE_SECRET_KEY', 'STRIPE_KEY']),
  'stripe-restricted-key': token((r) => `rk_live_${r.str(ALNUM, r.pick([24, 99]))}`, ['STRIPE_RESTRICTED_KEY']),
  'stripe-webhook-secret': token((r) => `whsec_${r.str(ALNUM, 32)}`, ['STRIPE_WEBHOOK_SECRET', 'WH_SIGNING']),
  'square-access-token': token((r) => (r.next() < 0.7 ? `EAAA${r.str(B64URL, 59)}${r.pick([...ALNUM])}` : `sq0atp-${r.str(B64URL, 21)}${r.pick([...ALNUM])}`), ['SQUARE_ACCESS_TOKEN', 'SQUARE']),
  'square-oauth-secret': token((r) => `sq0csp-${r.str(B64URL, 42)}${r.pick([...ALNUM])}`, ['SQUARE_APP_SECRET']),
  'braintree-access-token': token((r) => `access_token$production$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 32)}`, ['BRAINTREE_TOKEN', 'PAYPAL_ACCESS']),
  'shopify-token': token((r) => `${r.pick(['shpat', 'shpca', 'shppa', 'shpss'])}_${r.str(HEX, 32)}`, ['SHOPIFY_ADMIN_TOKEN', 'SHOPIFY_SECRET']),
  'openai-api-key': token((r) => (r.next() < 0.5 ? `sk-proj-${r.str(B64URL, 74)}T3BlbkFJ${r.str(B64URL, 73)}${r.pick([...ALNUM])}` : `sk-${r.str(ALNUM, 20)}T3BlbkFJ${r.str(ALNUM, 20)}`), ['OPENAI_API_KEY', 'OPENAI']),
  'anthropic-api-key': token((r) => `sk-ant-api03-${r.str(B64URL, 93)}AA`, ['ANTHROPIC_API_KEY', 'CLAUDE_KEY']),
  'huggingface-token': token((r) => `hf_${r.str(UPPER + LOWER, 34)}`, ['HF_TOKEN', 'HUGGINGFACE_HUB']),
  'databricks-token': token((r) => `dapi${r.str(HEX, 32)}`, ['DATABRICKS_TOKEN', 'DBX']),
  'grafana-cloud-token': token((r) => `glc_${Buffer.from(JSON.stringify({ o: String(r.int(100000, 999999)), n: `stack-${r.int(1, 99999)}-token`, k: r.str(ALNUM, 24), m: { r: r.pick(['us', 'eu', 'prod-us-east-0']) } })).toString('base64')}`, ['GRAFANA_CLOUD_TOKEN', 'GCOM']),
  'grafana-service-account-token': token((r) => `glsa_${r.str(ALNUM, 32)}_${r.str(HEX, 8)}`, ['GRAFANA_SA_TOKEN', 'GRAFANA']),
  'newrelic-user-key': token((r) => `NRAK-${r.str(UPPER_NUM, 27)}`, ['NEW_RELIC_API_KEY', 'NR_KEY']),
  'sentry-token': token((r) => `sntryu_${r.str(HEX, 64)}`, ['SENTRY_AUTH_TOKEN', 'SENTRY']),
  'linear-api-key': token((r) => `lin_api_${r.str(ALNUM, 40)}`, ['LINEAR_API_KEY', 'LINEAR']),
  'postman-api-key': token((r) => `PMAK-${r.str(HEX, 24)}-${r.str(HEX, 34)}`, ['POSTMAN_API_KEY', 'POSTMAN']),
  'heroku-api-key': (r) => {
    const secret = uuid(r);
    return { text: r.pick([`HEROKU_API_KEY=${secret}`, `heroku_api_key: "${secret}"`, `  "herokuApiKey": "${secret}",`]), secret };
  },
  'age-secret-key': token((r) => `AGE-SECRET-KEY-1${r.str(BECH32, 58)}`, ['AGE_KEY', 'SOPS_AGE_KEY']),
  jwt: (r) => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const header = b64({ alg: r.pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' });
    const payload = b64({ sub: String(r.int(1, 1e9)), name: r.pick(['Ada', 'Linus', 'Grace']), iat: r.int(1.5e9, 1.8e9), scope: r.pick(['read', 'read write']) });
    const secret = `${header}.${payload}.${r.str(B64URL, r.pick([43, 86, 342]))}`;
    return { text: r.pick([`Authorization: Bearer ${secret}`, assign(r, 'SESSION_JWT', secret), `curl -H "Authorization: Bearer ${secret}" https://api.internal/v1/me`]), secret };
  },
  'private-key-pem': (r) => {
    const kind = r.pick(['RSA ', 'EC ', 'DSA ', '', 'ENCRYPTED ']);
    const secret = pemBody(r, r.pick(['MIIEpAIBAAKCAQEA', 'MHcCAQEEI', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC']), r.int(5, 25), 64);
    const headers = kind === 'RSA ' && r.next() < 0.3 ? `Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${r.str(HEX, 32).toUpperCase()}\n\n` : '';
    return { text: `# deploy key\n-----BEGIN ${kind}PRIVATE KEY-----\n${headers}${secret}\n-----END ${kind}PRIVATE KEY-----\n`, secret };
  },
  'private-key-openssh': (r) => {
    const secret = pemBody(r, 'b3BlbnNzaC1rZXktdjEAAAAA', r.int(5, 40), 70);
    return { text: `key = """\n-----BEGIN OPENSSH PRIVATE KEY-----\n${secret}\n-----END OPENSSH PRIVATE KEY-----\n"""`, secret };
  },
  'private-key-pgp': (r) => {
    const secret = `${pemBody(r, 'lQOYBF', r.int(10, 60), 64)}\n=${r.str(B64, 4)}`;
    return { text: `-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n${secret}\n-----END PGP PRIVATE KEY BLOCK-----`, secret };
  },
  'postgres-url': dbUrl('postgres', 'db.internal:5432/orders'),
  'mysql-url': dbUrl('mysql', 'mysql.prod:3306/shop'),
  'mongodb-url': dbUrl('mongodb+srv', 'cluster0.ab1cd.mongodb.net/app?retryWrites=true'),
  'redis-url': dbUrl('redis', 'cache.internal:6379/0', true),
  'amqp-url': dbUrl('amqps', 'rabbit.internal:5671/jobs'),
  'generic-password': (r) => {
    const secret = randomValue(r, r.int(10, 20), `${ALNUM}!#%^&*-_`);
    return { text: r.pick([`password = "${secret}"`, `DB_PASSWORD=${secret}`, `    "password": "${secret}",`, `spring.datasource.password=${secret}`, `  smtp_passwd: '${secret}'`]), secret };
  },
  'generic-api-key': (r) => {
    const secret = randomValue(r, r.int(24, 40));
    return { text: r.pick([`api_key = "${secret}"`, `X_API_KEY=${secret}`, `    "apiKey": "${secret}",`, `client_secret: ${secret}`, `const accessToken = '${secret}';`]), secret };
  },
  'generic-secret': (r) => {
    const secret = randomValue(r, r.int(24, 48), `${ALNUM}_-`);
    return { text: r.pick([`SECRET=${secret}`, `jwt_secret: "${secret}"`, `app.config["SESSION_SECRET"] = "${secret}"`, `    "webhookSecret": "${secret}",`, `refresh_token = '${secret}'`]), secret };
  },
};

/** A labelled positive: the detector expected, the text, and the secret it must report. */
export interface PositiveSample extends Sample {
  readonly detector: string;
}

/** `perDetector` positives for every generator, from `seed`. */
export function positiveSamples(seed: number, perDetector: number): PositiveSample[] {
  const r = new Rng(seed);
  const out: PositiveSample[] = [];
  for (const [detector, make] of Object.entries(POSITIVE_GENERATORS)) for (let i = 0; i < perDetector; i++) out.push({ detector, ...make(r) });
  return out;
}

/** Look-alikes by category: each makes one line (or block) that holds no secret. */
export const NEGATIVE_GENERATORS: Readonly<Record<string, (r: Rng) => string>> = {
  'git object id (SHA-1)': (r) => r.pick([`commit ${r.str(HEX, 40)}`, `parent ${r.str(HEX, 40)}`, `    "resolved": "git+ssh://git@github.com/acme/lib.git#${r.str(HEX, 40)}",`, `Revert "fix" (reverts ${r.str(HEX, 40)})`]),
  'git object id (SHA-256)': (r) => r.pick([`tree ${r.str(HEX, 64)}`, `object ${r.str(HEX, 64)}`]),
  UUID: (r) => r.pick([`  id: "${uuid(r)}"`, `const requestId = '${uuid(r)}';`, `<ProjectGuid>{${uuid(r).toUpperCase()}}</ProjectGuid>`, `tenant_id = "${uuid(r)}"`]),
  'lockfile integrity': (r) => r.pick([`      "integrity": "sha512-${r.bytes(64).toString('base64')}",`, `  integrity sha1-${r.bytes(20).toString('base64')}`, `  checksum: ${r.str(HEX, 128)}`, `      "shasum": "${r.str(HEX, 40)}",`]),
  'data URI image': (r) => `  background-image: url(data:image/png;base64,${r.bytes(r.int(200, 1500)).toString('base64')});`,
  'Go checksum': (r) => `github.com/${r.pick(['pkg', 'acme', 'google'])}/${r.pick(['errors', 'uuid', 'yaml'])} v${r.int(0, 3)}.${r.int(0, 20)}.${r.int(0, 9)}${r.pick(['', '/go.mod'])} h1:${r.bytes(32).toString('base64')}`,
  'container digest': (r) => `    image: ghcr.io/acme/api@sha256:${r.str(HEX, 64)}`,
  'hex colour': (r) => r.pick([`  color: #${r.str(HEX, 6)};`, `  --accent: #${r.str(HEX, 3)};`, `const palette = ['#${r.str(HEX, 6)}', '#${r.str(HEX, 6)}', '#${r.str(HEX, 8)}'];`]),
  semver: (r) => r.pick([`  "version": "${r.int(0, 20)}.${r.int(0, 40)}.${r.int(0, 99)}-beta.${r.int(0, 9)}+build.${r.str(HEX, 7)}",`, `    "typescript": "^${r.int(4, 5)}.${r.int(0, 9)}.${r.int(0, 9)}",`]),
  'long identifier': (r) => {
    const words = ['Abstract', 'Singleton', 'Proxy', 'Factory', 'Bean', 'Token', 'Secret', 'Password', 'Manager', 'Resolver', 'Provider', 'Key', 'Access'];
    const name = Array.from({ length: r.int(4, 9) }, () => r.pick(words)).join('');
    return r.pick([`export class ${name}Impl implements ${name} {`, `const ${name[0].toLowerCase()}${name.slice(1)} = new ${name}();`, `import { ${name} } from './${name.toLowerCase()}';`]);
  },
  'documented example': () =>
    // AWS's documented sample credentials (IAM User Guide), assembled so the file never holds them whole.
    ['aws_access_key_id = AKIA' + 'IOSFODNN7' + 'EXAMPLE', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY' + 'EXAMPLEKEY'].join('\n'),
  placeholder: (r) =>
    r.pick([
      'api_key = "<YOUR_API_KEY>"',
      'password = "changeme"',
      'token: ${{ secrets.GITHUB_TOKEN }}',
      'const apiKey = process.env.API_KEY;',
      'password = os.getenv("DB_PASSWORD")',
      'secret_key = "your-secret-key-here"',
      'passwordField = "passwordInput"',
      'DATABASE_URL=postgres://user:password@localhost:5432/dev',
      'DATABASE_URL=postgres://postgres:${POSTGRES_PASSWORD}@db:5432/app',
      'REDIS_URL=redis://localhost:6379',
      'password: "********"',
      'api_key: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'AMQP_URL=amqp://guest:guest@localhost:5672/',
      'SECRET_KEY=replace-me-with-a-long-random-string',
      '  token_url: "https://oauth2.googleapis.com/token"',
      'private_key_path = "/etc/ssl/private/server.key"',
      `-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----`,
      'client_secret = config.oauth.clientSecret',
      'password = settings.DATABASES.default.PASSWORD',
    ]),
  'code mentioning secrets': (r) =>
    r.pick([
      'function tokenize(input: string): Token[] {',
      'const passwordHash = await bcrypt.hash(password, 10);',
      "if (token === undefined) throw new Error('missing token');",
      'const secret = await secretsManager.getSecretValue({ SecretId: name }).promise();',
      "tokens.push({ type: 'identifier', value: ident });",
      'self.api_key = api_key',
      'headers["Authorization"] = f"Bearer {token}"',
      'export const ACCESS_TOKEN_TTL_SECONDS = 3600;',
      'password_reset_token = generate_token(user_id=user.id)',
      'if (!isValidPassword(password)) return res.status(400).json({ error: "weak password" });',
    ]),
  'configuration reference': (r) =>
    r.pick([
      'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]',
      '            secretKeyRef:\n              name: db-credentials\n              key: password',
      '  password_confirmation: "Password confirmation"',
      `  client_secret: "{{ vault('secret/data/app#client_secret') }}"`,
      'api_key: !ENV ${API_KEY}',
      'const { accessToken } = await auth.getToken({ scopes: [SCOPE] });',
      `aws_secret_access_key = ${r.pick(['$AWS_SECRET_ACCESS_KEY', '<secret>', '...'])}`,
      'export GITHUB_TOKEN=$(gh auth token)',
      "token: 'test-token'",
      `"tokenEndpoint": "https://login.microsoftonline.com/${uuid(r)}/oauth2/v2.0/token",`,
      'STRIPE_KEY=sk_test_' + r.str(ALNUM, 24),
      'secret: true',
      `password_min_length: ${r.int(8, 16)}`,
    ]),
  'minified code': (r) => {
    const ident = (): string => r.str(LOWER, 1) + r.str(ALNUM, r.int(0, 2));
    const parts = Array.from({ length: r.int(20, 60) }, () =>
      r.pick([`${ident()}.token=${ident()}.token||${ident()}`, `var ${ident()}=${ident()}.secret;`, `${ident()}.password=${ident()}(${ident()})`, `function ${ident()}(${ident()}){return ${ident()}.apiKey}`, `"${r.str(B64, r.int(4, 12))}"`]),
    );
    return parts.join(',');
  },
  'checksum look-alike token': (r) => assign(r, 'FIXTURE_ID', `${r.pick(['ghp_', 'gho_', 'npm_'])}${r.str(ALNUM, 36)}`),
  'base64 blob': (r) => `    "data": "${r.bytes(r.int(100, 400)).toString('base64')}",`,
  'cloud resource name': (r) => r.pick([`  role_arn = "arn:aws:iam::${r.str(DIGITS, 12)}:role/deploy"`, `  subscription: /subscriptions/${uuid(r)}/resourceGroups/rg-${r.int(1, 99)}`]),
};

/** A labelled negative: its category and the text. */
export interface NegativeSample {
  readonly category: string;
  readonly text: string;
}

/** `perCategory` negatives for every category, from `seed`. */
export function negativeSamples(seed: number, perCategory: number): NegativeSample[] {
  const r = new Rng(seed);
  const out: NegativeSample[] = [];
  for (const [category, make] of Object.entries(NEGATIVE_GENERATORS)) for (let i = 0; i < perCategory; i++) out.push({ category, text: make(r) });
  return out;
}
