import { removedRegionRefusal } from '../../workflows/control-guards';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Client } from 'pg';
import type { AppConfig, CheckConfig, SwitchyardConfig } from '../config/config.schema';
import { scratchPlaceOf, scratchRegionOf } from '../config/scratch';
import { isWhole } from '../backup/catalog';
import { parsePostgresUrl, scrubPassword } from '../backup/postgres.adapter';
import type { RestorePointManifest } from '../backup/manifest';
import { type BackupDeps, contextFor, type ServiceCall } from './restore-point.activities';

/**
 * Activities of test restores and drills (docs/drills.md). The restore itself reuses the restore
 * activities (`verifyArtifact`, `restoreService`, `verifyService`) with `place: 'scratch'`; these
 * prepare and discard the scratch places, start and stop the app's scratch instance, wait for it
 * to answer healthy, and run the app's declared checks. Region activities run on the scratch
 * region's queue. None of them ever acts on a live place.
 */

export type ScratchPurpose = 'drill' | 'test-restore';

export interface ScratchPlan {
  region: string;
  activeRegion: string;
  restorePoint: { id: string; cutAt: string; verification?: string };
  manifest: RestorePointManifest;
  /** The app's scratch instance in the region: started after the restore, probed, checked, stopped. */
  instance: {
    url: string;
    healthUrl: string;
    start: boolean;
    stop: boolean;
    startTimeoutSeconds: number;
  } | null;
  checks: { name: string; type: CheckConfig['type'] }[];
  rpoSeconds: number;
  rtoSeconds?: number;
}

export interface CheckResult {
  name: string;
  type: CheckConfig['type'];
  ok: boolean;
  detail: string;
  durationMs: number;
}

function appOf(config: SwitchyardConfig, app: string): AppConfig {
  const a = config.apps[app];
  if (!a) throw ApplicationFailure.nonRetryable(`unknown app "${app}"`, 'unknown-app');
  return a;
}

function instanceOf(app: AppConfig, region: string) {
  const r = app.regions.find((x) => x.name === region);
  return r?.scratch ?? null;
}

