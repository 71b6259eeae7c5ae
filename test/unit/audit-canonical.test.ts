import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AuditEvent } from '../../infra/audit/audit.port';
import { canonicalJson, isSecretKey, redactDetails } from '../../infra/audit/audit-canonical';
import { ChainWalker, GENESIS_HASH, hashEvent } from '../../infra/audit/audit-chain';

describe('canonical encoding of audit events', () => {
  it('sorts keys at every depth and keeps array order', () => {
    const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [3, { y: 2, z: 1 }] }, b: 1 };
    assert.equal(canonicalJson(a), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
  });

  it('encodes what a JSON round trip gives back', () => {
    const value = {
      when: new Date('2026-01-02T03:04:05.000Z'),
      gone: undefined,
      nan: NaN,
      neg: -0,
      s: 'é"\n',
    };
    assert.equal(
      canonicalJson(value),
      '{"nan":null,"neg":0,"s":"é\\"\\n","when":"2026-01-02T03:04:05.000Z"}',
    );
    assert.equal(canonicalJson(value), canonicalJson(JSON.parse(JSON.stringify(value))));
    assert.equal(canonicalJson(undefined), 'null');
  });

  it('hashes the canonical encoding of every field but the hash', () => {
    const fields = {
      sequence: 1,
      time: '2026-01-01T00:00:00.000Z',
      actor: 'alice',
      action: 'failover.requested',
      target: 'app:shop',
      reason: 'drill',
      requestId: null,
      outcome: 'accepted' as const,
      details: { to: 'west', mode: 'planned' },
      idempotencyKey: null,
      previousHash: GENESIS_HASH,
    };
    const expected =
      '{"action":"failover.requested","actor":"alice","details":{"mode":"planned","to":"west"},' +
      `"idempotencyKey":null,"outcome":"accepted","previousHash":"${GENESIS_HASH}","reason":"drill",` +
      '"requestId":null,"sequence":1,"target":"app:shop","time":"2026-01-01T00:00:00.000Z"}';
    assert.equal(hashEvent(fields), createHash('sha256').update(expected).digest('hex'));
    const reordered = { ...fields, details: { mode: 'planned', to: 'west' } };
    assert.equal(hashEvent(reordered), hashEvent(fields));
    assert.notEqual(hashEvent({ ...fields, sequence: 2 }), hashEvent(fields));
  });
});

describe('redaction of audit details', () => {
  it('recognises credential-named keys and keeps names of things', () => {
    for (const key of [
      'token',
      'accessToken',
      'refresh_token',
      'secret',
      'clientSecret',
      'secretAccessKey',
    ]) {
      assert.equal(isSecretKey(key), true, key);
    }
    for (const key of [
      'password',
      'dbPassword',
      'apiKey',
      'api_key',
      'API-KEY',
      'Authorization',
      'privateKey',
    ]) {
      assert.equal(isSecretKey(key), true, key);
    }
    for (const key of ['tokenId', 'tokens', 'principal', 'region', 'keyId', 'reason', 'authorized']) {
      assert.equal(isSecretKey(key), false, key);
    }
  });

  it('replaces values at any depth, in arrays too, without touching the input', () => {
    const input = {
      tokenId: 'abc',
      headers: { Authorization: 'Bearer t0k3n', accept: 'json' },
      buckets: [{ name: 'east', secretAccessKey: 's3cr3t' }],
      password: { nested: 'whole value goes' },
    };
    const copy = structuredClone(input);
    assert.deepEqual(redactDetails(input), {
      tokenId: 'abc',
      headers: { Authorization: '[redacted]', accept: 'json' },
      buckets: [{ name: 'east', secretAccessKey: '[redacted]' }],
      password: '[redacted]',
    });
    assert.deepEqual(input, copy);
    assert.deepEqual(redactDetails(undefined), {});
    assert.throws(() => redactDetails([1] as unknown as Record<string, unknown>), TypeError);
  });
});

describe('chain walk', () => {
  function chain(n: number): AuditEvent[] {
    const events: AuditEvent[] = [];
    for (let s = 1; s <= n; s++) {
      const fields = {
        sequence: s,
        time: `2026-01-01T00:00:0${s}.000Z`,
        actor: 'a',
        action: 'x.y',
        target: 't:1',
        reason: null,
        requestId: null,
        outcome: 'info' as const,
        details: { s },
        idempotencyKey: null,
        previousHash: events[s - 2]?.hash ?? GENESIS_HASH,
      };
      events.push({ ...fields, hash: hashEvent(fields) });
    }
    return events;
  }

  function firstBreak(events: AuditEvent[]) {
    const walker = new ChainWalker();
    for (const e of events) {
      const b = walker.next(e);
      if (b) return [b.sequence, b.reason];
    }
    return null;
  }

  it('accepts an intact chain', () => assert.equal(firstBreak(chain(5)), null));

  it('names a gap, a changed event and a relinked event', () => {
    const events = chain(5);
    assert.deepEqual(firstBreak(events.filter((e) => e.sequence !== 3)), [3, 'sequence-gap']);
    assert.deepEqual(firstBreak(events.map((e) => (e.sequence === 4 ? { ...e, actor: 'b' } : e))), [
      4,
      'hash-mismatch',
    ]);
    const relinked = { ...events[2]!, previousHash: GENESIS_HASH };
    relinked.hash = hashEvent(relinked);
    assert.deepEqual(firstBreak(events.map((e) => (e.sequence === 3 ? relinked : e))), [
      3,
      'previous-hash-mismatch',
    ]);
  });
});
