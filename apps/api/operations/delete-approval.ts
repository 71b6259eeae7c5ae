import type { AppConfig } from '../../../infra/config/config.schema';
import type { SoftDeleteKind } from '../../../workflows/definitions';
import type { SoftDeleteApproval } from '../../../workflows/soft-delete';

/**
 * Whether a soft delete waits for approval, and under which policy (docs/soft-deletes.md#approvals):
 * when `policies.approvals.<kind>` requires one, and always for a bulk delete of more restore points
 * than `softDelete.bulkApprovalThreshold` (then at least one approver, under that policy's roles).
 */
export function deleteApproval(
  app: Pick<AppConfig, 'policies' | 'softDelete'>,
  kind: SoftDeleteKind,
  bulkCount?: number,
): SoftDeleteApproval | undefined {
  const policy = app.policies.approvals[kind];
  const threshold = app.softDelete.bulkApprovalThreshold;
  if (bulkCount !== undefined && bulkCount > threshold) {
    return {
      policy: { ...policy, required: Math.max(1, policy.required) },
      why: `a bulk delete of ${bulkCount} restore points is above softDelete.bulkApprovalThreshold (${threshold})`,
    };
  }
  if (policy.required > 0) {
    return { policy, why: `policies.approvals.${kind} requires ${policy.required} approval(s)` };
  }
  return undefined;
}
