import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { pipeline as pipe, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import type {
  ArtifactSink,
  ArtifactSource,
  ReleaseResult,
  RestoreResult,
  ServiceAdapter,
  ServiceContext,
  ServiceOf,
  SnapshotResult,
  VerifyResult,
} from './service-adapter.port';

/**
 * A service behind HTTP backup hooks: anything that can quiesce itself, describe and stream its
 * state, and take it back. `target.url` is the hooks' base URL; `target.token`, when set, goes in
 * `Authorization: Bearer <token>` (and nowhere else: not in logs, not in errors). The contract
 * (docs/demo-app.md implements and documents it):
 *
 *   POST <url>/quiesce  {restorePointId, leaseSeconds} → 200 {quiesced: true}
 *        hold writes and reach a consistent state; idempotent for the same restorePointId, 409 while
 *        quiesced for another; the hold ends by itself after leaseSeconds
 *   POST <url>/marker   {restorePointId}               → 200 {...}  the consistency marker (a JSON object)
 *   POST <url>/snapshot {restorePointId}               → 200 the artifact's bytes as the body
 *   POST <url>/release  {restorePointId}               → 200 {released, leaseExpired?}  idempotent, harmless
 *        when not quiesced; `leaseExpired: true` says the hold had already ended by its lease
 *   POST <url>/restore?restorePointId=<id>  body: the artifact's bytes → 200 {detail}
 *   GET  <url>/verify                                   → 200 {ok, detail}
 *   POST <url>/discard                                  → 200 {detail}  scratch instances only (test
 *        restores and drills): forget everything restored; idempotent
 *
 * Errors are answered with a non-2xx status and, ideally, JSON `{error, message}`.
 * Bodies stream both ways (memory stays flat); the call heartbeats while it runs. A rejection
 * that a retry cannot change (400, 401, 403, 404, 422; 409 on marker and snapshot: the cut is
 * gone) is a non-retryable ApplicationFailure; the rest are plain errors, retried by the activity.
 */

export interface HttpHookAdapterOptions {
  /** Bound on marker, release and verify (default 30 s). Quiesce is bounded by its lease. */
  callTimeoutMs?: number;
  /** A snapshot or restore fails when no byte moves for this long (default 60 s). */
  idleTimeoutMs?: number;
  /** How often a running call heartbeats (default 5 s). */
  heartbeatMs?: number;
}

type HttpTarget = ServiceOf<'http'>;
type Ctx = ServiceContext<HttpTarget>;
type Hook = 'quiesce' | 'marker' | 'snapshot' | 'release' | 'restore' | 'verify' | 'discard';

interface CallSpec {
  method: 'GET' | 'POST';
  hook: Hook;
  query?: Record<string, string>;
  json?: Record<string, unknown>;
  /** A streamed request body: what is sent, and the original source (its errors are passed on as they are). */
  body?: { stream: Readable; source: Readable; size?: number };
  /** Overall bound; none for streams (they are bounded by idleness and the activity's timeouts). */
  timeoutMs?: number;
  idleTimeoutMs: number;
  /** Whether a 409 answer may change on retry (quiesce: another cut's lease will run out). */
  conflictRetryable?: boolean;
}

/** A hook answered with an error status or could not be reached; `status` is absent for the latter. */
export class HttpHookError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpHookError';
  }
}

const MAX_ERROR_BODY = 64 * 1024;
const MAX_JSON_BODY = 1024 * 1024;

export class HttpHookAdapter implements ServiceAdapter<HttpTarget> {
  private readonly callTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly heartbeatMs: number;

  constructor(options: HttpHookAdapterOptions = {}) {
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
  }

  async quiesce(ctx: Ctx, leaseSeconds: number): Promise<void> {
    const leaseMs = leaseSeconds * 1000;
    try {
      await this.callJson(ctx, {
        method: 'POST',
        hook: 'quiesce',
        json: { restorePointId: ctx.restorePointId, leaseSeconds },
        timeoutMs: leaseMs,
        idleTimeoutMs: leaseMs,
        conflictRetryable: true,
      });
    } catch (err) {
      // Whatever the hook may have taken is given back (release is idempotent and harmless).
      await this.release(ctx).catch((e: unknown) =>
        ctx.logger.warn({ err: (e as Error).message }, 'release after a failed quiesce failed'),
      );
      throw err;
    }
  }

  async marker(ctx: Ctx): Promise<Record<string, unknown>> {
    return this.callJson(ctx, {
      method: 'POST',
      hook: 'marker',
      json: { restorePointId: ctx.restorePointId },
      timeoutMs: this.callTimeoutMs,
      idleTimeoutMs: this.callTimeoutMs,
    });
  }

