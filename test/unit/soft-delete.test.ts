import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteRefusal, protectedRestorePoint } from '../../workflows/soft-delete';

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