async function postHook(url: string, token: string | undefined, body: Record<string, unknown>, what: string) {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new Error(`${what} ${new URL(url).origin}${new URL(url).pathname}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const text = (await res.text().catch(() => '')).slice(0, 300);
  if (res.status < 200 || res.status >= 300) {
    const message = `${what} ${new URL(url).pathname} answered ${res.status}: ${text}`;
    if (res.status >= 400 && res.status < 500) throw ApplicationFailure.nonRetryable(message, 'hook-refused');
    throw new Error(message);
  }
  return text;
}

export function createScratchCoordinatorActivities(deps: BackupDeps) {
  return {
    /**
     * What a test restore or drill restores and where: the scratch region (never the active one),
     * the restore point (a drill: the newest verified one; a test restore: the newest one not
     * unrecoverable), its manifest as that region holds it, the app's scratch instance and checks.
     */
    async planScratchRestore(input: { app: string; purpose: ScratchPurpose }): Promise<ScratchPlan> {
      const app = appOf(deps.config, input.app);
      if (app.services.length === 0) {
        throw ApplicationFailure.nonRetryable(
          `app "${input.app}" declares no services: nothing to restore (apps.${input.app}.services)`,
          'no-services',
        );
      }
      const region = scratchRegionOf(app);
      const { state } = await deps.controlState.read(input.app);
      const removed = removedRegionRefusal(state, input.app, region, `${input.purpose} target`);
      if (removed) throw ApplicationFailure.nonRetryable(removed.message, removed.code);
      if (state.activeRegion === region) {
        throw ApplicationFailure.nonRetryable(
          `region ${region} is the active region: a ${input.purpose} never touches it ` +
            `(set apps.${input.app}.drills.region to a standby region)`,
          'scratch-region-is-active',
        );
      }
      for (const s of app.services) {
        if (!scratchPlaceOf(s, region)) {
          throw ApplicationFailure.nonRetryable(
            `service "${s.name}" has no scratch place in region ${region}: declare apps.${input.app}.services[].regions.${region}.scratch`,
            'no-scratch-place',
          );
        }
      }
      const listing = await deps.catalog.list(input.app);
      const inRegion = listing.items.filter((i) => i.copies.some((c) => c.region === region && c.present));
      const chosen =
        input.purpose === 'drill'
          ? inRegion.find(isWhole)
          : inRegion.find((i) => i.verification?.status !== 'unrecoverable');
      if (!chosen) {
        throw ApplicationFailure.nonRetryable(
          input.purpose === 'drill'
            ? `app "${input.app}" has no verified restore point in region ${region}: run a verification first (switchyard verify ${input.app} --now)`
            : `app "${input.app}" has no restore point in region ${region} to test`,
          input.purpose === 'drill' ? 'no-verified-restore-point' : 'no-restore-point',
        );
      }
      const manifest = await deps.artifacts.readManifest(input.app, region, chosen.id);
      if (!manifest) {
        throw ApplicationFailure.nonRetryable(
          `restore point ${chosen.id} has no manifest in region ${region}`,
          'restore-point-not-in-region',
        );
      }
      const inst = instanceOf(app, region);
      const checks = app.checks.filter((c) => c.type !== 'http' || inst);
      if (app.checks.some((c) => c.type === 'http') && !inst) {
        throw ApplicationFailure.nonRetryable(
          `the app declares HTTP checks but region ${region} has no scratch instance: declare apps.${input.app}.regions[].scratch`,
          'no-scratch-instance',
        );
      }
      return {
        region,
        activeRegion: state.activeRegion,
        restorePoint: {
          id: chosen.id,
          cutAt: chosen.cutAt,
          ...(chosen.verification ? { verification: chosen.verification.status } : {}),
        },
        manifest,
        instance: inst
          ? {
              url: inst.url,
              healthUrl: new URL(inst.healthPath, inst.url).toString(),
              start: inst.startUrl !== undefined,
              stop: inst.stopUrl !== undefined,
              startTimeoutSeconds: inst.startTimeoutSeconds,
            }
          : null,
        checks: checks.map((c) => ({ name: c.name, type: c.type })),
        rpoSeconds: app.policies.rpoSeconds,
        ...(app.drills.rtoSeconds !== undefined ? { rtoSeconds: app.drills.rtoSeconds } : {}),
      };
    },
  };
}

export function createScratchRegionActivities(deps: BackupDeps) {
  const scratch = (call: Omit<ServiceCall, 'place'>) => contextFor(deps, { ...call, place: 'scratch' });
  return {
    /** Empties the service's scratch place and makes it ready (a scratch database is created). */
    async prepareScratchService(input: Omit<ServiceCall, 'place'>): Promise<void> {
      const { ctx, adapter } = scratch(input);
      await adapter.prepareScratch(ctx);
    },

    /** Removes what a test restore or drill left in the service's scratch place. Idempotent. */
    async discardScratchService(input: Omit<ServiceCall, 'place'>): Promise<{ detail: string }> {
      const { ctx, adapter } = scratch(input);
      return adapter.discardScratch(ctx);
    },

    /** POSTs the scratch instance's startUrl (if declared), then waits until its health URL answers 2xx. */
    async startScratchApp(input: {
      app: string;
      region: string;
      operationId: string;
      restorePointId: string;
    }): Promise<{ healthyAt: string; probes: number; detail: string }> {
      const inst = instanceOf(appOf(deps.config, input.app), input.region);
      if (!inst) {
        throw ApplicationFailure.nonRetryable(
          `region ${input.region} has no scratch instance`,
          'no-scratch-instance',
        );
      }
      if (inst.startUrl) {
        await postHook(
          inst.startUrl,
          inst.token,
          { operationId: input.operationId, restorePointId: input.restorePointId },
          'start hook',
        );
      }
      const healthUrl = new URL(inst.healthPath, inst.url).toString();
      const deadline = Date.now() + inst.startTimeoutSeconds * 1000;
      let probes = 0;
      let last: string;
      for (;;) {
        probes++;
        try {
          const res = await fetch(healthUrl, { signal: AbortSignal.timeout(5000), redirect: 'manual' });
          await res.arrayBuffer().catch(() => undefined);
          if (res.status >= 200 && res.status < 300) {
            return {
              healthyAt: new Date().toISOString(),
              probes,
              detail: `${healthUrl} answered ${res.status} after ${probes} probe(s)`,
            };
          }
          last = `HTTP ${res.status}`;
        } catch (err) {
          const e = err as Error & { cause?: { code?: string } };
          last = e.cause?.code ?? e.message;
        }
        if (Date.now() > deadline) {
          throw ApplicationFailure.nonRetryable(
            `the scratch instance did not answer healthy at ${healthUrl} within ${inst.startTimeoutSeconds}s (last: ${last})`,
            'scratch-app-unhealthy',
          );
        }
        Context.current().heartbeat({ probes, last });
        await new Promise((r) => setTimeout(r, 200));
      }
    },

    /** POSTs the scratch instance's stopUrl, if declared. */
    async stopScratchApp(input: { app: string; region: string; operationId: string }): Promise<string> {
      const inst = instanceOf(appOf(deps.config, input.app), input.region);
      if (!inst?.stopUrl) return 'no stop hook declared';
      await postHook(inst.stopUrl, inst.token, { operationId: input.operationId }, 'stop hook');
      return 'stopped';
    },

    /** Runs one declared check against the scratch copy; a failing check is a result, not an error. */
    async runCheck(input: { app: string; region: string; check: string }): Promise<CheckResult> {
      const app = appOf(deps.config, input.app);
      const check = app.checks.find((c) => c.name === input.check);
      if (!check) throw ApplicationFailure.nonRetryable(`app has no check "${input.check}"`, 'unknown-check');
      const started = Date.now();
      const done = (ok: boolean, detail: string): CheckResult => ({
        name: check.name,
        type: check.type,
        ok,
        detail,
        durationMs: Date.now() - started,
      });
      if (check.type === 'sql') {
        const service = app.services.find((s) => s.name === check.service);
        const place = service && (scratchPlaceOf(service, input.region) as { url: string } | null);
        if (!place)
          return done(false, `service "${check.service}" has no scratch database in ${input.region}`);
        const target = parsePostgresUrl(place.url);
        const client = new Client({
          connectionString: place.url,
          connectionTimeoutMillis: 5000,
          query_timeout: check.timeoutSeconds * 1000,
          application_name: 'switchyard-check',
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          const out = await client.query({ text: check.query, rowMode: 'array' });
          const first = (out.rows as unknown[][])[0]?.[0];
          if (first === undefined) return done(false, `no rows (expected ${check.expect})`);
          const got = first instanceof Date ? first.toISOString() : String(first);
          return done(
            got === check.expect,
            got === check.expect
              ? `${target.database}: ${got}`
              : `${target.database}: got ${got}, expected ${check.expect}`,
          );
        } catch (err) {
          return done(false, scrubPassword((err as Error).message, target.password));
        } finally {
          await client.end().catch(() => undefined);
        }
      }
      const inst = instanceOf(app, input.region);
      if (!inst) return done(false, `region ${input.region} has no scratch instance`);
      const url = new URL(check.path, inst.url).toString();
      try {
        const res = await fetch(url, {
          method: check.method,
          signal: AbortSignal.timeout(check.timeoutSeconds * 1000),
          redirect: 'manual',
        });
        const body = check.method === 'HEAD' ? '' : await res.text();
        if (res.status !== check.expectStatus) {
          return done(false, `${check.method} ${check.path}: ${res.status}, expected ${check.expectStatus}`);
        }
        if (check.expectBody !== undefined && !body.includes(check.expectBody)) {
          return done(
            false,
            `${check.method} ${check.path}: ${res.status}, body lacks ${JSON.stringify(check.expectBody)}`,
          );
        }
        return done(true, `${check.method} ${check.path}: ${res.status}`);
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        return done(false, `${check.method} ${check.path}: ${e.cause?.code ?? e.message}`);
      }
    },
  };
}

export type ScratchCoordinatorActivities = ReturnType<typeof createScratchCoordinatorActivities>;
export type ScratchRegionActivities = ReturnType<typeof createScratchRegionActivities>;
