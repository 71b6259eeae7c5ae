import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ControlState, ControlTombstone } from '../../infra/storage/control-state.store';
import { regionTarget } from '../../workflows/control';
import {
  overrideRefusal,
  overrideUndoRefusal,
  regionRemoveRefusal,
  removedRegionRefusal,
  snapshotOf,
  usableRegions,
} from '../../workflows/control-guards';

const REGIONS = ['east', 'west', 'south'];
const state = (over: Partial<ControlState> = {}): ControlState => ({
  app: 'shop',
  activeRegion: 'east',
  epoch: 4,
  writer: 'east',
  halted: [],
  updatedAt: '2026-11-22T09:00:00.000Z',
  revision: 9,
  currentOperation: null,
  tombstones: [],
  ...over,
});
const removal = (region: string, over: Partial<ControlTombstone> = {}): ControlTombstone => ({
  target: regionTarget(region),
  kind: 'region-remove',
  operationId: 'shop-rm1',
  deletedAt: '2026-11-22T09:00:00.000Z',
  undoableUntil: '2026-11-29T09:00:00.000Z',
  by: 'alice',
  reason: 'decommissioned',
  ...over,
});

describe('guard rails of a region removal', () => {
  it('a standby of a three-region app may be removed', () => {
    assert.equal(regionRemoveRefusal(state(), 'shop', 'south', REGIONS), null);
    assert.deepEqual(usableRegions(state({ tombstones: [removal('south')] }), REGIONS), ['east', 'west']);
  });

  it('refuses, in order: unknown region (404), removed already, operation running, active, writer, last standby', () => {
    const code = (s: ControlState, region: string, regions = REGIONS) =>
      regionRemoveRefusal(s, 'shop', region, regions)?.code;
    const unknown = regionRemoveRefusal(state(), 'shop', 'north', REGIONS)!;
    assert.equal(unknown.code, 'region-not-found');
    assert.equal(unknown.status, 404);
    const again = regionRemoveRefusal(state({ tombstones: [removal('south')] }), 'shop', 'south', REGIONS)!;
    assert.equal(again.code, 'region-already-removed');
    assert.deepEqual(again.details?.operationId, 'shop-rm1', 'names the operation to undo');
    assert.equal(
      regionRemoveRefusal(state({ tombstones: [removal('south')] }), 'shop', 'south', REGIONS, 'shop-rm1'),
      null,
      'its own tombstone is no refusal (a retried step)',
    );
    const held = regionRemoveRefusal(state({ currentOperation: 'shop-fo1' }), 'shop', 'south', REGIONS)!;
    assert.equal(held.code, 'operation-in-progress');
    assert.match(held.message, /shop-fo1/);
    assert.equal(code(state(), 'east'), 'region-active');
    assert.equal(code(state({ activeRegion: 'west', writer: 'east' }), 'east'), 'region-writer');
    const last = regionRemoveRefusal(state(), 'shop', 'west', ['east', 'west'])!;
    assert.equal(last.code, 'last-standby');
    assert.match(last.message, /1 usable region\(s\) \(east/);
    assert.equal(code(state({ halted: ['west'] }), 'south'), 'last-standby', 'a halted region is not usable');
    assert.equal(code(state({ tombstones: [removal('west')] }), 'south'), 'last-standby');
  });

  it('a removed region is refused as a target, naming the operation and until when', () => {
    const r = removedRegionRefusal(
      state({ tombstones: [removal('west')] }),
      'shop',
      'west',
      'a failover target',
    )!;
    assert.equal(r.code, 'region-removed');
    assert.equal(r.status, 409);
    assert.match(
      r.message,
      /removed from app "shop" by operation shop-rm1 \(undo it before 2026-11-29T09:00:00.000Z/,
    );
    const purged = removedRegionRefusal(
      state({ tombstones: [removal('west', { purgedAt: '2026-11-29T09:00:01.000Z' })] }),
      'shop',
      'west',
      'restored into',
    )!;
    assert.match(purged.message, /final since 2026-11-29T09:00:01.000Z; drop it from switchyard.yaml/);
    assert.equal(removedRegionRefusal(state(), 'shop', 'west', 'x'), null);
  });
});

describe('guard rails of an override', () => {
  it('unknown region 422, operation running 409, no-op 409', () => {
    assert.equal(overrideRefusal(state(), 'shop', 'halt', 'north', REGIONS)?.status, 422);
    assert.equal(overrideRefusal(state(), 'shop', 'halt', 'north', REGIONS)?.code, 'unknown-region');
    assert.equal(
      overrideRefusal(state({ currentOperation: 'shop-fo1' }), 'shop', 'halt', 'west', REGIONS)?.code,
      'operation-in-progress',
    );
    assert.equal(
      overrideRefusal(state({ currentOperation: 'shop-ov1' }), 'shop', 'halt', 'west', REGIONS, 'shop-ov1'),
      null,
    );
    const noop = overrideRefusal(state({ halted: ['west'] }), 'shop', 'halt', 'west', REGIONS)!;
    assert.equal(noop.code, 'override-no-op');
    assert.equal(noop.status, 409);
    assert.equal(overrideRefusal(state(), 'shop', 'set-active', 'west', REGIONS), null);
  });

  it('the undo is refused when the state is no longer what the override set, showing both', () => {
    const set = snapshotOf(state({ halted: ['west'] }));
    assert.equal(overrideUndoRefusal('shop', 'shop-ov1', set, state({ halted: ['west'], epoch: 9 })), null);
    const changed = overrideUndoRefusal(
      'shop',
      'shop-ov1',
      set,
      state({ activeRegion: 'south', writer: 'south', halted: ['west', 'east'], operationId: 'shop-fo2' }),
    )!;
    assert.equal(changed.code, 'control-state-changed');
    assert.deepEqual(changed.details?.expected, { activeRegion: 'east', writer: 'east', halted: ['west'] });
    assert.deepEqual(changed.details?.current, {
      activeRegion: 'south',
      writer: 'south',
      halted: ['east', 'west'],
    });
    assert.match(changed.message, /it set active east, writer east, halted west, it is now active south/);
    assert.match(changed.message, /last changed by shop-fo2/);
  });
});
