import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import type { DemoAppOptions } from './demo-app';

/**
 * The demo app's fencing from a Switchyard configuration: it reads `apps.<app>`'s control state
 * from every region's bucket and the app's fencing witness, if it has one (as the coordinator
 * mirrors it), with the app's lease settings.
 * One bucket read is bounded well below the lease, so a stopped S3 server cannot hold a refresh.
 */
export function fencingFromConfig(
  config: SwitchyardConfig,
  app: string,
): NonNullable<DemoAppOptions['fencing']> {
  const a = config.apps[app];
  if (!a) {
    throw new Error(
      `fencing: the configuration has no app "${app}" (apps: ${Object.keys(config.apps).join(', ')})`,
    );
  }
  const writeLeaseMs = Math.round(a.fencing.writeLeaseSeconds * 1000);
  const leaseRefreshMs = Math.round(a.fencing.leaseRefreshSeconds * 1000);
  const store = new ControlStateStore(config, {
    requestTimeoutMs: Math.max(100, Math.min(1_000, Math.floor(writeLeaseMs / 2))),
    maxAttempts: 1,
  });
  return {
    writeLeaseMs,
    leaseRefreshMs,
    read: async () => {
      const r = await store.read(app);
      return { state: r.state, regions: r.regions };
    },
    close: () => store.close(),
  };
}