  async snapshot(ctx: Ctx, sink: ArtifactSink): Promise<SnapshotResult> {
    let bytes = 0;
    const artifact = await this.call(
      ctx,
      {
        method: 'POST',
        hook: 'snapshot',
        json: { restorePointId: ctx.restorePointId },
        idleTimeoutMs: this.idleTimeoutMs,
      },
      () => ({ bytes }),
      (res) =>
        sink.put(res, {
          extension: 'bin',
          contentType: 'application/octet-stream',
          // A hook that says its length lets the upload size its parts (less memory).
          size:
            Number(res.headers['content-length'] ?? NaN) >= 0
              ? Number(res.headers['content-length'])
              : undefined,
          onProgress: (b) => (bytes = b),
        }),
    );
    return { artifact };
  }

  async release(ctx: Ctx): Promise<ReleaseResult> {
    const out = await this.callJson(ctx, {
      method: 'POST',
      hook: 'release',
      json: { restorePointId: ctx.restorePointId },
      timeoutMs: this.callTimeoutMs,
      idleTimeoutMs: this.callTimeoutMs,
    });
    if (out.leaseExpired === true) {
      // Harmless for the release itself, but the hold did not last until now: worth a trace.
      ctx.logger.warn(
        { hook: 'release', detail: typeof out.detail === 'string' ? out.detail : undefined },
        'the quiesce had ended by its lease before the release',
      );
      return { leaseExpired: true, detail: typeof out.detail === 'string' ? out.detail : undefined };
    }
    return {};
  }

  async restore(ctx: Ctx, source: ArtifactSource): Promise<RestoreResult> {
    const counter = new ByteCounter();
    const artifact = await source.open();
    // pipeline, not pipe: a failing source (checksum mismatch) must fail the upload, not stall it.
    const stream = pipe(artifact, counter, () => undefined);
    const out = await this.callJson(
      ctx,
      {
        method: 'POST',
        hook: 'restore',
        query: { restorePointId: ctx.restorePointId },
        body: { stream, source: artifact, size: source.artifact.size },
        idleTimeoutMs: this.idleTimeoutMs,
      },
      () => ({ bytes: counter.bytes }),
    );
    const detail = typeof out.detail === 'string' ? out.detail : `restored ${counter.bytes} bytes`;
    return { detail };
  }

  async verify(ctx: Ctx): Promise<VerifyResult> {
    const out = await this.callJson(ctx, {
      method: 'GET',
      hook: 'verify',
      timeoutMs: this.callTimeoutMs,
      idleTimeoutMs: this.callTimeoutMs,
    });
    if (typeof out.ok !== 'boolean') {
      throw new HttpHookError(`GET ${this.url(ctx, 'verify').pathname}: the answer has no boolean "ok"`, 200);
    }
    return { ok: out.ok, detail: typeof out.detail === 'string' ? out.detail : '' };
  }

  async prepareScratch(ctx: Ctx): Promise<void> {
    await this.discardScratch(ctx);
  }

  async discardScratch(ctx: Ctx): Promise<{ detail: string }> {
    const out = await this.callJson(ctx, {
      method: 'POST',
      hook: 'discard',
      json: {},
      timeoutMs: this.callTimeoutMs,
      idleTimeoutMs: this.callTimeoutMs,
    });
    return { detail: typeof out.detail === 'string' ? out.detail : 'scratch instance discarded' };
  }

