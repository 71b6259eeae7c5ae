import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appOperationWorkflowId,
  appOwnOperationWorkflowId,
  appSlotWorkflowId,
  OPERATION_SLOTS,
  operationIdOf,
  parseOperationId,
  parseRestorePointId,
  restorePointIdOf,
} from '../../workflows/definitions';
import { restoreOrder } from '../../workflows/restore.workflow';

describe('operation ids', () => {
  const runId = '0195f8a2-7d3e-7c1b-9b1a-2f3e4d5c6b7a';

  it('round-trips app and run id, also for app names with dashes', () => {
    for (const app of ['shop', 'web-shop', 'a-b-c']) {
      const id = operationIdOf(app, runId);
      const parsed = parseOperationId(id);
      assert.deepEqual(parsed, {
        app,
        runId,
        workflowIds: OPERATION_SLOTS.map((slot) => appSlotWorkflowId(app, slot)),
        // Operations without a slot (soft deletes) run under a workflow id of their own.
        ownWorkflowId: `switchyard.app.${app}.op.${runId}`,
      });
      assert.equal(parsed!.ownWorkflowId, appOwnOperationWorkflowId(app, runId));
      // The exclusive slot (failover, restore) is looked at first.
      assert.equal(parsed!.workflowIds[0], appOperationWorkflowId(app));
    }
  });

  it('rejects anything else', () => {
    for (const bad of [
      '',
      runId,
      `-${runId}`,
      `Shop-${runId}`,
      'shop-123',
      `shop_${runId}`,
      `shop-${runId}x`,
      `../x-${runId}`,
    ]) {
      assert.equal(parseOperationId(bad), null, bad);
    }
  });
});

describe('restore point ids', () => {
  it('name their app and time, and sort by time', () => {
    const at = new Date('2026-11-22T06:01:02.345Z');
    const id = restorePointIdOf('web-shop', at, '3f9a1c7e-aaaa');
    assert.equal(id, 'web-shop-20261122T060102Z-3f9a1c7e');
    assert.deepEqual(parseRestorePointId(id), { app: 'web-shop', at: new Date('2026-11-22T06:01:02Z') });
    const later = restorePointIdOf('web-shop', new Date('2026-11-22T06:01:03Z'), '00000000');
    assert.ok(later > id);
  });

  it('rejects anything else', () => {
    for (const bad of [
      '',
      'shop',
      'shop-20261122T060102Z',
      'shop-20261122T060102Z-XYZ',
      'Shop-20261122T060102Z-3f9a1c7e',
      'shop-20261399T060102Z-3f9a1c7e',
    ]) {
      assert.equal(parseRestorePointId(bad), null, bad);
    }
  });
});

describe('restore order', () => {
  it('puts every service after the ones it depends on; independent ones together', () => {
    assert.deepEqual(
      restoreOrder([
        { name: 'ledger', dependsOn: ['orders'] },
        { name: 'orders', dependsOn: [] },
        { name: 'assets', dependsOn: [] },
        { name: 'search', dependsOn: ['ledger', 'assets'] },
      ]),
      [['assets', 'orders'], ['ledger'], ['search']],
    );
  });

  it('refuses a cycle by name', () => {
    assert.throws(
      () =>
        restoreOrder([
          { name: 'a', dependsOn: ['b'] },
          { name: 'b', dependsOn: ['a'] },
        ]),
      /cycle: a, b/,
    );
  });
});
