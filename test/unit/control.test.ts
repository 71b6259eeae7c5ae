import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isNewerControlState,
  normalizeControlState,
  type ControlState,
  type ControlTombstone,
} from '../../infra/storage/control-state.store';
import {
  applyControlChange,
  checkControlRequest,
  ControlChangeError,
  dnsRecordTarget,
  isRemoved,
  regionTarget,
  tombstoneOf,
  fenceRecorded,
  fenceWriteQuorum,
  leaseQuorumReachable,
  leaseReadQuorum,
  type ControlChange,
  type ControlResult,
} from '../../workflows/control';
import { FENCE_QUORUM_ATTEMPTS, fenceQuorumFailure } from '../../infra/activities/control.activities';
import { ApplicationFailure } from '@temporalio/common';

const AT = '2026-11-22T09:00:00.000Z';
const initial: ControlState = {
  app: 'shop',
  activeRegion: 'east',
  epoch: 3,
  writer: 'east',
  halted: [],
  updatedAt: '2026-11-01T00:00:00.000Z',
  revision: 7,
  currentOperation: null,
};

function run(changes: ControlChange[], from = initial): ControlState {
  return changes.reduce((s, c) => applyControlChange(s, c, AT), from);
}

function refused(fn: () => unknown, code: ControlChangeError['code'], text: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ControlChangeError, `expected a ControlChangeError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, text);
    return true;
  });
}

describe('control state transitions', () => {
  const op = 'shop-op1';

  it('runs an unplanned failover: claim, fence, promote, activate, release', () => {
    const s = run([
      { type: 'claim', operationId: op },
      { type: 'fence', region: 'east', operationId: op },
      { type: 'promote', region: 'west', operationId: op },
      { type: 'activate', region: 'west', operationId: op },
      { type: 'release', operationId: op },
    ]);
    assert.deepEqual(s, {
      app: 'shop',
      activeRegion: 'west',
      epoch: 4,
      writer: 'west',
      halted: ['east'],
      updatedAt: AT,
      revision: 12,
      currentOperation: null,
      operationId: op,
      tombstones: [],
    });
  });

  it('a fence raises the epoch and clears the writer; fencing again does not list the region twice', () => {
    const once = run([{ type: 'fence', region: 'east', operationId: op }]);
    assert.equal(once.epoch, 4);
    assert.equal(once.writer, null);
    const twice = applyControlChange(once, { type: 'fence', region: 'east', operationId: op }, AT);
    assert.deepEqual(twice.halted, ['east']);
    assert.equal(twice.epoch, 5);
  });

  it('quiesce stops writes without a new epoch', () => {
    const s = run([{ type: 'quiesce', region: 'east', operationId: op }]);
    assert.equal(s.writer, null);
    assert.equal(s.epoch, 3);
    assert.equal(s.revision, 8);
  });

  it('refuses to promote or activate a halted region, leaving the input untouched', () => {
    const fenced = run([{ type: 'fence', region: 'east', operationId: op }]);
    const before = structuredClone(fenced);
    refused(
      () => applyControlChange(fenced, { type: 'promote', region: 'east', operationId: 'shop-op2' }, AT),
      'region-halted',
      /cannot promote region east: it is halted/,
    );
    refused(
      () => applyControlChange(fenced, { type: 'activate', region: 'east', operationId: 'shop-op2' }, AT),
      'region-halted',
      /cannot activate region east/,
    );
    assert.deepEqual(fenced, before);
  });

  it('unfence (failback) makes a halted region promotable again', () => {
    const s = run([
      { type: 'fence', region: 'east', operationId: op },
      { type: 'unfence', region: 'east', operationId: 'shop-back' },
      { type: 'promote', region: 'east', operationId: 'shop-back' },
    ]);
    assert.deepEqual(s.halted, []);
    assert.equal(s.writer, 'east');
  });

  it('refuses a claim while another operation holds the app; the holder may claim again', () => {
    const held = run([{ type: 'claim', operationId: op }]);
    refused(
      () => applyControlChange(held, { type: 'claim', operationId: 'shop-other' }, AT),
      'operation-held',
      /operation shop-op1 holds app "shop"; shop-other cannot claim it/,
    );
    assert.equal(applyControlChange(held, { type: 'claim', operationId: op }, AT).currentOperation, op);
  });

  it("a release by an operation that does not hold the app leaves the holder's claim", () => {
    const held = run([{ type: 'claim', operationId: op }]);
    assert.equal(
      applyControlChange(held, { type: 'release', operationId: 'shop-other' }, AT).currentOperation,
      op,
    );
  });

  it('restore (compensation) goes back to the previous regions and raises the epoch', () => {
    const previous = initial;
    const s = run([
      { type: 'fence', region: 'east', operationId: op },
      { type: 'promote', region: 'west', operationId: op },
      { type: 'restore', previous, operationId: op },
    ]);
    assert.equal(s.activeRegion, 'east');
    assert.equal(s.writer, 'east');
    assert.deepEqual(s.halted, []);
    assert.equal(s.epoch, 5, 'above the fence, so instances that saw the fence accept the restored writer');
  });

  it('checks requests: unknown region, unknown type, missing requestId or operationId', () => {
    const regions = ['east', 'west'];
    const req = (change: unknown, requestId = 'r1') =>
      checkControlRequest({ app: 'shop', requestId, change: change as ControlChange }, regions);
    refused(() => req({ type: 'fence', region: 'north', operationId: op }), 'unknown-region', /"north"/);
    refused(() => req({ type: 'promote', operationId: op }), 'unknown-region', /change.region/);
    refused(() => req({ type: 'explode', operationId: op }), 'invalid-change', /change.type must be one of/);
    refused(() => req({ type: 'claim' }), 'invalid-change', /operationId is required/);
    refused(() => req({ type: 'claim', operationId: op }, ''), 'invalid-change', /requestId/);
    refused(
      () => req({ type: 'restore', operationId: op, previous: { activeRegion: 'mars' } }),
      'invalid-change',
      /previous/,
    );
    req({ type: 'fence', region: 'east', operationId: op });
    req({ type: 'release', operationId: op });
  });

  it('a fence counts once W = n - R + 1 of the buckets hold it', () => {
    const ok = (region: string) => ({ region, ok: true });
    const down = (region: string) => ({ region, ok: false, error: 'timeout' });
    // n = 2: every lease reads both buckets, so one bucket holding the fence is seen by every lease.
    assert.equal(fenceRecorded([ok('east'), ok('west')]), true);
    assert.equal(fenceRecorded([down('east'), ok('west')]), true);
    assert.equal(fenceRecorded([down('east'), down('west')]), false);
    // n = 3 (two regions and a witness): two of three.
    assert.equal(
      fenceRecorded([down('east'), ok('west'), ok('witness')]),
      true,
      "the fenced region's bucket may be gone",
    );
    assert.equal(fenceRecorded([down('east'), ok('west'), down('witness')]), false);
    // n = 4: a lease reads 3, so 2 suffice (a majority, 3, would be stricter than needed).
    assert.equal(fenceRecorded([down('a'), down('b'), ok('c'), ok('d')]), true);
    assert.equal(fenceRecorded([down('a'), down('b'), down('c'), ok('d')]), false);
  });

  it('quorum math: R is a majority, W = n - R + 1, and every W intersects every R', () => {
    const table = [1, 2, 3, 4, 5, 6].map((n) => [n, leaseReadQuorum(n), fenceWriteQuorum(n)]);
    assert.deepEqual(table, [
      [1, 1, 1],
      [2, 2, 1],
      [3, 2, 2],
      [4, 3, 2],
      [5, 3, 3],
      [6, 4, 3],
    ]);
    for (const [n, r, w] of table) {
      assert.ok(w! + r! > n!, `W + R > n for n = ${n}`);
      assert.ok(w! - 1 + r! <= n!, `W is the least that intersects for n = ${n}`);
      assert.ok(2 * r! > n!, `two leases never come from disjoint reads for n = ${n}`);
    }
    const ok = (region: string) => ({ region, ok: true });
    const down = (region: string) => ({ region, ok: false, error: 'timeout' });
    assert.equal(leaseQuorumReachable([down('east'), ok('west')]), false, 'two regions, one bucket gone');
    assert.equal(leaseQuorumReachable([down('east'), ok('west'), ok('witness')]), true, 'with a witness');
  });

  describe('a fence that misses its quorum', () => {
    const result = (mirrored: ControlResult['mirrored']): ControlResult => ({
      state: { ...initial, epoch: 4, writer: null, halted: ['east'] },
      mirrored,
    });
    const eastDown = { region: 'east', ok: false, error: 'TimeoutError: socket timed out' };

    it('two regions, no witness: names the unreachable bucket and says to add fencing.witness', () => {
      const f = fenceQuorumFailure('east', result([eastDown, { region: 'west', ok: true }]), {
        app: 'shop',
        regions: 2,
        witness: false,
        attempt: 1,
      });
      assert.ok(f instanceof ApplicationFailure);
      assert.equal(f.type, 'fence-quorum-unreachable');
      assert.equal(f.nonRetryable, false, 'retried while attempts remain');
      assert.match(f.message, /fence of east \(epoch 4\) is recorded in 1 of 2 buckets/);
      assert.match(f.message, /no region can hold a write lease \(it reads 2\)/);
      assert.match(f.message, /unreachable: east's bucket \(TimeoutError: socket timed out\)/);
      assert.match(f.message, /add apps\.shop\.fencing\.witness/);
      const last = fenceQuorumFailure('east', result([eastDown, { region: 'west', ok: true }]), {
        app: 'shop',
        regions: 2,
        witness: false,
        attempt: FENCE_QUORUM_ATTEMPTS,
      });
      assert.equal(last?.nonRetryable, true, 'final after the bounded attempts: the failover compensates');
      assert.match(last!.message, new RegExp(`gave up after ${FENCE_QUORUM_ATTEMPTS} attempts`));
    });

    it('with a witness: two of three complete it; one of three names both missing buckets, no hint', () => {
      const ctx = { app: 'shop', regions: 2, witness: true, attempt: 1 };
      assert.equal(
        fenceQuorumFailure(
          'east',
          result([eastDown, { region: 'west', ok: true }, { region: 'witness', ok: true }]),
          ctx,
        ),
        null,
      );
      const f = fenceQuorumFailure(
        'east',
        result([
          eastDown,
          { region: 'west', ok: true },
          { region: 'witness', ok: false, error: 'ECONNREFUSED' },
        ]),
        ctx,
      );
      assert.match(
        f!.message,
        /recorded in 1 of 3 buckets; it needs 2 so that every write lease \(a read of 2\) sees it/,
      );
      assert.match(
        f!.message,
        /unreachable: east's bucket \(TimeoutError: socket timed out\), the witness \(ECONNREFUSED\)/,
      );
      assert.doesNotMatch(f!.message, /add apps/);
    });
  });
});

describe('control state tombstones (soft removal of a DNS record or a region)', () => {
  const rm = 'shop-rm1';
  const tombstone = (over: Partial<ControlTombstone> = {}): ControlTombstone => ({
    target: regionTarget('west'),
    kind: 'region-remove',
    operationId: rm,
    deletedAt: AT,
    undoableUntil: '2026-11-29T09:00:00.000Z',
    by: 'alice',
    reason: 'region decommissioned',
    ...over,
  });

  it('tombstone hides the target; untombstone (undo) brings the state back as it was', () => {
    const removed = run([{ type: 'tombstone', tombstone: tombstone(), operationId: rm }]);
    assert.ok(isRemoved(removed, 'region:west'));
    assert.deepEqual(tombstoneOf(removed, 'region:west'), tombstone());
    assert.equal(removed.activeRegion, 'east', 'nothing else changes');
    assert.equal(removed.epoch, initial.epoch);
    const undone = applyControlChange(
      removed,
      { type: 'untombstone', target: 'region:west', operationId: rm },
      AT,
    );
    assert.deepEqual(undone.tombstones, []);
    assert.equal(isRemoved(undone, 'region:west'), false);
    assert.equal(isRemoved(initial, 'region:west'), false, 'a state read before tombstones existed');
  });

  it('purge-tombstone makes the removal final: still removed, with purgedAt', () => {
    const purged = run([
      {
        type: 'tombstone',
        tombstone: tombstone({ target: dnsRecordTarget('www.shop.test'), kind: 'dns-record-delete' }),
        operationId: rm,
      },
      { type: 'purge-tombstone', target: 'dns-record:www.shop.test', operationId: rm },
    ]);
    assert.equal(tombstoneOf(purged, 'dns-record:www.shop.test')?.purgedAt, AT);
    assert.ok(isRemoved(purged, 'dns-record:www.shop.test'));
  });

  it('refuses a second removal by another operation; the same operation again is a no-op', () => {
    const removed = run([{ type: 'tombstone', tombstone: tombstone(), operationId: rm }]);
    refused(
      () =>
        applyControlChange(
          removed,
          { type: 'tombstone', tombstone: tombstone({ operationId: 'shop-rm2' }), operationId: 'shop-rm2' },
          AT,
        ),
      'already-tombstoned',
      /region:west is removed already by operation shop-rm1 \(undoable until 2026-11-29/,
    );
    const again = applyControlChange(
      removed,
      { type: 'tombstone', tombstone: tombstone(), operationId: rm },
      AT,
    );
    assert.deepEqual(again.tombstones, removed.tombstones);
  });

  it('untombstone and purge by another operation leave the tombstone as it is', () => {
    const removed = run([{ type: 'tombstone', tombstone: tombstone(), operationId: rm }]);
    const other = 'shop-other';
    assert.deepEqual(
      applyControlChange(removed, { type: 'untombstone', target: 'region:west', operationId: other }, AT)
        .tombstones,
      [tombstone()],
    );
    assert.deepEqual(
      applyControlChange(removed, { type: 'purge-tombstone', target: 'region:west', operationId: other }, AT)
        .tombstones,
      [tombstone()],
    );
  });

  it('a compensation (restore) keeps the tombstones', () => {
    const s = run([
      {
        type: 'tombstone',
        tombstone: tombstone({ target: dnsRecordTarget('www.shop.test'), kind: 'dns-record-delete' }),
        operationId: rm,
      },
      { type: 'restore', previous: initial, operationId: 'shop-f1' },
    ]);
    assert.ok(isRemoved(s, 'dns-record:www.shop.test'));
  });

  it('checks tombstone requests: shape, kind and target, region, operation', () => {
    const req = (change: unknown) =>
      checkControlRequest({ app: 'shop', requestId: 'r1', change: change as ControlChange }, [
        'east',
        'west',
      ]);
    req({ type: 'tombstone', tombstone: tombstone(), operationId: rm });
    req({ type: 'untombstone', target: 'region:west', operationId: rm });
    refused(
      () => req({ type: 'tombstone', tombstone: { target: 'region:west' }, operationId: rm }),
      'invalid-change',
      /change.tombstone must have/,
    );
    refused(
      () =>
        req({
          type: 'tombstone',
          tombstone: tombstone({ target: 'dns-record:www.shop.test' }),
          operationId: rm,
        }),
      'invalid-change',
      /must be "region:<name>" for kind region-remove/,
    );
    refused(
      () => req({ type: 'tombstone', tombstone: tombstone({ target: 'region:mars' }), operationId: rm }),
      'unknown-region',
      /"region:mars" is not a region of app "shop"/,
    );
    refused(
      () => req({ type: 'tombstone', tombstone: tombstone(), operationId: 'shop-other' }),
      'invalid-change',
      /operationId must be the change's operationId/,
    );
    refused(
      () => req({ type: 'purge-tombstone', operationId: rm }),
      'invalid-change',
      /change.target is required/,
    );
  });
});

describe('control state overrides (an operator by hand)', () => {
  const op = 'shop-ov1';
  const override = (action: 'halt' | 'unhalt' | 'set-active', region: string): ControlChange => ({
    type: 'override',
    action,
    region,
    operationId: op,
  });
  const refusedWith = (fn: () => unknown, code: string, text: RegExp) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof ControlChangeError);
      assert.equal(err.code, code);
      assert.match(err.message, text);
      return true;
    });

  it('halt fences by hand: epoch + 1, halted += region, no writer when it was the writer', () => {
    const s = run([override('halt', 'east')]);
    assert.equal(s.epoch, initial.epoch + 1);
    assert.deepEqual(s.halted, ['east']);
    assert.equal(s.writer, null);
    assert.equal(s.activeRegion, 'east', 'where the app serves does not change');
    assert.equal(s.operationId, op);
    const standby = run([override('halt', 'west')]);
    assert.equal(standby.writer, 'east', 'halting a standby leaves the writer');
    assert.deepEqual(standby.halted, ['west']);
  });

  it('unhalt lifts a halt and nothing else; set-active moves activeRegion and writer', () => {
    const halted = run([override('halt', 'west')]);
    const lifted = applyControlChange(halted, override('unhalt', 'west'), AT);
    assert.deepEqual(lifted.halted, []);
    assert.equal(lifted.writer, 'east');
    assert.equal(lifted.epoch, halted.epoch, 'lifting a halt gives no writes: no new epoch');
    const moved = applyControlChange(lifted, override('set-active', 'west'), AT);
    assert.equal(moved.activeRegion, 'west');
    assert.equal(moved.writer, 'west');
    assert.equal(moved.epoch, lifted.epoch + 1, "the old writer's epoch is no longer the current one");
    const noWriter = applyControlChange({ ...initial, writer: null }, override('set-active', 'east'), AT);
    assert.equal(noWriter.writer, 'east');
    assert.equal(noWriter.epoch, initial.epoch + 1, 'a new writer, a new epoch (also after a hand-over)');
    const sameWriter = applyControlChange(
      { ...initial, activeRegion: 'west' },
      override('set-active', 'east'),
      AT,
    );
    assert.equal(sameWriter.epoch, initial.epoch, 'the writer stays: so does the epoch');
  });

  it('refuses an override that changes nothing, and set-active of a halted or removed region', () => {
    const halted = run([override('halt', 'west')]);
    refusedWith(
      () => applyControlChange(halted, override('halt', 'west'), AT),
      'override-no-op',
      /already halted/,
    );
    refusedWith(() => run([override('unhalt', 'west')]), 'override-no-op', /is not halted/);
    refusedWith(
      () => run([override('set-active', 'east')]),
      'override-no-op',
      /already .* active region and writer/,
    );
    refusedWith(
      () => applyControlChange(halted, override('set-active', 'west'), AT),
      'region-halted',
      /halted: unhalt it first/,
    );
    const removed = run([
      {
        type: 'tombstone',
        operationId: 'shop-rm1',
        tombstone: {
          target: regionTarget('west'),
          kind: 'region-remove',
          operationId: 'shop-rm1',
          deletedAt: AT,
          undoableUntil: '2026-11-29T09:00:00.000Z',
          by: 'alice',
          reason: 'r',
        },
      },
    ]);
    refusedWith(
      () => applyControlChange(removed, override('set-active', 'west'), AT),
      'region-removed',
      /removed from app "shop" by operation shop-rm1/,
    );
    assert.deepEqual(
      applyControlChange(removed, override('halt', 'west'), AT).halted,
      ['west'],
      'a halt is allowed',
    );
  });

  it('the request names one of the actions and a region of the app', () => {
    const req = (change: unknown) => ({ app: 'shop', requestId: 'r1', change: change as ControlChange });
    assert.throws(
      () =>
        checkControlRequest(req({ type: 'override', action: 'drop', region: 'east', operationId: op }), [
          'east',
          'west',
        ]),
      /change.action must be one of halt, unhalt, set-active/,
    );
    assert.throws(
      () =>
        checkControlRequest(req({ type: 'override', action: 'halt', region: 'north', operationId: op }), [
          'east',
          'west',
        ]),
      /not a region of app "shop"/,
    );
    checkControlRequest(req(override('halt', 'west')), ['east', 'west']);
  });
});

describe('stored control state', () => {
  it('reads an object written before fencing as writer = activeRegion, halted = []', () => {
    const s = normalizeControlState(
      { app: 'shop', activeRegion: 'west', epoch: 2, updatedAt: AT, operationId: 'shop-x' },
      'shop',
    );
    assert.deepEqual(s, {
      app: 'shop',
      activeRegion: 'west',
      epoch: 2,
      writer: 'west',
      halted: [],
      operationId: 'shop-x',
      updatedAt: AT,
      revision: 0,
      currentOperation: null,
      tombstones: [],
    });
  });

  it('keeps the tombstones and drops entries that are not tombstones', () => {
    const t = {
      target: 'region:west',
      kind: 'region-remove',
      operationId: 'shop-rm',
      deletedAt: AT,
      undoableUntil: AT,
      by: 'alice',
      reason: 'decommissioned',
    };
    const s = normalizeControlState(
      { activeRegion: 'east', epoch: 1, tombstones: [t, { target: 'region:east' }, 'x'] },
      'shop',
    );
    assert.deepEqual(s.tombstones, [t]);
  });

  it('keeps a null writer and the halted regions', () => {
    const s = normalizeControlState(
      { activeRegion: 'east', epoch: 4, writer: null, halted: ['east'], revision: 9 },
      'shop',
    );
    assert.equal(s.writer, null);
    assert.deepEqual(s.halted, ['east']);
    assert.equal(s.app, 'shop');
  });

  it('refuses what is not a control state', () => {
    assert.throws(
      () => normalizeControlState({ epoch: 'x' }, 'shop'),
      /control state of app "shop" is malformed/,
    );
  });

  it('orders copies by epoch, then revision', () => {
    const a = { ...initial, epoch: 4, revision: 1 };
    const b = { ...initial, epoch: 3, revision: 50 };
    assert.equal(isNewerControlState(a, b), true);
    assert.equal(isNewerControlState({ ...a, revision: 2 }, a), true);
    assert.equal(isNewerControlState(a, a), false);
  });
});