  private callJson(
    ctx: Ctx,
    spec: CallSpec,
    progress: () => Record<string, unknown> = () => ({}),
  ): Promise<Record<string, unknown>> {
    return this.call(ctx, spec, progress, async (res, label) => {
      const text = await readCapped(res, MAX_JSON_BODY);
      if (text.trim() === '') return {};
      try {
        const value: unknown = JSON.parse(text);
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
          return value as Record<string, unknown>;
        }
      } catch {
        // reported below
      }
      throw new HttpHookError(`${label}: the answer is not a JSON object`, res.statusCode);
    });
  }

  /**
   * One request to a hook: heartbeats until `consume` is done with the answer, aborts on the
   * activity's cancellation, the overall timeout or idleness, and turns a non-2xx answer into an
   * error naming the method, path, status and the hook's message.
   */
  private async call<T>(
    ctx: Ctx,
    spec: CallSpec,
    progress: () => Record<string, unknown>,
    consume: (res: IncomingMessage, label: string) => Promise<T>,
  ): Promise<T> {
    const url = this.url(ctx, spec.hook, spec.query);
    const label = `${spec.method} ${url.pathname}`;
    const abort = new AbortController();
    const cancel = () => abort.abort(new HttpHookError(`${label}: cancelled`));
    if (ctx.signal.aborted) cancel();
    ctx.signal.addEventListener('abort', cancel, { once: true });
    const timer =
      spec.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => abort.abort(new HttpHookError(`${label}: no answer within ${spec.timeoutMs! / 1000} s`)),
            spec.timeoutMs,
          );
    let sourceError: unknown;
    spec.body?.source.once('error', (err) => (sourceError = err));
    const beat = () => ctx.heartbeat({ hook: spec.hook, ...progress() });
    beat();
    const heartbeat = setInterval(beat, this.heartbeatMs);
    const started = Date.now();
    let res: IncomingMessage | undefined;
    try {
      res = await this.send(url, label, spec, ctx.target.token, abort.signal);
      if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) {
        throw await this.failure(res, label, spec, ctx.target.token);
      }
      const out = await consume(res, label);
      ctx.logger.debug(
        { hook: spec.hook, status: res.statusCode, ms: Date.now() - started },
        'hook answered',
      );
      return out;
    } catch (err) {
      // The artifact source's own errors (a checksum mismatch) keep their type for the activity.
      if (sourceError !== undefined) throw sourceError;
      if (err instanceof HttpHookError || err instanceof ApplicationFailure) throw err;
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : undefined;
      if (reason instanceof HttpHookError) throw reason;
      throw new HttpHookError(`${label}: ${describeNetworkError(err)}`, undefined, { cause: err });
    } finally {
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', cancel);
      if (res && !res.complete) res.destroy();
      spec.body?.stream.destroy();
      spec.body?.source.destroy();
    }
  }

  private send(
    url: URL,
    label: string,
    spec: CallSpec,
    token: string | undefined,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const headers: Record<string, string> = { Accept: 'application/json, application/octet-stream' };
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload: Buffer | undefined;
    if (spec.json) {
      payload = Buffer.from(JSON.stringify(spec.json));
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    } else if (spec.body) {
      headers['Content-Type'] = 'application/octet-stream';
      if (spec.body.size !== undefined && spec.body.size >= 0)
        headers['Content-Length'] = String(spec.body.size);
    }
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = client.request(url, { method: spec.method, headers, signal });
      req.setTimeout(spec.idleTimeoutMs, () =>
        req.destroy(new HttpHookError(`${label}: nothing moved for ${spec.idleTimeoutMs / 1000} s`)),
      );
      req.once('response', resolve);
      req.once('error', reject);
      if (spec.body) {
        // A source that fails (a checksum mismatch) aborts the request: the hook never sees a
        // complete artifact. An early answer (an error status) settles the call first.
        pipeline(spec.body.stream, req).catch((err: unknown) => {
          req.destroy(err as Error);
          reject(err as Error);
        });
      } else {
        req.end(payload);
      }
    });
  }

  private async failure(
    res: IncomingMessage,
    label: string,
    spec: CallSpec,
    token: string | undefined,
  ): Promise<Error> {
    const status = res.statusCode ?? 0;
    const text = await readCapped(res, MAX_ERROR_BODY).catch(() => '');
    let message = text.trim();
    try {
      const body = JSON.parse(text) as { message?: unknown; error?: unknown };
      const m = typeof body.message === 'string' ? body.message : undefined;
      const code = typeof body.error === 'string' ? body.error : undefined;
      message = [code, m].filter(Boolean).join(': ') || message;
    } catch {
      // not JSON: the text itself
    }
    if (token) message = message.split(token).join('[redacted]');
    message = message.replace(/\s+/g, ' ').slice(0, 300) || '(no message)';
    const full = `${label}: HTTP ${status}: ${message}`;
    const retryable =
      status === 408 ||
      status === 425 ||
      status === 429 ||
      (status === 409 && spec.conflictRetryable === true);
    if (status >= 400 && status < 500 && !retryable) {
      return ApplicationFailure.create({
        message: full,
        type: 'http-hook-rejected',
        nonRetryable: true,
        details: [{ hook: spec.hook, status }],
      });
    }
    return new HttpHookError(full, status);
  }

  private url(ctx: Ctx, hook: Hook, query?: Record<string, string>): URL {
    const base = ctx.target.url.replace(/\/+$/, '');
    const url = new URL(`${base}/${hook}`);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    return url;
  }
}

/** Counts the bytes that pass (restore progress for the heartbeat). */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    done: (err?: Error | null, data?: Buffer) => void,
  ) {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

async function readCapped(res: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.message && e.code && !e.message.includes(e.code)) return `${e.code}: ${e.message}`;
  return e.message || e.code || String(err);
}
