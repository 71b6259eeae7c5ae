import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appOperationWorkflowId, operationIdOf, parseOperationId } from '../../workflows/definitions';

describe('operation ids', () => {
  const runId = '0195f8a2-7d3e-7c1b-9b1a-2f3e4d5c6b7a';

  it('round-trips app and run id, also for app names with dashes', () => {
    for (const app of ['shop', 'web-shop', 'a-b-c']) {
      const id = operationIdOf(app, runId);
      assert.deepEqual(parseOperationId(id), { app, workflowId: appOperationWorkflowId(app), runId });
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
