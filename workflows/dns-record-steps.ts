import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../infra/activities/control.activities';
import type { DnsRecordActivities } from '../infra/activities/dns-record.activities';
import type { ControlState } from '../infra/storage/control-state.store';
import type { ControlChange } from './control';
import { DNS_RECORD_SOFT_REFUSALS } from './dns-record-soft';

/**
 * What the soft DNS change workflows share (dns-record-delete, dns-override): their activities,
 * control changes applied once each, and holding the app's controller around every write, so a
 * failover never moves a record while it is being removed, overridden or put back (and the other
 * way round). Deterministic: runs inside workflows.
 */

export const dnsRecords = proxyActivities<DnsRecordActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

const control = proxyActivities<Pick<ControlActivities, 'applyControlChange' | 'readControl'>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 6 },
});

/** Undo and purge must happen: the controller being away for a while is waited for. */
const surely = proxyActivities<Pick<ControlActivities, 'applyControlChange'>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export function readControl(app: string): Promise<ControlState> {
  return control.readControl({ app });
}

/** One control change, applied once (`key` makes the request id). */
export function controlChange(
  app: string,
  operationId: string,
  key: string,
  change: ControlChange,
  opts: { surely?: boolean } = {},
) {
  return (opts.surely ? surely : control).applyControlChange({
    app,
    requestId: `${operationId}:${key}`,
    change,
  });
}

/**
 * Runs `body` holding the app's controller (claim, then release whatever happens). A claim refused
 * because another operation holds the app is `operation-in-progress`, non-retryable, nothing done.
 */
export async function whileClaimed<T>(
  app: string,
  operationId: string,
  key: string,
  body: () => Promise<T>,
): Promise<T> {
  try {
    await controlChange(app, operationId, `${key}:claim`, { type: 'claim', operationId });
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    if (cause instanceof ApplicationFailure && cause.type === 'operation-held') {
      throw ApplicationFailure.create({
        type: DNS_RECORD_SOFT_REFUSALS.operationInProgress,
        nonRetryable: true,
        message: `${cause.message}: nothing was changed, try again once it has ended`,
      });
    }
    throw err;
  }
  try {
    return await body();
  } finally {
    await controlChange(
      app,
      operationId,
      `${key}:release`,
      { type: 'release', operationId },
      { surely: true },
    );
  }
}
