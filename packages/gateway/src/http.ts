/**
 * The HTTP layer: express parses the request line and headers, this module authenticates, routes
 * to a git service (git.ts, push.ts), writes the reply with backpressure, renders errors as text
 * (git prints a text/plain body to the user), and afterwards logs, counts and records every
 * request. Handlers stay thin; everything git-specific lives in the services.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { isPushgateError, type Identity, type Limits, type Logger } from '@pushgate/core';
import type { Authenticator } from '@pushgate/auth';
import { upstreamRejected, type AuditRecorder, type GitService, type RequestOutcome, type UpstreamReportRecord } from '@pushgate/audit';
import type { Database } from '@pushgate/store';
import { UpstreamError, type Upstream } from '@pushgate/relay';
import { serveInfoRefs, serveUploadPack, type GitCall, type GitFacts, type GitOutcome, type GitReply, type PushSettlement } from './git';
import type { AdvertisedCapabilities } from './advertised';
import type { ClientAddressOf } from './client-address';
import { GatewayMetrics, methodLabel, type RouteLabel } from './metrics';
import { isHoldsApiTarget, serveHoldsApi } from './holds-api';
import { mirrorSource, type InspectionContext } from './inspection';
import { serveReceivePack } from './push';
import type { HoldContext } from './hold';
import type { PushPolicy } from './policy';
import { RouteError, parseGitRoute, type GitRoute } from './route';

/** What the HTTP layer needs; built by the composition root (gateway.ts). */
export interface HttpContext {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly authenticator: Authenticator;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly audit: AuditRecorder;
  readonly database: Database;
  readonly limits: Limits;
  /** What push inspection needs (mirrors, spool directory, change-set options). */
  readonly inspection: InspectionContext;
  /** Decides about inspected pushes. */
  readonly policy: PushPolicy;
  /** What a push the policy holds needs: the hold store, the review links' base, `-o wait`'s settings. */
  readonly holding?: HoldContext;
  /** Whether the gateway still takes new work (false while draining). */
  readonly accepting: () => boolean;
  /** Registers a request so shutdown can wait for it (and its audit record). */
  readonly track: (done: Promise<void>) => void;
  /** The client's address (X-Forwarded-For believed only through trusted proxies). */
  readonly clientAddress: ClientAddressOf;
  /** The receive-pack capabilities upstream repositories advertised last, for the relay. */
  readonly advertised: AdvertisedCapabilities;
  /** Aborted when shutdown stops waiting for in-flight work: the only thing that stops a relay. */
  readonly shutdown: AbortSignal;
}

/** Largest accepted X-Request-Id; a longer or odd one is replaced by a fresh id. */
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** How long /readyz waits for the database. */
const READY_PING_TIMEOUT_MS = 2_000;

/** Builds the express app. */
export function createApp(ctx: HttpContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  app.get('/healthz', (req, res) => {
    observeSimple(ctx, req, res, 'healthz');
    sendText(res, 200, 'ok\n');
  });
  app.get('/readyz', (req, res) => {
    observeSimple(ctx, req, res, 'readyz');
    void readiness(ctx).then((problem) => sendText(res, problem === undefined ? 200 : 503, problem === undefined ? 'ready\n' : `not ready: ${problem}\n`));
  });
  app.get('/metrics', (req, res) => {
    observeSimple(ctx, req, res, 'metrics');
    void ctx.metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
        res.end(text);
      },
      () => sendText(res, 500, 'metrics unavailable\n'),
    );
  });
  // The approval API (JSON; docs/API.md). `api` is a reserved upstream name, so no git URL starts so.
  app.use((req, res, next) => {
    if (!isHoldsApiTarget(req.url)) return next();
    ctx.track(serveHoldsApi(ctx, req, res, requestIdOf(req)));
  });
  // Everything else is a git request (or refused as one), judged on the raw request target.
  app.use((req, res) => {
    const done = serveGit(ctx, req, res);
    ctx.track(done);
  });
  // Anything express itself throws (it should not) is answered in a line, never with a stack trace.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    ctx.logger.error('request failed in the HTTP framework', { error: describeError(err) });
    if (!res.headersSent) sendText(res, 500, 'pushgate: INTERNAL: internal error\n');
    else res.destroy();
  });
  return app;
}

