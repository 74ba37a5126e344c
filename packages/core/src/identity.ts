/** Who is calling: always an authenticated identity, never a commit's author field. */
export interface Identity {
  /** The token's subject. */
  readonly sub: string;
  /** The issuer that vouched for it (`iss`), e.g. the gateway's own or an OIDC provider. */
  readonly issuer: string;
  readonly email?: string;
  readonly groups: readonly string[];
  /** True when the caller is an AI agent (the configured agent claim is truthy). */
  readonly agent: boolean;
}
