import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { RegionActivities } from '../infra/activities/failover.activities';
import type { BackupRegionActivities } from '../infra/activities/restore-point.activities';
import type { RestorePointManifest, ServiceCut } from '../infra/backup/manifest';
import { regionTaskQueue } from './definitions';
import type { OperationRuntime } from './operation-runtime';
import { toOperationError } from './operation-runtime';

/**
 * The core of every restore, shared by the restore workflow (three steps of its own) and the
 * failover and failback workflows (their `restore` and `reprotect` steps): verify the artifacts
 * before anything is touched, restore the services in dependency order, then verify each service.
 * Deterministic: used inside workflows only.
 */

export interface RestoreTarget {
  app: string;
  region: string;
  taskQueuePrefix: string;
  manifest: RestorePointManifest;
  /** Per-service progress, shown on the operation (`facts.services`): Verified, Restoring, ... */
  perService: Record<string, string>;
  /**
   * `scratch`: restore into and verify the services' scratch places in the region (test restores
   * and drills, docs/drills.md), never their live ones. Default: the live places.
   */
  place?: 'live' | 'scratch';
}

/** Services grouped so that each group depends only on earlier groups. */
export function restoreOrder(services: Pick<ServiceCut, 'name' | 'dependsOn'>[]): string[][] {
  const done = new Set<string>();
  const names = new Set(services.map((s) => s.name));
  const levels: string[][] = [];
  let rest = [...services];
  while (rest.length > 0) {
    const ready = rest.filter((s) => s.dependsOn.every((d) => done.has(d) || !names.has(d)));
    if (ready.length === 0) {
      throw ApplicationFailure.nonRetryable(
        `the services depend on each other in a cycle: ${rest.map((s) => s.name).join(', ')}`,
        'dependency-cycle',
      );
    }
    levels.push(ready.map((s) => s.name).sort());
    ready.forEach((s) => done.add(s.name));
    rest = rest.filter((s) => !done.has(s.name));
  }
  return levels;
}

function regionOf(t: RestoreTarget) {
  return proxyActivities<BackupRegionActivities & RegionActivities>({
    taskQueue: regionTaskQueue(t.taskQueuePrefix, t.region),
    startToCloseTimeout: '6h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  });
}

/** Reads every artifact through in the target region: size and SHA-256 against the manifest. */
export async function verifyArtifacts(t: RestoreTarget): Promise<{
  versions: Record<string, string | undefined>;
  detail: string;
}> {
  const results = await Promise.all(
    t.manifest.services.map((s) =>
      regionOf(t).verifyArtifact({ app: t.app, region: t.region, artifact: s.artifact }),
    ),
  );
  const versions: Record<string, string | undefined> = {};
  t.manifest.services.forEach((s, i) => {
    versions[s.name] = results[i]!.versionId;
    t.perService[s.name] = 'Verified';
  });
  return {
    versions,
    detail: `${t.manifest.services.length} artifact(s) match their SHA-256 in ${t.region}`,
  };
}

/** Restores every service, in dependency order; services with no order between them in parallel. */
export async function restoreServices(
  op: OperationRuntime,
  t: RestoreTarget,
  versions: Record<string, string | undefined>,
): Promise<string> {
  const levels = restoreOrder(t.manifest.services);
  const details: string[] = [];
  for (const level of levels) {
    await Promise.all(
      level.map(async (name) => {
        const cut = t.manifest.services.find((s) => s.name === name)!;
        t.perService[name] = 'Restoring';
        op.publish();
        try {
          const r = await regionOf(t).restoreService({
            ...(t.place ? { place: t.place } : {}),
            app: t.app,
            region: t.region,
            service: name,
            restorePointId: t.manifest.id,
            artifact: cut.artifact,
            versionId: versions[name],
          });
          t.perService[name] = 'Restored';
          details.push(`${name}: ${r.detail}`);
        } catch (err) {
          t.perService[name] = `Failed: ${toOperationError(err).message}`;
          throw err;
        }
        op.publish();
      }),
    );
  }
  return `in order ${levels.map((l) => l.join('+')).join(' → ')}; ${details.join('; ')}`;
}

/** Asks each restored service whether it answers with the restore point's data. */
export async function verifyServices(t: RestoreTarget): Promise<string> {
  const results = await Promise.all(
    t.manifest.services.map((s) =>
      regionOf(t).verifyService({
        ...(t.place ? { place: t.place } : {}),
        app: t.app,
        region: t.region,
        service: s.name,
        restorePointId: t.manifest.id,
      }),
    ),
  );
  const bad = t.manifest.services.filter((_s, i) => !results[i]!.ok);
  t.manifest.services.forEach(
    (s, i) => (t.perService[s.name] = results[i]!.ok ? 'Verified' : 'VerifyFailed'),
  );
  const detail = t.manifest.services.map((s, i) => `${s.name}: ${results[i]!.detail}`).join('; ');
  if (bad.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `service(s) ${bad.map((s) => s.name).join(', ')} did not verify after the restore: ${detail}`,
      'verify-failed',
    );
  }
  return detail;
}

/** All three in one go, for a step that restores as part of a larger plan. */
export async function restoreInto(op: OperationRuntime, t: RestoreTarget): Promise<string> {
  const { versions } = await verifyArtifacts(t);
  const restored = await restoreServices(op, t, versions);
  const verified = await verifyServices(t);
  return `restore point ${t.manifest.id} into ${t.region}: ${restored}; verified: ${verified}`;
}
