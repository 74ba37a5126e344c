/**
 * The built-in detectors. Each is written from the format's public definition (cited per
 * detector) and obeys three rules the scanner relies on:
 *
 * - Its keywords are lowercase ASCII and every match lies on a line containing one of them
 *   (case-insensitively); a keyword is usually a literal part of the match itself (`ghp_`).
 * - Its pattern runs in linear time: no nested quantifiers, no two adjacent quantifiers over
 *   overlapping characters, every repetition bounded. Lookarounds are single characters.
 * - Its pattern has the `g` and `d` flags (global search, capture-group offsets).
 *
 * `secretGroup` is the capture group holding the secret (the part shown masked and fingerprinted):
 * for `postgres://user:pass@host` it is the password, for a Slack webhook the path.
 */
import { hasValidBase62Checksum } from './checksum';
import type { EntropyThreshold } from './entropy';

/** A built-in credential format. */
export interface Detector {
  /** Stable identifier, used in findings, `disable` lists and docs. */
  readonly id: string;
  /** What was found, for people (`GitHub personal access token`). */
  readonly description: string;
  /** Lowercase literals; the detector runs only near lines containing one of them. */
  readonly keywords: readonly string[];
  /** The format, with flags `g` and `d`. */
  readonly pattern: RegExp;
  /** Capture groups that may hold the secret, tried in order (the first that matched is used). */
  readonly secretGroups: readonly number[];
  /** Minimum entropy of the secret; a format with a fixed random part needs none. */
  readonly entropy?: EntropyThreshold;
  /** A structural check (a checksum, decodable JSON) the secret must pass. */
  readonly validate?: (secret: string) => boolean;
  /** The secret may span lines (PEM blocks): the window extends past the keyword's line. */
  readonly multiline?: boolean;
  /**
   * A heuristic for free-form values (`password = "…"`, a URL's password): values that look like
   * placeholders, references or well-known defaults are dropped, and a more specific detector's
   * finding at the same place wins.
   */
  readonly generic?: boolean;
  /**
   * The value is the right-hand side of an assignment in code: values that read as code (a bare
   * word, `config.db.password`) are dropped too.
   */
  readonly assignment?: boolean;
  /**
   * The capture group of an unquoted value (`KEY=value` in .env, YAML). Such a value that names a
   * credential itself (`Password = AuthenticationMD5Password`) is code, not a secret.
   */
  readonly bareGroup?: number;
}

/** Entropy floors for values of assignment-style detectors: close to random for the class, not quite. */
const GENERIC_ENTROPY: EntropyThreshold = { hex: 3.0, base64: 3.5, other: 3.0 };
/** A looser floor for passwords, which people choose. */
const PASSWORD_ENTROPY: EntropyThreshold = { hex: 2.8, base64: 2.8, other: 2.8 };
/** Short random parts (16–20 characters) cannot reach the entropy of longer ones; this only rules out fillers. */
const SHORT_RANDOM: EntropyThreshold = { hex: 2.5, base64: 2.8, other: 2.8 };
/** Fixed-prefix formats that are only a random string after the prefix (e.g. AWS secret keys). */
const RANDOM_BASE64: EntropyThreshold = { hex: 3.0, base64: 3.6, other: 3.6 };

