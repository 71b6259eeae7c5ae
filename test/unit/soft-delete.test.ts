import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteApproval } from '../../apps/api/operations/delete-approval';
import { describeStarted } from '../../apps/cli/soft-delete.commands';
import { bulkDeleteRefusals, deleteRefusal, protectedRestorePoint } from '../../workflows/soft-delete';

describe('soft delete guard rails', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const at = (h: number) => new Date(now.getTime() - h * 3600_000).toISOString();
  const points = [
    { id: 'p1', cutAt: at(5), verification: 'verified' },
    { id: 'p2', cutAt: at(4), verification: 'repaired' },
    { id: 'p3', cutAt: at(3) },
    { id: 'p4', cutAt: at(0.1) },
  ];
  const opts = { now, rpoSeconds: 3600 };

  it('protects the newest verified restore point, else the newest one', () => {
    assert.equal(protectedRestorePoint(points)?.id, 'p2');
    assert.equal(protectedRestorePoint(points.map((p) => ({ ...p, verification: undefined })))?.id, 'p4');
    // A deleted one never counts.
    assert.equal(
      protectedRestorePoint(points.map((p) => (p.id === 'p2' ? { ...p, deletedBy: 'x' } : p)))?.id,
      'p1',
    );
  });

  it('refuses in order: missing, deleted, last way back, RPO window, in use', () => {
    assert.equal(deleteRefusal('nope', points, opts)?.code, 'restore-point-not-found');
    const deleted = points.map((p) => (p.id === 'p1' ? { ...p, deletedBy: 'shop-op' } : p));
    assert.deepEqual(deleteRefusal('p1', deleted, opts)?.details, { operationId: 'shop-op' });
    assert.equal(deleteRefusal('p2', points, opts)?.code, 'restore-point-protected');
    assert.equal(deleteRefusal('p4', points, opts)?.code, 'restore-point-in-rpo-window');
    assert.equal(deleteRefusal('p3', points, { ...opts, inUseBy: 'shop-r' })?.code, 'restore-point-in-use');
    assert.equal(deleteRefusal('p3', points, opts), null);
    assert.equal(deleteRefusal('p1', points, opts), null);
  });
});

describe('bulk deletes and their approval', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const at = (h: number) => new Date(now.getTime() - h * 3600_000).toISOString();
  const points = [
    { id: 'p1', cutAt: at(5) },
    { id: 'p2', cutAt: at(4) },
    { id: 'p3', cutAt: at(3) },
  ];
  const opts = { now, rpoSeconds: 60 };

  it('checks each as if the older ones were deleted: the last way back is never among them', () => {
    assert.deepEqual(bulkDeleteRefusals(['p1', 'p2'], points, opts), []);
    const all = bulkDeleteRefusals(['p1', 'p2', 'p3'], points, opts);
    assert.deepEqual(
      all.map((r) => [r.id, r.refusal.code]),
      [['p3', 'restore-point-protected']],
    );
    const inUse = bulkDeleteRefusals(['p1', 'p2'], points, {
      ...opts,
      inUseBy: (id) => (id === 'p2' ? 'op' : undefined),
    });
    assert.deepEqual(
      inUse.map((r) => [r.id, r.refusal.code]),
      [['p2', 'restore-point-in-use']],
    );
    assert.equal(
      bulkDeleteRefusals(['p1', 'nope'], points, opts)[0]?.refusal.code,
      'restore-point-not-found',
    );
  });

  it("needs approval when the kind's policy says so, and always above the bulk threshold", () => {
    const policy = {
      required: 0,
      roles: ['approver' as const],
      excludeRequester: true,
      expiresAfterSeconds: 60,
    };
    const app = (required: number, threshold = 3) =>
      ({
        policies: {
          approvals: {
            'restore-point-delete': { ...policy, required },
            'schedule-delete': { ...policy, required },
          },
        },
        softDelete: { bulkApprovalThreshold: threshold },
      }) as unknown as Parameters<typeof deleteApproval>[0];
    assert.equal(deleteApproval(app(0), 'restore-point-delete'), undefined);
    assert.equal(deleteApproval(app(0), 'restore-point-delete', 3), undefined, 'at the threshold: none');
    const above = deleteApproval(app(0), 'restore-point-delete', 4);
    assert.equal(above?.policy.required, 1, 'above it: at least one approver');
    assert.match(above!.why, /bulkApprovalThreshold \(3\)/);
    assert.equal(deleteApproval(app(2), 'restore-point-delete', 4)?.policy.required, 2);
    assert.equal(deleteApproval(app(1), 'schedule-delete')?.policy.required, 1);
  });
});

describe('the CLI line of a soft delete just asked for', () => {
  it('says when nothing is hidden yet because it waits for approval', () => {
    const started = { operationId: 'shop-1', undoableUntil: '2026-11-29T00:00:00.000Z' };
    assert.match(
      describeStarted('schedule nightly of shop', started),
      /undoable until 2026-11-29.*\nundo it: switchyard undo shop-1/,
    );
    const waiting = describeStarted('schedule nightly of shop', { ...started, awaitingApproval: true });
    assert.match(waiting, /waits for approval: nothing is hidden until then/);
    assert.doesNotMatch(waiting, /undoable until/);
  });
});