async function readiness(ctx: HttpContext): Promise<string | undefined> {
  if (!ctx.accepting()) return 'shutting down';
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ctx.database.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_PING_TIMEOUT_MS} ms`)), READY_PING_TIMEOUT_MS);
      }),
    ]);
    return undefined;
  } catch (e) {
    ctx.logger.warn('readiness check failed: database', { error: e instanceof Error ? e.message : String(e) });
    return 'database unavailable';
  } finally {
    clearTimeout(timer);
  }
}

function observeSimple(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, route: RouteLabel): void {
  const started = performance.now();
  res.once('close', () => {
    ctx.metrics.requests.inc({ route, method: methodLabel(req.method ?? ''), status: String(res.statusCode) });
    ctx.metrics.duration.observe({ route, method: methodLabel(req.method ?? '') }, (performance.now() - started) / 1000);
  });
}

/** One git request from arrival to its audit record. */
async function serveGit(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const occurredAt = new Date();
  const started = performance.now();
  const requestId = requestIdOf(req);
  res.setHeader('x-request-id', requestId);
  const method = req.method ?? '';
  const target = req.url ?? '';
  const clientAddr = ctx.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
  let logger = ctx.logger.child({ requestId });
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const closed = new Promise<void>((resolve) => res.once('close', resolve));

  let route: GitRoute | undefined;
  let identity: Identity | undefined;
  let facts: GitFacts = {};
  let error: unknown;
  let bytesIn = 0;
  let bytesOut = 0;
  let routeLabel: RouteLabel = 'rejected';
  ctx.metrics.inFlight.inc({ route: routeLabel });
  try {
    route = parseGitRoute(method, target);
    ctx.metrics.inFlight.dec({ route: routeLabel });
    routeLabel = route.kind;
    ctx.metrics.inFlight.inc({ route: routeLabel });
    identity = await authenticate(ctx, req);
    logger = logger.child({ sub: identity.sub, issuer: identity.issuer, agent: identity.agent });
    const upstream = ctx.upstreams.get(route.upstream);
    if (upstream === undefined) {
      throw new RouteError('ROUTE_UNKNOWN_UPSTREAM', `no upstream named "${route.upstream}" is configured at this gateway`, target);
    }
    const body = method === 'POST' ? counted(req, (n) => (bytesIn += n)) : Readable.from([]);
    const call: GitCall = {
      route,
      upstream,
      requestId,
      identity,
      clientAddr,
      headers: req.headers,
      body,
      signal: abort.signal,
      logger,
    };
    const outcome = await dispatch(call, ctx);
    facts = outcome.facts;
    if (outcome.kind === 'failed') throw outcome.error;
    await writeReply(res, outcome.reply, (n) => (bytesOut += n));
  } catch (e) {
    error = e;
    if (!res.headersSent) {
      if (!req.complete) res.setHeader('connection', 'close');
      bytesOut += sendError(res, e, requestId);
    } else {
      // The answer was streaming: all that can be done is to cut it, which git reports.
      res.destroy();
    }
  }
  await closed;
  const durationMs = performance.now() - started;
  const settlement = facts.push === undefined ? undefined : await facts.push;
  const upstreamReport = facts.upstreamReport === undefined ? (settlement?.kind === 'relayed' || settlement?.kind === 'refused' ? settlement.upstreamReport : undefined) : await facts.upstreamReport;
  // A push refused inside the protocol (`unpack`/`ng` lines, HTTP 200) is recorded with its reason.
  if (error === undefined && settlement?.kind === 'refused') error = settlement.error;

  const outcome = outcomeOf(settlement, upstreamReport, classify(error, abort.signal.aborted));
  // A client that went away is recorded by the outcome alone; the stream error it caused says nothing more.
  if (outcome === 'aborted' && !isPushgateError(error)) error = undefined;
  const status = res.statusCode;
  const code = isPushgateError(error) ? error.code : error === undefined ? undefined : 'INTERNAL';
  ctx.metrics.inFlight.dec({ route: routeLabel });
  ctx.metrics.requests.inc({ route: routeLabel, method: methodLabel(method), status: String(status) });
  ctx.metrics.duration.observe({ route: routeLabel, method: methodLabel(method) }, durationMs / 1000);
  ctx.metrics.bytesIn.inc({ route: routeLabel }, bytesIn);
  ctx.metrics.bytesOut.inc({ route: routeLabel }, bytesOut);
  if (error instanceof UpstreamError) ctx.metrics.upstreamErrors.inc({ upstream: error.data?.upstream ?? 'unknown', code: error.code });
  if (isPushgateError(error) && error.code.startsWith('AUTH_')) ctx.metrics.authFailures.inc({ code: error.code });
  if (settlement?.decision !== undefined) ctx.metrics.policyDecisions.inc({ decision: settlement.decision.kind });

  const fields = {
    method,
    route: routeLabel,
    upstream: route?.upstream,
    repo: route?.repoPath,
    status,
    outcome,
    code,
    bytesIn,
    bytesOut,
    durationMs: Math.round(durationMs * 10) / 10,
    clientAddr,
    userAgent: req.headers['user-agent'],
    refUpdates: facts.refUpdates,
    refResults: upstreamReport?.kind === 'report' ? upstreamReport.refs : undefined,
    inspection: settlement?.inspection,
    push: settlement?.timings,
    // Rule ids only: what the rules found is in the audit record, masked.
    decision: decisionSummary(settlement),
    holdId: settlement?.kind === 'decided' ? settlement.holdId : undefined,
  };
  if (outcome === 'error') logger.error('request failed', { ...fields, error: describeError(error) });
  else if (outcome === 'upstream-error' || outcome === 'unavailable') logger.warn('request failed', { ...fields, error: describeError(error) });
  else logger.info('request', fields);

  await ctx.audit.recordRequest({
    occurredAt,
    requestId,
    identity,
    clientAddr,
    userAgent: req.headers['user-agent'],
    method,
    upstream: route?.upstream,
    repo: route?.repoPath,
    service: serviceOf(route),
    refUpdates: facts.refUpdates,
    pushOptions: facts.pushOptions,
    upstreamReport,
    inspection: settlement?.inspection,
    decision: settlement?.decision,
    holdId: settlement?.kind === 'decided' ? settlement.holdId : undefined,
    httpStatus: status,
    bytesIn,
    bytesOut,
    durationMs,
    outcome,
    error: error === undefined ? undefined : { code: code ?? 'INTERNAL', message: clientMessage(error) },
  });
}

function dispatch(call: GitCall, ctx: HttpContext): Promise<GitOutcome> {
  const route = call.route;
  switch (route.kind) {
    case 'info-refs':
      // Reached only once the caller is authenticated and the upstream known, like the advertisement itself.
      return serveInfoRefs(
        { ...call, route },
        {
          onReceivePackRefs: (refs) => ctx.inspection.mirrors.prefetch(mirrorSource(call.upstream, route.repoPath), refs),
          onReceivePackCapabilities: (capabilities) => ctx.advertised.remember(route.upstream, route.repoPath, capabilities),
        },
      );
    case 'upload-pack':
      return serveUploadPack(call);
    case 'receive-pack':
      return serveReceivePack(call, {
        limits: ctx.limits,
        audit: ctx.audit,
        inspection: ctx.inspection,
        policy: ctx.policy,
        advertised: ctx.advertised,
        shutdown: ctx.shutdown,
        holding: ctx.holding,
      });
  }
}

async function authenticate(ctx: HttpContext, req: IncomingMessage): Promise<Identity> {
  const header = req.headers.authorization;
  return ctx.authenticator.authenticate(Array.isArray(header) ? header[0] : header);
}

/** Streams a reply to the client with backpressure; counts body bytes. */
async function writeReply(res: ServerResponse, reply: GitReply, count: (n: number) => void): Promise<void> {
  switch (reply.kind) {
    case 'bytes':
      // A client gone before its answer was ready (a relay runs to its end regardless): `end`
      // would never call back on a closed response.
      if (res.destroyed) return;
      res.writeHead(reply.status, { ...reply.headers, 'content-length': String(reply.body.length) });
      count(reply.body.length);
      await new Promise<void>((resolve) => {
        res.once('close', resolve);
        res.end(reply.body, resolve);
      });
      return;
    case 'stream':
      res.writeHead(reply.status, reply.headers);
      await pipeline(reply.body, counter(count), res);
      return;
  }
}

/** Renders an error as git shows it: an HTTP status with a one-line text body. Returns the body size. */
function sendError(res: ServerResponse, e: unknown, requestId: string): number {
  const status = statusOf(e);
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Basic realm="pushgate"';
  if (e instanceof RouteError && e.data?.allow !== undefined) headers.allow = e.data.allow;
  return sendText(res, status, `pushgate: ${clientMessage(e)} (request id ${requestId})\n`, headers);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): number {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-cache' });
  res.end(body);
  return body.length;
}

/**
 * The status an error is answered with. Errors that are not HTTP-delivered (a push's `unpack` or
 * `ng` errors) occur here before any git output, so they are answered as the client errors they are.
 */
function statusOf(e: unknown): number {
  if (!isPushgateError(e)) return 500;
  return e.delivery.kind === 'http' ? e.delivery.status : 400;
}

/** What the client (and the audit record) is told; internal failures say nothing about internals. */
function clientMessage(e: unknown): string {
  if (!isPushgateError(e) || e.code === 'INTERNAL') return 'INTERNAL: internal error';
  return e.clientMessage();
}

function describeError(e: unknown): unknown {
  if (e === undefined) return undefined;
  if (isPushgateError(e)) return { ...e.toJSON(), cause: e.cause instanceof Error ? e.cause.message : undefined };
  return e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : String(e);
}

/** Mirror failures that are the upstream's (the push was refused because the upstream could not be read). */
const UPSTREAM_MIRROR_CODES = new Set(['MIRROR_UPSTREAM_UNREACHABLE', 'MIRROR_UPSTREAM_AUTH_REFUSED', 'MIRROR_REPO_NOT_FOUND', 'MIRROR_FETCH_FAILED']);

function classify(error: unknown, aborted: boolean): RequestOutcome {
  if (error === undefined) return aborted ? 'aborted' : 'ok';
  if (isPushgateError(error)) {
    if (error instanceof UpstreamError || UPSTREAM_MIRROR_CODES.has(error.code)) return 'upstream-error';
    if (error.code === 'AUDIT_UNAVAILABLE' || error.code === 'AUTH_ISSUER_UNAVAILABLE') return 'unavailable';
    if (error.code.startsWith('AUTH_')) return 'unauthenticated';
    if (error.code === 'INTERNAL') return 'error';
    // The policy could not be applied (content unreadable): the gateway's failure, not the client's.
    if (error.code === 'PUSH_POLICY_FAILED') return aborted ? 'aborted' : 'error';
    // A held push the store could not keep: the gateway's database, not the client.
    if (error.code === 'PUSH_HOLD_NOT_STORED') return 'unavailable';
    const status = statusOf(error);
    if (status >= 400 && status < 500) return 'client-error';
    return 'error';
  }
  return aborted ? 'aborted' : 'error';
}

/**
 * The outcome of a request: a push's from how it settled (a decision is the outcome whatever the
 * connection did afterwards), anything else from how serving it ended.
 */
function outcomeOf(settlement: PushSettlement | undefined, upstreamReport: UpstreamReportRecord | undefined, served: RequestOutcome): RequestOutcome {
  if (settlement === undefined) return served;
  switch (settlement.kind) {
    case 'decided':
      return settlement.decision.kind === 'deny' ? 'denied' : 'held';
    case 'relayed':
      // Relayed, and the upstream said no to some of it: recorded as such, not as a push that landed.
      return served === 'ok' && upstreamRejected(upstreamReport) ? 'upstream-rejected' : served;
    case 'refused':
      return served;
  }
}

/** The decision's kind and the rules that fired, for the log line. */
function decisionSummary(settlement: PushSettlement | undefined): { kind: string; rules: string[] } | undefined {
  const decision = settlement?.decision;
  if (decision === undefined) return undefined;
  return { kind: decision.kind, rules: [...new Set(decision.reasons.map((r) => r.rule))] };
}

function serviceOf(route: GitRoute | undefined): GitService | undefined {
  if (route === undefined) return undefined;
  switch (route.kind) {
    case 'info-refs':
      return route.service;
    case 'upload-pack':
      return 'git-upload-pack';
    case 'receive-pack':
      return 'git-receive-pack';
  }
}

function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
}

/**
 * The request body, counted as it is read. Only POST bodies are read at all, and only once the
 * request is authenticated and routed; `pipe` keeps backpressure (the socket is paused while the
 * service is not reading).
 */
function counted(req: IncomingMessage, count: (n: number) => void): Readable {
  const out = counter(count);
  req.once('error', (e) => out.destroy(e));
  req.once('close', () => {
    if (!req.complete) out.destroy(new Error('the client closed the connection before its request body ended'));
  });
  req.pipe(out);
  return out;
}

function counter(count: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      count(chunk.length);
      done(null, chunk);
    },
  });
}
