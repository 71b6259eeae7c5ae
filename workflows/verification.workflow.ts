import { proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { BackupCoordinatorActivities } from '../infra/activities/restore-point.activities';
import type {
  VerificationCoordinatorActivities,
  VerificationRegionActivities,
} from '../infra/activities/verification.activities';
import type { RestorePointManifest } from '../infra/backup/manifest';
import type { ScratchCoordinatorActivities } from '../infra/activities/scratch.activities';
import { type ScratchReport, testRestore } from './scratch-restore';
import { operationIdOf, operationStatusQuery, regionTaskQueue } from './definitions';
import { OPERATION_STEPS, type OperationStatus, type VerificationSpec } from './operation';
import { OperationRuntime, toOperationError } from './operation-runtime';
import {
  breakTie,
  chooseManifest,
  conclude,
  type CopyCheck,
  findingsOf,
  isClean,
  planRepairs,
  VERIFICATION_SCHEMA,
  type VerificationFinding,
  type VerificationRecord,
  type VerificationStatus,
} from './verification';

/**
 * Verifies the copies of an app's newest restore points in every region, and heals them:
 *
 *   inventory (the newest `depth` restore points, from the catalog)
 *   → verify (per restore point, every region's copy read through on that region's queue, in
 *     parallel: size and full-content SHA-256 of every artifact and object against the reference
 *     manifest; typed findings)
 *   → repair (a missing or corrupt copy is replaced from a region whose copy verified, then
 *     re-verified; a missing or different manifest is rewritten, last; one audit event per repair)
 *   → record (a verification record per restore point into every reachable region's bucket; an
 *     `unrecoverable` one is never used for a restore, and raises `restore-point.unrecoverable`)
 *   → test-restore (when asked: the newest restore point restored into the scratch places of the
 *     scratch region, the app's checks run, the scratch places cleaned up even when checks fail;
 *     `facts.testRestore`, docs/drills.md)
 *
 * Decisions (which manifest is the reference, which copy repairs which) are pure functions in
 * ./verification.ts.
 */

export interface VerificationInput {
  app: string;
  spec: VerificationSpec;
  requestedBy: string;
  taskQueuePrefix: string;
}

/** Restore points verified at once; each reads every region in parallel. */
const RESTORE_POINT_CONCURRENCY = 2;
/** Repair → re-verify rounds: a repaired listing reveals its objects only in the next round. */
const ROUNDS = 3;

const coordinator = proxyActivities<
  VerificationCoordinatorActivities & BackupCoordinatorActivities & ScratchCoordinatorActivities
>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

function region(prefix: string, name: string) {
  return proxyActivities<VerificationRegionActivities>({
    taskQueue: regionTaskQueue(prefix, name),
    startToCloseTimeout: '6h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  });
}

interface PointState {
  id: string;
  reference?: RestorePointManifest;
  undecidable?: boolean;
  /** Regions whose copies are checked (readable when the verification began). */
  regions: string[];
  checks: CopyCheck[];
  findings: VerificationFinding[];
  repairs: number;
  result?: { status: VerificationStatus; findings: VerificationFinding[] };
}

async function inParallel<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
}

const findingKey = (f: VerificationFinding) => `${f.type}|${f.region}|${f.key ?? ''}`;

export async function verificationWorkflow(input: VerificationInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const status: OperationStatus = {
    operationId: operationIdOf(app, workflowInfo().firstExecutionRunId),
    kind: 'verification',
    app,
    spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: OPERATION_STEPS.verification.map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    facts: {},
  };
  const op = new OperationRuntime(status);
  setHandler(operationStatusQuery, () => status);
  await op.audit('operation.started', 'info', { spec, requestedBy: input.requestedBy });

  const points: PointState[] = [];
  let regions: string[] = [];
  let withTestRestore = spec.testRestore ?? false;
  const unreachable = new Map<string, string>();

  /** Checks every given region's copy against the reference; a region that cannot be read becomes unreachable. */
  async function checkRegions(p: PointState, which: string[]): Promise<CopyCheck[]> {
    const results = await Promise.all(
      which.map(async (r) => {
        try {
          return await region(input.taskQueuePrefix, r).verifyRestorePointCopy({
            app,
            region: r,
            manifest: p.reference!,
          });
        } catch (err) {
          unreachable.set(r, toOperationError(err).message);
          return null;
        }
      }),
    );
    return results.filter((c): c is CopyCheck => c !== null);
  }

  function addFindings(p: PointState, found: VerificationFinding[]): void {
    const seen = new Set(p.findings.map(findingKey));
    for (const f of found) if (!seen.has(findingKey(f))) p.findings.push(f);
  }

  try {
    await op.runStep('inventory', async (step) => {
      const plan = await coordinator.planVerification({ app, depth: spec.depth });
      regions = plan.regions;
      withTestRestore = spec.testRestore ?? plan.testRestore;
      for (const u of plan.unreachable) unreachable.set(u.region, u.error);
      for (const id of plan.restorePointIds) {
        points.push({ id, regions: [], checks: [], findings: [], repairs: 0 });
      }
      status.facts.depth = plan.depth;
      status.facts.restorePoints = plan.restorePointIds;
      step.detail =
        `${plan.restorePointIds.length} restore point(s) (depth ${plan.depth}) in ${regions.join(', ')}` +
        (plan.unreachable.length ? `; unreachable: ${plan.unreachable.map((u) => u.region).join(', ')}` : '');
    });

    await op.runStep('verify', async (step) => {
      let done = 0;
      await inParallel(points, RESTORE_POINT_CONCURRENCY, async (p) => {
        const all = await coordinator.readManifestCopies({ app, restorePointId: p.id });
        // Only the planned regions: one whose removal is final gets no copy back.
        const read = { ...all, copies: all.copies.filter((c) => regions.includes(c.region)) };
        for (const c of read.copies) if (c.state === 'unreachable') unreachable.set(c.region, c.error ?? '');
        p.regions = read.copies.filter((c) => c.state !== 'unreachable').map((c) => c.region);
        const choice = chooseManifest(read.copies);
        if (choice.kind === 'none') {
          p.undecidable = true;
        } else if (choice.kind === 'tie') {
          // Each candidate is checked in the regions that hold it; the one whose copies verify wins.
          const results: { sha256: string; clean: boolean }[] = [];
          for (const sha256 of choice.candidates) {
            const holders = read.copies.filter((c) => c.sha256 === sha256).map((c) => c.region);
            const checks = await checkRegions({ ...p, reference: read.manifests[sha256]! }, holders);
            results.push({ sha256, clean: checks.length === holders.length && checks.every(isClean) });
          }
          const winner = breakTie(results);
          if (winner) p.reference = read.manifests[winner];
          else {
            p.undecidable = true;
            addFindings(
              p,
              read.copies
                .filter((c) => c.state === 'present')
                .map((c) => ({
                  type: 'manifest-mismatch' as const,
                  region: c.region,
                  key: `manifests/${p.id}.json`,
                  detail: `the regions' manifests differ and none of them is confirmed by its artifacts`,
                })),
            );
          }
        } else {
          p.reference = read.manifests[choice.sha256];
        }
        if (p.reference) {
          p.checks = await checkRegions(p, p.regions);
          addFindings(p, findingsOf(p.id, p.checks));
        }
        done++;
        step.detail = `${done}/${points.length} restore point(s) checked`;
        op.publish();
      });
      const total = points.reduce((n, p) => n + p.findings.length, 0);
      step.detail = `${points.length} restore point(s) checked in ${regions.length - unreachable.size} region(s): ${total} finding(s)`;
      status.facts.findings = points.flatMap((p) => p.findings.map((f) => ({ restorePointId: p.id, ...f })));
    });

    await op.runStep('repair', async (step) => {
      let repairs = 0;
      let failures = 0;
      await inParallel(points, RESTORE_POINT_CONCURRENCY, async (p) => {
        if (!p.reference) return;
        for (let round = 1; round <= ROUNDS; round++) {
          const plan = planRepairs(p.checks);
          if (plan.objects.length === 0 && plan.manifests.length === 0) break;
          const touched = new Set<string>();
          for (const r of plan.objects) {
            try {
              const done = await region(input.taskQueuePrefix, r.region).repairObject({
                app,
                from: r.from,
                to: r.region,
                key: r.key,
                expect: r.expect,
              });
              repairs++;
              touched.add(r.region);
              for (const f of p.findings)
                if (f.region === r.region && f.key === r.key) f.repairedFrom = r.from;
              await op.audit('restore-point.repaired', 'succeeded', {
                restorePointId: p.id,
                region: r.region,
                key: r.key,
                from: r.from,
                method: done.method,
                bytes: done.bytes,
              });
            } catch (err) {
              failures++;
              await op.audit('restore-point.repaired', 'failed', {
                restorePointId: p.id,
                region: r.region,
                key: r.key,
                from: r.from,
                error: toOperationError(err),
              });
            }
          }
          // Manifests last: a region's copy exists again only once its objects are there.
          const objectsFailed = plan.objects.some((o) => !touched.has(o.region));
          for (const r of objectsFailed ? [] : plan.manifests) {
            try {
              await coordinator.writeManifest({ region: r, manifest: p.reference });
              repairs++;
              touched.add(r);
              const from = p.checks.find((c) => c.manifest === 'same')?.region;
              for (const f of p.findings)
                if (f.region === r && f.key === `manifests/${p.id}.json`) f.repairedFrom = from;
              await op.audit('restore-point.repaired', 'succeeded', {
                restorePointId: p.id,
                region: r,
                key: `manifests/${p.id}.json`,
                from,
              });
            } catch (err) {
              failures++;
              await op.audit('restore-point.repaired', 'failed', {
                restorePointId: p.id,
                region: r,
                key: `manifests/${p.id}.json`,
                error: toOperationError(err),
              });
            }
          }
          if (touched.size === 0) break;
          // Re-verify what was repaired: the repair is done only when the copy reads back right.
          const again = await checkRegions(p, [...touched]);
          p.checks = [...p.checks.filter((c) => !touched.has(c.region)), ...again];
          addFindings(p, findingsOf(p.id, p.checks));
        }
        op.publish();
      });
      status.facts.repairs = repairs;
      step.detail = `${repairs} repair(s)` + (failures ? `, ${failures} failed` : '') + ' re-verified';
    });

    await op.runStep('record', async (step) => {
      const verifiedAt = new Date().toISOString();
      const reachable = regions.filter((r) => !unreachable.has(r));
      const unreachableFindings = [...unreachable.entries()].map(([r, error]): VerificationFinding => ({
        type: 'unreachable-region',
        region: r,
        detail: `the bucket of ${r} could not be read: ${error}`,
      }));
      const summary: Record<VerificationStatus, number> = {
        verified: 0,
        repaired: 0,
        degraded: 0,
        unrecoverable: 0,
      };
      for (const p of points) {
        const last = p.reference ? findingsOf(p.id, p.checks) : p.findings;
        p.result = conclude([...p.findings, ...unreachableFindings], last, {
          lost: p.undecidable === true || planRepairs(p.checks).lost.length > 0,
          allRegionsChecked: regions.every((r) => !unreachable.has(r)),
        });
        summary[p.result.status]++;
        const record: VerificationRecord = {
          schema: VERIFICATION_SCHEMA,
          app,
          restorePointId: p.id,
          operationId: status.operationId,
          status: p.result.status,
          verifiedAt,
          regions: p.regions.filter((r) => !unreachable.has(r)),
          findings: p.result.findings,
        };
        await Promise.all(
          reachable.map((r) =>
            coordinator.writeVerificationRecord({ region: r, record }).catch((err: unknown) => {
              unreachable.set(r, toOperationError(err).message);
            }),
          ),
        );
        if (p.result.status === 'unrecoverable') {
          await op.audit('restore-point.unrecoverable', 'failed', {
            restorePointId: p.id,
            findings: p.result.findings.filter((f) => !f.repaired).length,
          });
          op.notify('restore-point.unrecoverable', {
            restorePointId: p.id,
            findings: p.result.findings.filter((f) => !f.repaired && f.type !== 'unreachable-region'),
          });
        }
      }
      status.facts.results = points.map((p) => ({
        restorePointId: p.id,
        status: p.result!.status,
        findings: p.result!.findings,
      }));
      status.facts.summary = summary;
      if (unreachable.size) status.facts.unreachable = Object.fromEntries(unreachable);
      step.detail = `${summary.verified} verified, ${summary.repaired} repaired, ${summary.degraded} degraded, ${summary.unrecoverable} unrecoverable`;
    });

    if (withTestRestore) {
      await op.runStep('test-restore', async (step) => {
        const plan = await coordinator.planScratchRestore({ app, purpose: 'test-restore' });
        const report: ScratchReport = {
          region: plan.region,
          restorePoint: plan.restorePoint,
          services: {},
          checks: [],
          cleanup: [],
          passed: false,
        };
        status.facts.testRestore = report;
        step.detail = await testRestore(
          op,
          { app, taskQueuePrefix: input.taskQueuePrefix, operationId: status.operationId },
          plan,
          report,
        );
      });
    }
    status.phase = 'Completed';
  } catch (err) {
    status.error = toOperationError(err);
    status.phase = 'Failed';
  }
  return op.end();
}
