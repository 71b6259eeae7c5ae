import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../infra/config/config.loader';
import { objectLockRetainSeconds } from '../../infra/config/config.schema';
import { latestDate, lockUntil, restorePointsToLock, retentionToSet } from '../../workflows/object-lock';

const EXAMPLE = path.resolve(__dirname, '../../../examples/switchyard.yaml');
const ENV = {
  PDNS_API_KEY: 'pdns-secret-key-value',
  EAST_S3_ACCESS_KEY: 'east-ak',
  EAST_S3_SECRET_KEY: 'east-secret-value',
  WEST_S3_ACCESS_KEY: 'west-ak',
  WEST_S3_SECRET_KEY: 'west-secret-value',
  ORDERS_DB_PASSWORD: 'orders-db-secret',
  LEDGER_HOOK_TOKEN: 'ledger-hook-secret',
};

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function withLock(objectLock: unknown, softDelete?: unknown): string {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as Doc;
  doc.apps.shop.restorePoints = { ...(doc.apps.shop.restorePoints ?? {}), objectLock };
  if (softDelete) doc.apps.shop.softDelete = softDelete;
  doc.apps.shop.policies = { ...(doc.apps.shop.policies ?? {}), rpoSeconds: 3600 };
  return stringify(doc);
}

function issuesOf(yaml: string): string[] {
  try {
    parseConfig(yaml, 'test.yaml', ENV);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('object lock: which restore points are locked', () => {
  const points = [
    { id: 'a', cutAt: '2026-11-22T10:00:00Z' },
    { id: 'd', cutAt: '2026-11-22T13:00:00Z', deleted: true },
    { id: 'c', cutAt: '2026-11-22T12:00:00Z' },
    { id: 'b', cutAt: '2026-11-22T11:00:00Z' },
  ];

  it('takes the newest N by cut time, newest first, skipping soft-deleted ones', () => {
    assert.deepEqual(restorePointsToLock(points, 2), ['c', 'b']);
    assert.deepEqual(restorePointsToLock(points, 10), ['c', 'b', 'a']);
    assert.deepEqual(restorePointsToLock([], 3), []);
  });

  it('orders equal cut times by id, so every region and retry picks the same ones', () => {
    const same = [
      { id: 'x1', cutAt: '2026-11-22T10:00:00Z' },
      { id: 'x2', cutAt: '2026-11-22T10:00:00Z' },
    ];
    assert.deepEqual(restorePointsToLock(same, 1), ['x2']);
    assert.deepEqual(restorePointsToLock([...same].reverse(), 1), ['x2']);
  });
});

describe('object lock: dates', () => {
  it('locks retainSeconds past now, rounded up to a whole second', () => {
    assert.equal(lockUntil(Date.parse('2026-11-22T12:00:00.000Z'), 60), '2026-11-22T12:01:00.000Z');
    assert.equal(lockUntil(Date.parse('2026-11-22T12:00:00.001Z'), 60), '2026-11-22T12:01:01.000Z');
  });

  it('extends a shorter or missing lock, never shortens a compliance one', () => {
    const target = '2026-11-22T12:01:00.000Z';
    assert.equal(retentionToSet(null, target), target);
    assert.equal(
      retentionToSet({ mode: 'COMPLIANCE', retainUntil: '2026-11-22T12:00:00.000Z' }, target),
      target,
    );
    assert.equal(retentionToSet({ mode: 'COMPLIANCE', retainUntil: target }, target), null);
    assert.equal(
      retentionToSet({ mode: 'COMPLIANCE', retainUntil: '2026-11-23T00:00:00.000Z' }, target),
      null,
    );
    // A governance lock is raised to compliance even when it reaches further.
    assert.equal(
      retentionToSet({ mode: 'GOVERNANCE', retainUntil: '2026-11-23T00:00:00.000Z' }, target),
      target,
    );
  });

  it('finds the latest of some dates', () => {
    assert.equal(latestDate([]), undefined);
    assert.equal(latestDate([undefined]), undefined);
    assert.equal(
      latestDate(['2026-11-22T12:00:00.000Z', undefined, '2026-11-22T13:00:00.000Z', '2026-11-22T11:00:00Z']),
      '2026-11-22T13:00:00.000Z',
    );
  });
});

describe('object lock: configuration', () => {
  it('is absent unless set; keepNewest defaults to 3, retainSeconds to the undo window plus the RPO', () => {
    const plain = parseConfig(withLock(undefined), 'test.yaml', ENV).apps.shop!;
    assert.equal(plain.restorePoints.objectLock, undefined);

    const set = parseConfig(withLock({}, { windowSeconds: 86400 }), 'test.yaml', ENV).apps.shop!;
    assert.deepEqual(set.restorePoints.objectLock, { keepNewest: 3 });
    assert.equal(objectLockRetainSeconds(set), 86400 + 3600);

    const kind = parseConfig(
      withLock({}, { windowSeconds: 86400, kinds: { 'restore-point-delete': { windowSeconds: 600 } } }),
      'test.yaml',
      ENV,
    ).apps.shop!;
    assert.equal(objectLockRetainSeconds(kind), 600 + 3600);

    const own = parseConfig(
      withLock({ keepNewest: 5, retainSeconds: 7200 }, { windowSeconds: 600 }),
      't',
      ENV,
    ).apps.shop!;
    assert.equal(objectLockRetainSeconds(own), 7200);
    assert.equal(own.restorePoints.objectLock!.keepNewest, 5);
  });

  it('refuses bad values, naming the field', () => {
    assert.deepEqual(issuesOf(withLock({ retainSeconds: 60 }, { windowSeconds: 600 })), [
      'apps.shop.restorePoints.objectLock.retainSeconds: must be at least the restore-point-delete undo window (600 s): a deleted restore point must stay locked while its delete can be undone',
    ]);
    const zero = issuesOf(withLock({ keepNewest: 0 }));
    assert.equal(zero.length, 1);
    assert.match(zero[0]!, /^apps\.shop\.restorePoints\.objectLock\.keepNewest: /);
    const unknown = issuesOf(withLock({ mode: 'GOVERNANCE' }));
    assert.equal(unknown.length, 1);
    assert.match(unknown[0]!, /^apps\.shop\.restorePoints\.objectLock: .*mode/);
  });
});