/** True when `s` is base64url-encoded JSON object text (the header of a JWT). */
function isBase64UrlJsonObject(s: string): boolean {
  try {
    const text = Buffer.from(s, 'base64url').toString('utf8');
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** A JWT whose header decodes to a JSON object naming an algorithm (RFC 7519 §5, RFC 7515 §4.1.1). */
function isJwt(token: string): boolean {
  const [header, payload] = token.split('.');
  if (!isBase64UrlJsonObject(header) || !isBase64UrlJsonObject(payload)) return false;
  return Buffer.from(header, 'base64url').toString('utf8').includes('"alg"');
}

const d = (
  id: string,
  description: string,
  keywords: readonly string[],
  pattern: RegExp,
  extra: Partial<Omit<Detector, 'id' | 'description' | 'keywords' | 'pattern'>> = {},
): Detector => ({ id, description, keywords, pattern, secretGroups: [1], ...extra });

/** Every built-in detector, specific formats first (a tie between overlapping findings keeps the earlier). */
export const BUILTIN_DETECTORS: readonly Detector[] = [
  // ---- Cloud providers
  // AWS IAM User Guide, "Unique identifiers" (AKIA long-term, ASIA temporary, ABIA/ACCA service keys);
  // the 16 characters after the prefix are base32 (A–Z, 2–7).
  d('aws-access-key-id', 'AWS access key ID', ['akia', 'asia', 'abia', 'acca'], /(?<![A-Za-z0-9/+])((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9/+])/dg),
  // AWS General Reference, "AWS security credentials": the secret access key is 40 base64 characters;
  // it has no prefix, so it is found by the name it is assigned to (aws_secret_access_key, SecretAccessKey).
  d(
    'aws-secret-access-key',
    'AWS secret access key',
    ['aws_secret', 'awssecret', 'aws-secret', 'secret_access', 'secretaccess', 'secret-access'],
    /(?:aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key)[A-Za-z0-9_]{0,10}["']?\s{0,4}(?:=>|:=|[:=,])\s{0,4}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/dgi,
    { entropy: RANDOM_BASE64 },
  ),
  // Google Cloud IAM, "Create and manage service account keys": the JSON key file's private_key is a
  // PKCS #8 PEM block with its newlines escaped as \n.
  d(
    'gcp-service-account-key',
    'Google Cloud service account private key',
    ['private_key'],
    /"private_key"\s{0,4}:\s{0,4}"(-----BEGIN PRIVATE KEY-----\\n[A-Za-z0-9+/=\\]{64,8000}-----END PRIVATE KEY-----)/dg,
  ),
  // Google Cloud, "Manage API keys": keys are 39 characters starting with AIza.
  d('gcp-api-key', 'Google API key', ['aiza'], /(?<![A-Za-z0-9_-])(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/dg),
  // Google Identity, OAuth 2.0 client secrets carry the GOCSPX- prefix since 2021.
  d('gcp-oauth-client-secret', 'Google OAuth client secret', ['gocspx-'], /(GOCSPX-[A-Za-z0-9_-]{28})(?![A-Za-z0-9_-])/dg),
  // Azure Storage, "Configure Azure Storage connection strings": AccountKey is 64 bytes in base64 (88 chars).
  d('azure-storage-account-key', 'Azure Storage account key', ['accountkey='], /AccountKey=([A-Za-z0-9+/]{86}==)/dgi),
  // Microsoft Entra ID client secrets (app registrations, 2022 format): three characters, a digit, the
  // marker Q~, then 31–34 characters; the shape Microsoft's own credential scanners look for.
  d(
    'azure-ad-client-secret',
    'Microsoft Entra ID (Azure AD) client secret',
    ['q~'],
    /(?<![A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])/dg,
    { entropy: RANDOM_BASE64 },
  ),
  // DigitalOcean docs, "How to Create a Personal Access Token": dop_v1_ (personal), doo_v1_ (OAuth),
  // dor_v1_ (refresh), followed by 64 hex characters.
  d('digitalocean-token', 'DigitalOcean API token', ['dop_v1_', 'doo_v1_', 'dor_v1_'], /(do[opr]_v1_[a-f0-9]{64})(?![A-Za-z0-9])/dg),
  // Alibaba Cloud RAM, "Create an AccessKey pair": AccessKey IDs start with LTAI.
  d('alibaba-access-key-id', 'Alibaba Cloud AccessKey ID', ['ltai'], /(?<![A-Za-z0-9])(LTAI[A-Za-z0-9]{12,20})(?![A-Za-z0-9])/dg, { entropy: SHORT_RANDOM }),

  // ---- Source hosting and CI
  // GitHub docs, "About authentication to GitHub" (token prefixes) and GitHub blog, "Behind GitHub's new
  // authentication token formats": prefix, 30 base62 characters, 6-character CRC32 checksum.
  d('github-pat', 'GitHub personal access token (classic)', ['ghp_'], /(?<![A-Za-z0-9_])(ghp_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/dg, { validate: hasValidBase62Checksum }),
  d('github-oauth-token', 'GitHub OAuth access token', ['gho_'], /(?<![A-Za-z0-9_])(gho_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/dg, { validate: hasValidBase62Checksum }),
  d('github-user-token', 'GitHub App user-to-server token', ['ghu_'], /(?<![A-Za-z0-9_])(ghu_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/dg, { validate: hasValidBase62Checksum }),
  d('github-app-token', 'GitHub App installation (server-to-server) token', ['ghs_'], /(?<![A-Za-z0-9_])(ghs_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/dg, { validate: hasValidBase62Checksum }),
  d('github-refresh-token', 'GitHub App refresh token', ['ghr_'], /(?<![A-Za-z0-9_])(ghr_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/dg, { validate: hasValidBase62Checksum }),
  // GitHub docs, "Managing your personal access tokens" (fine-grained): github_pat_, 22 + 59 characters.
  d('github-fine-grained-pat', 'GitHub fine-grained personal access token', ['github_pat_'], /(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9_])/dg),
  // GitLab docs, "Token overview" (prefixes glpat-, glptt-, glrt-, gldt-); newer tokens append
  // a routing part `.<2>.<7–9>`.
  d('gitlab-pat', 'GitLab personal, project or group access token', ['glpat-'], /(glpat-[A-Za-z0-9_-]{20,27}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?)(?![A-Za-z0-9_-])/dg, { entropy: RANDOM_BASE64 }),
  d('gitlab-pipeline-trigger-token', 'GitLab pipeline trigger token', ['glptt-'], /(glptt-[0-9a-f]{40})(?![A-Za-z0-9])/dg),
  d('gitlab-runner-token', 'GitLab runner authentication token', ['glrt-'], /(glrt-[A-Za-z0-9_-]{20,64}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?)(?![A-Za-z0-9_-])/dg, { entropy: RANDOM_BASE64 }),
  d('gitlab-deploy-token', 'GitLab deploy token', ['gldt-'], /(gldt-[A-Za-z0-9_-]{20,64})(?![A-Za-z0-9_-])/dg, { entropy: RANDOM_BASE64 }),
  // Atlassian docs, "App passwords" (Bitbucket Cloud): app passwords start with ATBB.
  d('bitbucket-app-password', 'Bitbucket app password', ['atbb'], /(?<![A-Za-z0-9])(ATBB[A-Za-z0-9_=.-]{28,36})(?![A-Za-z0-9_=.-])/dg, { entropy: RANDOM_BASE64 }),
  // npm docs, "About access tokens" and GitHub blog, "Announcing npm's new access token format": npm_,
  // 30 base62 characters and a CRC32 checksum, as GitHub's.
  d('npm-token', 'npm access token', ['npm_'], /(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/dg, { validate: hasValidBase62Checksum }),
  // PyPI docs, "API tokens": a macaroon, pypi- then base64 beginning with the encoded location
  // `pypi.org` (AgEIcHlwaS5vcmc) or `test.pypi.org` (AgENdGVzdC5weXBpLm9yZw).
  d(
    'pypi-token',
    'PyPI API token',
    ['pypi-ageichlwas5vcmc', 'pypi-agendgvzdc5wexbplm9yzw'],
    /(pypi-Ag(?:EIcHlwaS5vcmc|ENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,400})(?![A-Za-z0-9_-])/dg,
  ),
  // CircleCI docs, "Managing API tokens": personal tokens start with CCIPAT_.
  d('circleci-token', 'CircleCI personal API token', ['ccipat_'], /(CCIPAT_[A-Za-z0-9]{20,26}_[a-f0-9]{40})(?![A-Za-z0-9_])/dg),
  // Travis CI docs, "API V3 authentication": 22-character tokens without a prefix, found by name.
  d(
    'travis-ci-token',
    'Travis CI API token',
    ['travis'],
    /travis[A-Za-z0-9_.-]{0,30}token["']?\s{0,4}(?:=>|:=|[:=])\s{0,4}["']?([A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])/dgi,
    { entropy: RANDOM_BASE64 },
  ),
  // Terraform docs, "API tokens" (HCP Terraform): <14>.atlasv1.<60–70>.
  d('terraform-cloud-token', 'HCP Terraform / Terraform Cloud API token', ['.atlasv1.'], /(?<![A-Za-z0-9])([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})(?![A-Za-z0-9_=-])/dg),
  // HashiCorp Vault docs, "Tokens" (1.10+ format): hvs. service tokens, hvb. batch tokens.
  d('vault-token', 'HashiCorp Vault token', ['hvs.', 'hvb.'], /(?<![A-Za-z0-9_.-])(hv[sb]\.[A-Za-z0-9_-]{90,200})(?![A-Za-z0-9_-])/dg),
  // Docker docs, "Access tokens": personal access tokens start with dckr_pat_.
  d('dockerhub-pat', 'Docker Hub personal access token', ['dckr_pat_'], /(dckr_pat_[A-Za-z0-9_-]{27})(?![A-Za-z0-9_-])/dg),
  // Pulumi docs, "Access tokens": pul- then 40 hex characters.
  d('pulumi-token', 'Pulumi access token', ['pul-'], /(?<![A-Za-z0-9_-])(pul-[a-f0-9]{40})(?![A-Za-z0-9])/dg),
  // Doppler docs, "Service tokens": dp.pt. (personal), dp.st. (service), dp.sa. (service account).
  d('doppler-token', 'Doppler token', ['dp.pt.', 'dp.st.', 'dp.sa.', 'dp.ct.'], /(dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,44})(?![A-Za-z0-9])/dg),

  // ---- Chat, mail and payments
  // Slack API docs, "Token types": xoxb- bot tokens, xoxp- user tokens, xapp- app-level tokens.
  d('slack-bot-token', 'Slack bot token', ['xoxb-'], /(xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24})(?![A-Za-z0-9])/dg),
  d('slack-user-token', 'Slack user token', ['xoxp-'], /(xoxp-[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[a-f0-9]{32})(?![A-Za-z0-9])/dg),
  d('slack-app-token', 'Slack app-level token', ['xapp-'], /(xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,13}-[a-f0-9]{64})(?![A-Za-z0-9])/dg),
  // Slack API docs, "Sending messages using incoming webhooks": the path T…/B…/<24> is the secret.
  d(
    'slack-webhook-url',
    'Slack incoming webhook URL',
    ['hooks.slack.com'],
    /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/(T[A-Z0-9]{8,12}\/B[A-Z0-9]{8,12}\/[A-Za-z0-9]{24})(?![A-Za-z0-9])/dg,
  ),
  // Discord developer docs, "Authentication" (Bot tokens): base64 user id, timestamp and HMAC, dot-separated;
  // the shape is too generic alone, so the line must say discord.
  d(
    'discord-bot-token',
    'Discord bot token',
    ['discord'],
    /(?<![A-Za-z0-9_.-])([MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})(?![A-Za-z0-9_-])/dg,
    { entropy: RANDOM_BASE64 },
  ),
  // Discord developer docs, "Webhook resource": https://discord.com/api/webhooks/<id>/<token>.
  d(
    'discord-webhook-url',
    'Discord webhook URL',
    ['discord'],
    /https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks\/([0-9]{17,20}\/[A-Za-z0-9_-]{60,68})(?![A-Za-z0-9_-])/dg,
  ),
  // Telegram Bot API, "Authorizing your bot": <bot id>:<35 characters>; issued tokens' secret part starts with AA.
  d('telegram-bot-token', 'Telegram bot token', [':aa'], /(?<![A-Za-z0-9])([0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])/dg),
  // Twilio docs, "API keys": SIDs of API keys are SK + 32 hex; only meaningful near the word twilio.
  d('twilio-api-key', 'Twilio API key', ['twilio'], /(?<![A-Za-z0-9])(SK[0-9a-fA-F]{32})(?![A-Za-z0-9])/dg, { entropy: { hex: 3.0, base64: 3.0, other: 3.0 } }),
  // SendGrid docs, "API keys": SG.<22>.<43>.
  d('sendgrid-api-key', 'SendGrid API key', ['sg.'], /(?<![A-Za-z0-9_-])(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/dg),
  // Mailgun docs, "API keys" (legacy private key format): key- then 32 hex.
  d('mailgun-api-key', 'Mailgun API key', ['key-'], /(?<![A-Za-z0-9_-])(key-[0-9a-f]{32})(?![A-Za-z0-9])/dg, { entropy: { hex: 3.0, base64: 3.0, other: 3.0 } }),
  // Mailchimp Marketing API docs, "Quick start": 32 hex then -us<datacenter>.
  d('mailchimp-api-key', 'Mailchimp API key', ['-us'], /(?<![A-Za-z0-9])([0-9a-f]{32}-us[0-9]{1,2})(?![A-Za-z0-9])/dg, { entropy: { hex: 3.0, base64: 3.0, other: 3.0 } }),
  // Stripe docs, "API keys": sk_live_ secret keys, rk_live_ restricted keys; "Webhooks": whsec_ signing secrets.
  d('stripe-secret-key', 'Stripe live secret key', ['sk_live_'], /(sk_live_[A-Za-z0-9]{24,99})(?![A-Za-z0-9])/dg),
  d('stripe-restricted-key', 'Stripe live restricted key', ['rk_live_'], /(rk_live_[A-Za-z0-9]{24,99})(?![A-Za-z0-9])/dg),
  d('stripe-webhook-secret', 'Stripe webhook signing secret', ['whsec_'], /(whsec_[A-Za-z0-9+/]{32,64})(?![A-Za-z0-9+/])/dg, { entropy: RANDOM_BASE64 }),
  // Square developer docs, "Access tokens": production tokens EAAA + 60, legacy sq0atp-; OAuth secrets sq0csp-.
  d('square-access-token', 'Square access token', ['eaaa', 'sq0atp-'], /(?<![A-Za-z0-9_-])(EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])/dg, { entropy: RANDOM_BASE64 }),
  d('square-oauth-secret', 'Square OAuth application secret', ['sq0csp-'], /(sq0csp-[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/dg),
  // Braintree (PayPal) docs, "Access tokens": access_token$production$<merchant id>$<32 hex>.
  d('braintree-access-token', 'Braintree / PayPal production access token', ['access_token$production$'], /(access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})(?![A-Za-z0-9])/dg),
  // Shopify docs, "About authentication": shpat_ (admin API), shpca_ (custom app), shppa_ (private app), shpss_ (shared secret).
  d('shopify-token', 'Shopify access token or shared secret', ['shpat_', 'shpca_', 'shppa_', 'shpss_'], /(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})(?![A-Za-z0-9])/dg),

  // ---- Developer platforms and AI APIs
  // OpenAI API reference, "Authentication": keys sk-, sk-proj-, sk-svcacct-, sk-admin-, all embedding T3BlbkFJ.
  d(
    'openai-api-key',
    'OpenAI API key',
    ['t3blbkfj'],
    /(?<![A-Za-z0-9_-])(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,160}T3BlbkFJ[A-Za-z0-9_-]{20,160})(?![A-Za-z0-9_-])/dg,
  ),
  // Anthropic API docs, "Authentication": sk-ant-api03- (and sk-ant-admin01-) keys, 93 characters then AA.
  d('anthropic-api-key', 'Anthropic API key', ['sk-ant-'], /(sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA)(?![A-Za-z0-9_-])/dg),
  // Hugging Face docs, "User access tokens": hf_ then 34 letters.
  d('huggingface-token', 'Hugging Face access token', ['hf_'], /(?<![A-Za-z0-9_])(hf_[A-Za-z]{34})(?![A-Za-z0-9_])/dg, { entropy: RANDOM_BASE64 }),
  // Databricks docs, "Personal access token authentication": dapi + 32 hex (optionally -<n>).
  d('databricks-token', 'Databricks personal access token', ['dapi'], /(?<![A-Za-z0-9])(dapi[a-f0-9]{32}(?:-[0-9])?)(?![A-Za-z0-9])/dg, { entropy: { hex: 3.0, base64: 3.0, other: 3.0 } }),
  // Grafana docs, "Cloud access policies" (glc_ + base64 JSON) and "Service accounts" (glsa_).
  d('grafana-cloud-token', 'Grafana Cloud access policy token', ['glc_'], /(glc_eyJ[A-Za-z0-9+/]{32,400}={0,2})(?![A-Za-z0-9+/=])/dg),
  d('grafana-service-account-token', 'Grafana service account token', ['glsa_'], /(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})(?![A-Za-z0-9])/dg),
  // New Relic docs, "New Relic API keys": user keys NRAK- + 27.
  d('newrelic-user-key', 'New Relic user API key', ['nrak-'], /(NRAK-[A-Z0-9]{27})(?![A-Za-z0-9])/dg),
  // Sentry docs, "Auth tokens": sntrys_ (organization, base64 JSON) and sntryu_ (user, 64 hex).
  d('sentry-token', 'Sentry auth token', ['sntrys_', 'sntryu_'], /(sntryu_[a-f0-9]{64}|sntrys_eyJ[A-Za-z0-9+/_=-]{60,400})(?![A-Za-z0-9+/_=-])/dg),
  // Linear docs, "API and webhooks": personal API keys lin_api_ + 40.
  d('linear-api-key', 'Linear API key', ['lin_api_'], /(lin_api_[A-Za-z0-9]{40})(?![A-Za-z0-9])/dg),
  // Postman docs, "Generate a Postman API key": PMAK-<24 hex>-<34 hex>.
  d('postman-api-key', 'Postman API key', ['pmak-'], /(PMAK-[a-f0-9]{24}-[a-f0-9]{34})(?![A-Za-z0-9])/dg),
  // Heroku Dev Center, "Heroku CLI authentication": API keys are UUIDs; only with heroku in the name.
  d(
    'heroku-api-key',
    'Heroku API key',
    ['heroku'],
    /heroku[A-Za-z0-9_.-]{0,30}["']?\s{0,4}(?:=>|:=|[:=])\s{0,4}["']?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![A-Za-z0-9-])/dgi,
  ),
  // age specification (age-encryption.org/v1): secret keys are Bech32 with HRP AGE-SECRET-KEY-.
  d('age-secret-key', 'age encryption secret key', ['age-secret-key-1'], /(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?![A-Za-z0-9])/dg),

  // ---- Tokens and keys in standard encodings
  // RFC 7519 (JWT) in JWS Compact Serialization (RFC 7515 §7.1): base64url header and payload, both
  // JSON objects (so both start with eyJ, the encoding of `{"`), and a signature.
  d(
    'jwt',
    'JSON Web Token',
    ['eyj'],
    /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,8000}\.[A-Za-z0-9_-]{16,2000})(?![A-Za-z0-9_-])/dg,
    { validate: isJwt },
  ),
  // RFC 7468 (textual encodings): PKCS #1/#8/SEC 1 private keys, optionally with RFC 1421 headers
  // (Proc-Type: 4,ENCRYPTED). The secret is the base64 body; END may be missing in a truncated paste.
  d(
    'private-key-pem',
    'PEM private key',
    ['private key-----'],
    /-----BEGIN (?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----\r?\n(?:[ \t]{0,16}[A-Za-z-]{1,32}:[^\r\n]{0,200}\r?\n){0,4}([A-Za-z0-9+/=\s]{64,12000})/dg,
    { multiline: true },
  ),
  // OpenSSH PROTOCOL.key: "-----BEGIN OPENSSH PRIVATE KEY-----" then base64 of openssh-key-v1.
  d('private-key-openssh', 'OpenSSH private key', ['openssh private key'], /-----BEGIN OPENSSH PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\s]{64,12000})/dg, { multiline: true }),
  // RFC 4880 §6.2 (OpenPGP ASCII armor): "-----BEGIN PGP PRIVATE KEY BLOCK-----", armor headers, body.
  d(
    'private-key-pgp',
    'PGP private key block',
    ['pgp private key block'],
    /-----BEGIN PGP PRIVATE KEY BLOCK-----\r?\n(?:[ \t]{0,16}[A-Za-z-]{1,32}:[^\r\n]{0,200}\r?\n){0,8}([A-Za-z0-9+/=\s]{64,20000})/dg,
    { multiline: true },
  ),

  // ---- Database URLs with a password (RFC 3986 userinfo; each server's connection URI docs)
  // PostgreSQL docs, "Connection URIs" (postgres:// and postgresql://).
  d('postgres-url', 'PostgreSQL connection URL with a password', ['postgres://', 'postgresql://'], /postgres(?:ql)?:\/\/[^:@/\s'"`]{1,128}:([^@/\s'"`]{1,256})@[A-Za-z0-9[]/dg, { generic: true }),
  // MySQL docs, "Connecting Using URI-Like Strings"; also SQLAlchemy's mysql+<driver>:// and MariaDB.
  d('mysql-url', 'MySQL / MariaDB connection URL with a password', ['mysql://', 'mysql+', 'mariadb://'], /(?:mysql(?:\+[a-z0-9]{1,20})?|mariadb):\/\/[^:@/\s'"`]{1,128}:([^@/\s'"`]{1,256})@[A-Za-z0-9[]/dg, { generic: true }),
  // MongoDB manual, "Connection Strings" (mongodb:// and mongodb+srv://).
  d('mongodb-url', 'MongoDB connection string with a password', ['mongodb://', 'mongodb+srv://'], /mongodb(?:\+srv)?:\/\/[^:@/\s'"`]{1,128}:([^@/\s'"`]{1,256})@[A-Za-z0-9[]/dg, { generic: true }),
  // IANA redis URI scheme (redis:// and rediss://); the user may be empty (redis://:password@host).
  d('redis-url', 'Redis connection URL with a password', ['redis://', 'rediss://'], /rediss?:\/\/[^:@/\s'"`]{0,128}:([^@/\s'"`]{1,256})@[A-Za-z0-9[]/dg, { generic: true }),
  // RabbitMQ docs, "URI Specification" (amqp:// and amqps://).
  d('amqp-url', 'AMQP (RabbitMQ) URL with a password', ['amqp://', 'amqps://'], /amqps?:\/\/[^:@/\s'"`]{1,128}:([^@/\s'"`]{1,256})@[A-Za-z0-9[]/dg, { generic: true }),

  // ---- Generic assignments (heuristic: name, separator, quoted or bare value, entropy)
  d(
    'generic-password',
    'Password assigned in code or configuration',
    ['password', 'passwd', 'pwd'],
    /(?:password|passwd|pwd)[A-Za-z0-9_-]{0,20}["'\]]{0,2}\s{0,4}(?:=>|:=|[:=])\s{0,4}(?:["'`]([^"'`\s\\\u0000-\u001f\u007f-\uffff]{8,200})["'`]|([A-Za-z0-9+/_!@#%^&*.~-]{10,200}={0,2})(?![^\s,;}\])]))/dgi,
    { secretGroups: [1, 2], entropy: PASSWORD_ENTROPY, generic: true, assignment: true, bareGroup: 2 },
  ),
  d(
    'generic-api-key',
    'API key or access token assigned in code or configuration',
    ['api_key', 'apikey', 'api-key', 'api_secret', 'apisecret', 'api-secret', 'access_key', 'accesskey', 'access-key', 'access_token', 'accesstoken', 'access-token', 'auth_token', 'authtoken', 'auth-token', 'client_secret', 'clientsecret', 'client-secret', 'secret_key', 'secretkey', 'secret-key', 'private_key', 'privatekey', 'private-key'],
    /(?:api[_-]?(?:key|secret)|access[_-]?(?:key|token)|auth[_-]?token|client[_-]?secret|secret[_-]?key|private[_-]?key)[A-Za-z0-9_-]{0,20}["'\]]{0,2}\s{0,4}(?:=>|:=|[:=])\s{0,4}(?:["'`]([^"'`\s\\\u0000-\u001f\u007f-\uffff]{16,300})["'`]|([A-Za-z0-9+/_.~-]{16,300}={0,2})(?![^\s,;}\])]))/dgi,
    { secretGroups: [1, 2], entropy: GENERIC_ENTROPY, generic: true, assignment: true, bareGroup: 2 },
  ),
  d(
    'generic-secret',
    'Secret or token assigned in code or configuration',
    ['secret', 'token'],
    /(?:secret|token)[A-Za-z0-9_-]{0,20}["'\]]{0,2}\s{0,4}(?:=>|:=|[:=])\s{0,4}(?:["'`]([^"'`\s\\\u0000-\u001f\u007f-\uffff]{16,300})["'`]|([A-Za-z0-9+/_.~-]{16,300}={0,2})(?![^\s,;}\])]))/dgi,
    { secretGroups: [1, 2], entropy: GENERIC_ENTROPY, generic: true, assignment: true, bareGroup: 2 },
  ),
];
