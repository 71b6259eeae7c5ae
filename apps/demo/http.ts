import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The demo app's small HTTP toolkit: routes as `"METHOD /path"`, JSON in and out, typed errors. */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** More fields of the JSON error body (e.g. the epoch of a `fenced` refusal). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  /** The request body parsed as a JSON object ({} when empty); 400 when it is not JSON. */
  json(): Promise<Record<string, unknown>>;
}

/** `[status, body]` to answer with JSON, or undefined when the handler wrote the response itself. */
export type Reply = [number, unknown] | undefined;
export type Handler = (x: Exchange) => Reply | Promise<Reply>;

const MAX_JSON_BODY = 1024 * 1024;

/** The request body's exact bytes (a signature is checked over them); 413 past MAX_JSON_BODY. */
export function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_JSON_BODY) {
        reject(new HttpError(413, 'too_large', `a JSON body may hold at most ${MAX_JSON_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** A body as a JSON object ({} when empty); 400 when it is not one. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  const text = raw.toString('utf8');
  let value: unknown;
  try {
    value = text ? JSON.parse(text) : {};
  } catch (err) {
    throw new HttpError(400, 'bad_request', (err as Error).message);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'bad_request', 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return parseJsonObject(await readRaw(req));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

/** Compares a bearer token with the expected one in constant time. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
