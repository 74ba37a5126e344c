/** Exponential backoff with jitter, shared by the relayer's retries and webhook deliveries. */

/**
 * The wait after failed attempt number `attempt` (1-based): `initialMs` doubled per attempt, capped
 * at `maxMs`, then drawn from its upper half so that many waiters failing together (every hold of
 * a down upstream, every replica's webhooks to a down receiver) do not all come back at once.
 */
export function backoffMs(retry: { readonly initialMs: number; readonly maxMs: number }, attempt: number): number {
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(base / 2 + Math.random() * (base / 2));
}
