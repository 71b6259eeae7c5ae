import type { AuditBreak, AuditEvent } from './audit.port';
import { canonicalJson, sha256Hex } from './audit-canonical';

/** The previous hash of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** Every field of an event except its own hash: what the hash covers. */
export type HashedFields = Omit<AuditEvent, 'hash'>;

export function hashEvent(e: HashedFields): string {
  return sha256Hex(
    canonicalJson({
      sequence: e.sequence,
      time: e.time,
      actor: e.actor,
      action: e.action,
      target: e.target,
      reason: e.reason,
      requestId: e.requestId,
      outcome: e.outcome,
      details: e.details,
      idempotencyKey: e.idempotencyKey,
      previousHash: e.previousHash,
    }),
  );
}

/**
 * Walks a chain one event at a time, in sequence order, and names the first event that does not
 * fit: a missing sequence, content that no longer matches its hash, or a link to a different
 * previous event.
 */
export class ChainWalker {
  private expected: number;
  private previousHash: string;

  /** Starts after `lastSequence` whose hash was `lastHash` (the genesis by default). */
  constructor(lastSequence = 0, lastHash = GENESIS_HASH) {
    this.expected = lastSequence + 1;
    this.previousHash = lastHash;
  }

  get lastSequence(): number {
    return this.expected - 1;
  }

  get lastHash(): string {
    return this.previousHash;
  }

  /** Checks `event` as the next one; the walk goes on from it even when it does not fit. */
  next(event: AuditEvent): AuditBreak | null {
    const expected = this.expected;
    const previousHash = this.previousHash;
    this.expected = event.sequence + 1;
    this.previousHash = event.hash;
    if (event.sequence !== expected) {
      return {
        sequence: expected,
        reason: 'sequence-gap',
        message:
          event.sequence > expected
            ? `event ${expected} is missing (the next one present is ${event.sequence})`
            : `event ${event.sequence} appears where ${expected} was expected`,
      };
    }
    if (hashEvent(event) !== event.hash) {
      return {
        sequence: event.sequence,
        reason: 'hash-mismatch',
        message: `event ${event.sequence} does not match its hash: its content was changed`,
      };
    }
    if (event.previousHash !== previousHash) {
      return {
        sequence: event.sequence,
        reason: 'previous-hash-mismatch',
        message: `event ${event.sequence} links to a different previous event than ${expected - 1}`,
      };
    }
    return null;
  }
}
