import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { ConfigError } from '../../infra/config/config.loader';
import { configSchema, type SwitchyardConfig } from '../../infra/config/config.schema';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  payloadCodecFromConfig,
  payloadKeyId,
  REFUSED_ENCODING,
} from '../../infra/temporal/payload-codec';

/** The payload codec (docs/temporal-security.md): pure logic, no server. */
const secret = { app: 'shop', reason: 'the east region burns', principal: 'alice' };
const plain = (): Payload => defaultPayloadConverter.toPayload(secret);
const encodingOf = (p: Payload) => Buffer.from(p.metadata!.encoding!).toString();
const temporal = (extra: Record<string, unknown> = {}): SwitchyardConfig['temporal'] =>
  configSchema.shape.temporal.parse(extra);

describe('AES-256-GCM payload codec', () => {
  it('seals the whole payload under the current key id and opens it again', async () => {
    const key = randomBytes(32);
    const codec = new AesGcmPayloadCodec(key);
    const [sealed] = await codec.encode([plain()]);
    assert.equal(encodingOf(sealed!), ENCRYPTED_ENCODING);
    assert.equal(Buffer.from(sealed!.metadata![KEY_ID_METADATA]!).toString(), payloadKeyId(key));
    for (const word of ['shop', 'east region', 'alice', 'json/plain']) {
      assert.equal(Buffer.from(sealed!.data!).includes(word), false, word);
    }
    const [opened] = await codec.decode([sealed!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened!), secret);
  });

  it('opens history sealed with a previous key after a rotation, and seals with the new one', async () => {
    const old = randomBytes(32);
    const [before] = await new AesGcmPayloadCodec(old).encode([plain()]);
    const rotated = new AesGcmPayloadCodec(randomBytes(32), [old]);
    assert.deepEqual(defaultPayloadConverter.fromPayload((await rotated.decode([before!]))[0]!), secret);
    const [after] = await rotated.encode([plain()]);
    assert.equal(Buffer.from(after!.metadata![KEY_ID_METADATA]!).toString(), rotated.currentKeyId);
    assert.notEqual(rotated.currentKeyId, payloadKeyId(old));
  });

  it('refuses plaintext, an unknown key and a tampered payload without throwing (so a worker is never wedged)', async () => {
    const key = randomBytes(32);
    const codec = new AesGcmPayloadCodec(key);
    const [sealed] = await codec.encode([plain()]);
    const tampered = { ...sealed!, data: Buffer.from(sealed!.data!) };
    tampered.data[20] = tampered.data[20]! ^ 1;
    const relabelled = {
      ...sealed!,
      metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from(payloadKeyId(randomBytes(32))) },
    };
    const [a, b, c] = await codec.decode([plain(), tampered, relabelled]);
    assert.equal(encodingOf(a!), REFUSED_ENCODING.plaintext);
    assert.equal(encodingOf(b!), REFUSED_ENCODING.tampered);
    assert.equal(encodingOf(c!), REFUSED_ENCODING.unknownKey);
    // Converting a refused payload fails, naming why.
    assert.throws(() => defaultPayloadConverter.fromPayload(a!), new RegExp(REFUSED_ENCODING.plaintext));
    const [other] = await new AesGcmPayloadCodec(randomBytes(32)).decode([sealed!]);
    assert.equal(encodingOf(other!), REFUSED_ENCODING.unknownKey);
  });

  it('reads plaintext only when told to (a migration)', async () => {
    const [p] = await new AesGcmPayloadCodec(randomBytes(32), [], true).decode([plain()]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(p!), secret);
  });

  it('takes its keys from the environment; a missing or malformed key is a configuration error naming the variable', () => {
    assert.equal(payloadCodecFromConfig(temporal(), {}), undefined, 'off by default');
    const on = temporal({ payloadCodec: 'aes-256-gcm' });
    assert.throws(
      () => payloadCodecFromConfig(on, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /SWITCHYARD_PAYLOAD_KEY/);
        return true;
      },
    );
    assert.throws(
      () => payloadCodecFromConfig(on, { SWITCHYARD_PAYLOAD_KEY: randomBytes(16).toString('base64') }),
      /SWITCHYARD_PAYLOAD_KEY: expected the base64 of 32 random bytes/,
    );
    assert.throws(
      () =>
        payloadCodecFromConfig(on, {
          SWITCHYARD_PAYLOAD_KEY: randomBytes(32).toString('base64'),
          SWITCHYARD_PAYLOAD_PREVIOUS_KEYS: 'not-a-key',
        }),
      /SWITCHYARD_PAYLOAD_PREVIOUS_KEYS\[0\]/,
    );
    const key = randomBytes(32);
    const codec = payloadCodecFromConfig(on, { SWITCHYARD_PAYLOAD_KEY: key.toString('base64') });
    assert.equal(codec?.currentKeyId, payloadKeyId(key));
    assert.equal(temporal().updateTimeoutSeconds, 30);
  });
});
