import { z } from 'zod';
import {
  type AutomaticPolicy,
  FAILOVER_TRIGGER_MODES,
  type FailoverTriggerMode,
} from '../../workflows/automatic-decision';

/**
 * `apps.<app>.failover.mode` and `apps.<app>.failover.automatic` (docs/health-monitoring.md,
 * Automatic mode; docs/configuration.md): what happens when the monitors' quorum declares the
 * app's active region down.
 */

const seconds = (max: number) =>
  z
    .number({ error: 'expected a number of seconds' })
    .min(0, 'must not be negative')
    .max(max, `at most ${max}`);

export const failoverModeSchema = z
  .enum(FAILOVER_TRIGGER_MODES, { error: 'expected "manual" or "automatic"' })
  .default('manual');

export const automaticPolicySchema = z
  .object({
    downForSeconds: seconds(86_400).default(0),
    requireStandbyHealthy: z.boolean().default(true),
    /** Default: `policies.rpoSeconds`. */
    maxRestorePointAgeSeconds: seconds(30 * 86_400).optional(),
    approvalWaitSeconds: seconds(86_400).default(0),
  })
  .strict();

interface FailoverModeFields {
  policies: {
    rpoSeconds: number;
    approvals: { failover: { required: number; expiresAfterSeconds: number } };
  };
  failover: { mode: FailoverTriggerMode; automatic?: z.output<typeof automaticPolicySchema> };
}

/** Cross-field checks of one app, with paths relative to the app. */
export function checkFailoverMode(app: FailoverModeFields, ctx: z.RefinementCtx): void {
  const { mode, automatic } = app.failover;
  if (automatic && mode !== 'automatic') {
    ctx.addIssue({
      code: 'custom',
      path: ['failover', 'automatic'],
      message: 'only applies with failover.mode: automatic (the mode is manual)',
    });
  }
  const expiry = app.policies.approvals.failover.expiresAfterSeconds;
  if (
    mode === 'automatic' &&
    automatic &&
    automatic.approvalWaitSeconds > 0 &&
    app.policies.approvals.failover.required > 0 &&
    automatic.approvalWaitSeconds >= expiry
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['failover', 'automatic', 'approvalWaitSeconds'],
      message: `must be shorter than policies.approvals.failover.expiresAfterSeconds (${expiry}s), or the request expires before the failover proceeds`,
    });
  }
}

/** The automatic policy of an app in automatic mode, defaults resolved; undefined in manual mode. */
export function automaticPolicy(app: FailoverModeFields): AutomaticPolicy | undefined {
  if (app.failover.mode !== 'automatic') return undefined;
  const a = automaticPolicySchema.parse(app.failover.automatic ?? {});
  return {
    downForSeconds: a.downForSeconds,
    requireStandbyHealthy: a.requireStandbyHealthy,
    maxRestorePointAgeSeconds: a.maxRestorePointAgeSeconds ?? app.policies.rpoSeconds,
    approvalWaitSeconds: a.approvalWaitSeconds,
  };
}
