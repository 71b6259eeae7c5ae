import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ConfigError } from '../config/config.loader';
import type { SwitchyardConfig } from '../config/config.schema';

/**
 * AES-256-GCM payload codec (docs/temporal-security.md). Each payload (its metadata and data) is
 * serialised and sealed whole, so history keeps no encoding hint either; the sealed payload names
 * the key that sealed it, so old keys can still open old history after a rotation.
 */
export const ENCRYPTED_ENCODING = 'binary/switchyard-aes-256-gcm';
export const KEY_ID_METADATA = 'switchyard-key-id';

/**
 * What a payload that cannot be opened decodes to. Decode never throws: a throw in the worker's
 * decoding fails the whole workflow task again and again (an Update from a client without the key
 * would wedge the workflow). A payload with an unknown encoding instead fails where it is converted:
 * the Update is rejected before it is accepted, a client read fails with this encoding in its message.
 */
export const REFUSED_ENCODING = {
  plaintext: 'binary/refused-unencrypted-payload',
  unknownKey: 'binary/refused-payload-of-unknown-key',
  tampered: 'binary/refused-payload-failing-authentication',
} as const;

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A key's id: derived from the key itself, so a worker and an API can never disagree on it. */
export function payloadKeyId(key: Buffer): string {
  return createHash('sha256').update('switchyard-payload-key-id\0').update(key).digest('hex').slice(0, 16);
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  /** `current` seals; `previous` keys (after a rotation) only open. `acceptPlaintext` reads unsealed payloads as they are. */
  constructor(
    current: Buffer,
    previous: Buffer[] = [],
    private readonly acceptPlaintext = false,
  ) {
    for (const k of [current, ...previous]) {
      if (k.length !== KEY_BYTES)
        throw new Error(`a payload key must be ${KEY_BYTES} bytes, got ${k.length}`);
    }
    this.currentKeyId = payloadKeyId(current);
    this.keys = new Map([current, ...previous].map((k) => [payloadKeyId(k), k]));
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.currentKeyId)!;
    return Promise.resolve(
      payloads.map((p) => {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', key, iv);
        // The key id is authenticated too: a payload cannot be relabelled to another key.
        cipher.setAAD(enc.encode(this.currentKeyId));
        const sealed = Buffer.concat([
          iv,
          cipher.update(temporal.api.common.v1.Payload.encode(p).finish()),
          cipher.final(),
          cipher.getAuthTag(),
        ]);
        return {
          metadata: {
            encoding: enc.encode(ENCRYPTED_ENCODING),
            [KEY_ID_METADATA]: enc.encode(this.currentKeyId),
          },
          data: sealed,
        };
      }),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((p) => this.open(p)));
  }

  private open(p: Payload): Payload {
    const encoding = p.metadata?.encoding ? dec.decode(p.metadata.encoding) : undefined;
    if (encoding !== ENCRYPTED_ENCODING)
      return this.acceptPlaintext ? p : refused(REFUSED_ENCODING.plaintext);
    const keyId = p.metadata?.[KEY_ID_METADATA] ? dec.decode(p.metadata[KEY_ID_METADATA]) : '';
    const key = this.keys.get(keyId);
    if (!key) return refused(REFUSED_ENCODING.unknownKey);
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) return refused(REFUSED_ENCODING.tampered);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(enc.encode(keyId));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      return refused(REFUSED_ENCODING.tampered);
    }
  }
}

function refused(encoding: string): Payload {
  return { metadata: { encoding: enc.encode(encoding) }, data: new Uint8Array() };
}

export const PAYLOAD_KEY_ENV = 'SWITCHYARD_PAYLOAD_KEY';
export const PAYLOAD_PREVIOUS_KEYS_ENV = 'SWITCHYARD_PAYLOAD_PREVIOUS_KEYS';

function parseKey(name: string, value: string): Buffer {
  const key = Buffer.from(value.trim(), 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== value.trim()) {
    throw new ConfigError(name, [
      {
        path: name,
        message: `expected the base64 of ${KEY_BYTES} random bytes (e.g. openssl rand -base64 32)`,
      },
    ]);
  }
  return key;
}

/**
 * The codec the configuration asks for, its keys from the environment (never from the file):
 * SWITCHYARD_PAYLOAD_KEY seals and opens; SWITCHYARD_PAYLOAD_PREVIOUS_KEYS (comma-separated) only open.
 * Undefined when `temporal.payloadCodec` is `none`.
 */
export function payloadCodecFromConfig(
  t: SwitchyardConfig['temporal'],
  env: NodeJS.ProcessEnv = process.env,
): AesGcmPayloadCodec | undefined {
  if (t.payloadCodec === 'none') return undefined;
  const current = env[PAYLOAD_KEY_ENV];
  if (!current) {
    throw new ConfigError(PAYLOAD_KEY_ENV, [
      {
        path: PAYLOAD_KEY_ENV,
        message: `temporal.payloadCodec is ${t.payloadCodec}: set ${PAYLOAD_KEY_ENV} to the base64 of ${KEY_BYTES} random bytes`,
      },
    ]);
  }
  const previous = (env[PAYLOAD_PREVIOUS_KEYS_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((k, i) => parseKey(`${PAYLOAD_PREVIOUS_KEYS_ENV}[${i}]`, k));
  return new AesGcmPayloadCodec(parseKey(PAYLOAD_KEY_ENV, current), previous, t.acceptPlaintextPayloads);
}
