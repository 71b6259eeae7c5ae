import { createHash } from 'node:crypto';

/**
 * The hash of an audit event is SHA-256 (hex) over its canonical encoding: JSON with the keys of
 * every object sorted (by UTF-16 code units, as Array.prototype.sort does) and no whitespace.
 * The value is first put through JSON (`toJSON`, `undefined` dropped, non-finite numbers null),
 * so what is hashed is exactly what the database gives back after a round trip.
 */
export function canonicalJson(value: unknown): string {
  return encode(toJsonValue(value));
}

/** A lone surrogate (either half) or NUL: text that SQLite or PostgreSQL would not give back as given. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this must find
const UNSTORABLE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\u0000/g;

/**
 * The form every string of an audit event is hashed and stored in. SQLite stores UTF-8, so a lone
 * surrogate comes back as U+FFFD; PostgreSQL text cannot hold NUL at all. Both are replaced by
 * U+FFFD before hashing, so what is hashed is exactly what either store gives back. Everything
 * else (control characters, bidirectional marks, non-NFC text) is kept as the caller wrote it:
 * both stores keep it byte for byte, and an audit log should not rewrite what it records.
 */
export function canonicalText(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/** A JSON value with canonicalText applied to every string in it, object keys included. */
export function canonicalStrings(value: unknown): unknown {
  if (typeof value === 'string') return canonicalText(value);
  if (Array.isArray(value)) return value.map(canonicalStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [canonicalText(k), canonicalStrings(v)]));
  }
  return value;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The value as it comes back from JSON.parse(JSON.stringify(value)); null for undefined. */
export function toJsonValue(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

function encode(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(encode).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${encode((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export const REDACTED = '[redacted]';

/**
 * Keys whose values never reach the audit log: the store cannot know what a caller put in
 * `details`, so values under keys that name a credential are replaced before hashing, at any
 * depth. A key matches when, lower-cased without `-`/`_`, it contains secret, password, passwd,
 * apikey, privatekey, credential or authorization, or ends with token (`token`, `accessToken`;
 * `tokenId` is kept, it names a token without being one).
 */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return /secret|password|passwd|apikey|privatekey|credential|authorization/.test(k) || k.endsWith('token');
}

/**
 * A copy of `details` (as JSON, every string in canonical text form) with every secret-named key's
 * value replaced by `[redacted]`.
 */
export function redactDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  const json = canonicalStrings(toJsonValue(details ?? {}));
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TypeError('audit details must be a JSON object');
  }
  return redact(json) as Record<string, unknown>;
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, isSecretKey(k) ? REDACTED : redact(v)]),
    );
  }
  return value;
}
