import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../infra/config/config.loader';
import type { ControlState } from '../../infra/storage/control-state.store';
import { ApiHarness } from './api-harness';
import { type AppFixture, startAppFixture } from './app-fixture';
import { stack } from './stack';

/**
 * Adds a third region to an app fixture's configuration (before the harness starts): `south`, its
 * bucket on the harness's third S3 server (the one other tests use as a fencing witness; this app
 * declares none) under the app's own prefix, its DNS target 127.0.1.3. No instance serves it: tests
 * that remove a region or override the control state need a third region, never a failover to it.
 * An app with services gets a place for each in the new region: a copy of the second region's
 * (without its scratch place), so the configuration stays valid; nothing is ever restored there.
 */
export function addThirdRegion(fx: AppFixture, name = 'south'): void {
  const s3 = stack().witness;
  if (!s3) throw new Error('the test servers have no third S3 server (StackInfo.witness)');
  const doc = parse(readFileSync(fx.configFile, 'utf8')) as {
    apps: Record<
      string,
      {
        regions: Record<string, unknown>[];
        services?: { regions: Record<string, Record<string, unknown>> }[];
      }
    >;
  };
  const regions = doc.apps[fx.app]!.regions;
  const model = regions[1] as { name: string; bucket: Record<string, unknown>; healthUrl: string };
  const port = new URL(model.healthUrl).port;
  regions.push({
    name,
    role: 'standby',
    healthUrl: `http://127.0.1.3:${port}/healthz`,
    bucket: {
      ...model.bucket,
      name: s3.bucket,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    },
    dns: { target: '127.0.1.3' },
  });
  for (const service of doc.apps[fx.app]!.services ?? []) {
    const { scratch: _scratch, ...place } = service.regions[model.name] ?? {};
    service.regions[name] = place;
  }
  const yaml = stringify(doc);
  writeFileSync(fx.configFile, yaml);
  fx.config = parseConfig(yaml, fx.configFile, {});
}

/**
 * An app fixture with a third region (`south`, see addThirdRegion), driven by an ApiHarness that
 * listens (for the CLI): what the region-removal and override tests start from.
 */
export async function startThreeRegionHarness(
  options: Parameters<typeof startAppFixture>[0] = {},
): Promise<ApiHarness> {
  const fx = await startAppFixture(options);
  addThirdRegion(fx);
  const h = new ApiHarness(fx);
  await h.start({ listen: true });
  return h;
}

/**
 * What an undo (or a refusal) must leave as it was: every field of a control state but the change
 * counter, its time and its author; halted regions in a stable order.
 */
export function controlEssence(s: ControlState) {
  return {
    app: s.app,
    activeRegion: s.activeRegion,
    epoch: s.epoch,
    writer: s.writer,
    halted: [...s.halted].sort(),
    currentOperation: s.currentOperation ?? null,
    tombstones: s.tombstones ?? [],
  };
}
