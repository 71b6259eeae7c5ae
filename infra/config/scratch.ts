import type { z } from 'zod';
import type { AppConfig, BucketConfig, ServiceConfig } from './config.schema';

/**
 * Scratch places: where test restores and drills restore an app's services, never its live data
 * (docs/drills.md). Each service has one per region, declared under `services[].regions.<r>.scratch`
 * or derived:
 *
 *   postgres → the database `<live database>_scratch` on the same server
 *   s3       → the same bucket, prefix `switchyard-scratch/<live prefix>`
 *   http     → none: the hooks of the service's scratch instance must be declared
 *
 * A scratch place has the shape of the live place (`{url}`, `{bucket, prefix}`, `{url, token}`),
 * so the service adapters restore into it unchanged; only the scratch calls create and discard it.
 */

export type ScratchPlace<S extends ServiceConfig = ServiceConfig> = Omit<S['regions'][string], 'scratch'>;

/** The service's scratch place in a region, or null when it has none (an http service without one declared). */
export function scratchPlaceOf(service: ServiceConfig, region: string): ScratchPlace | null {
  const live = service.regions[region];
  if (!live) return null;
  switch (service.type) {
    case 'postgres': {
      const l = service.regions[region]!;
      if (l.scratch) return { url: l.scratch.url };
      const url = new URL(l.url);
      url.pathname = `/${decodeURIComponent(url.pathname.slice(1))}_scratch`;
      return { url: url.toString() };
    }
    case 's3': {
      const l = service.regions[region]!;
      return {
        bucket: l.scratch?.bucket ?? l.bucket,
        prefix: l.scratch?.prefix ?? `switchyard-scratch/${l.prefix}`,
      };
    }
    case 'http': {
      const l = service.regions[region]!;
      return l.scratch
        ? { url: l.scratch.url, ...(l.scratch.token ? { token: l.scratch.token } : {}) }
        : null;
    }
  }
}

/** The region whose scratch places test restores and drills use: `drills.region`, else the first standby. */
export function scratchRegionOf(app: Pick<AppConfig, 'regions' | 'drills'>): string {
  return app.drills.region ?? app.regions.find((r) => r.role === 'standby')?.name ?? app.regions[0]!.name;
}

const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1).split('?')[0]!);
const serverOf = (url: string) => new URL(url).host;
const sameBucket = (a: BucketConfig, b: BucketConfig) => a.name === b.name && a.endpoint === b.endpoint;

interface AppShape {
  regions: { name: string; scratch?: unknown }[];
  services: ServiceConfig[];
  checks: { name: string; type: string; service?: string }[];
  drills: { region?: string };
}

/**
 * Scratch places never overlap live ones (a scratch cleanup drops or empties them), a region with
 * a scratch instance has a scratch place for every http service, checks name real services.
 */
export function checkScratch(app: AppShape, ctx: z.RefinementCtx): void {
  const regionNames = app.regions.map((r) => r.name);
  app.services.forEach((svc, i) => {
    for (const region of Object.keys(svc.regions)) {
      if (!regionNames.includes(region)) continue;
      const path = ['services', i, 'regions', region, 'scratch'];
      const scratch = scratchPlaceOf(svc, region);
      if (svc.type === 'postgres') {
        const live = svc.regions[region]!.url;
        const s = (scratch as { url: string }).url;
        if (serverOf(live) === serverOf(s) && databaseOf(live) === databaseOf(s)) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `the scratch database is the live database "${databaseOf(live)}": name another one`,
          });
        }
      } else if (svc.type === 's3') {
        const live = svc.regions[region]!;
        const s = scratch as { bucket: BucketConfig; prefix: string };
        if (
          sameBucket(live.bucket, s.bucket) &&
          (s.prefix.startsWith(live.prefix) || live.prefix.startsWith(s.prefix))
        ) {
          ctx.addIssue({
            code: 'custom',
            path,
            message:
              `the scratch prefix "${s.prefix}" overlaps the live prefix "${live.prefix}" in bucket ${live.bucket.name}: ` +
              'a cleanup would delete live objects; give another prefix or bucket',
          });
        }
      } else {
        const live = svc.regions[region]!;
        const hasInstance = app.regions.some((r) => r.name === region && r.scratch !== undefined);
        if (!scratch && hasInstance) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `region "${region}" has a scratch instance (regions[].scratch): declare the scratch hooks of http service "${svc.name}" there`,
          });
        }
        if (scratch && (scratch as { url: string }).url === live.url) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: 'the scratch hooks are the live hooks: name the scratch instance',
          });
        }
      }
    }
  });
  const seen = new Map<string, number>();
  app.checks.forEach((c, i) => {
    const first = seen.get(c.name);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['checks', i, 'name'],
        message: `duplicate check name "${c.name}" (also checks[${first}])`,
      });
    }
    seen.set(c.name, i);
    if (c.type === 'sql') {
      const svc = app.services.find((s) => s.name === c.service);
      if (!svc || svc.type !== 'postgres') {
        const pg = app.services.filter((s) => s.type === 'postgres').map((s) => s.name);
        ctx.addIssue({
          code: 'custom',
          path: ['checks', i, 'service'],
          message: `"${c.service}" is not a postgres service of the app (postgres services: ${pg.join(', ') || 'none'})`,
        });
      }
    }
  });
  if (app.drills.region !== undefined && !regionNames.includes(app.drills.region)) {
    ctx.addIssue({
      code: 'custom',
      path: ['drills', 'region'],
      message: `unknown region "${app.drills.region}" (regions: ${regionNames.join(', ')})`,
    });
  }
}
