import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatPath, interpolateEnv, type ConfigIssue } from '../config/config.loader';
import {
  monitorFileSchema,
  monitoringSchema,
  type MonitoringSettings,
  type ProbeTarget,
} from './monitor-settings';

/**
 * Where a monitor process takes its settings from (docs/health-monitoring.md#the-monitor-process):
 * the main configuration, `SWITCHYARD_CONFIG` with `SWITCHYARD_MONITOR_APP` (`apps.<app>.monitoring`
 * and the regions' health URLs: the same file the API and worker read, so the settings cannot
 * drift), or a file of its own, `SWITCHYARD_MONITOR_SETTINGS`, which wins when set.
 *
 * From switchyard.yaml it reads only `apps.<app>.regions[].name/healthUrl` and
 * `apps.<app>.monitoring`, and interpolates `${VAR}` only there: a monitor needs none of the
 * secrets the rest of the file refers to. The API validates the whole file.
 */

export interface MonitorConfig {
  settings: MonitoringSettings;
  /** Every region to probe, with its target. */
  targets: Record<string, ProbeTarget>;
  /** The quorum's vantage points. */
  vantagePoints: string[];
  /** Where it came from, for the log. */
  source: string;
}

export class MonitorConfigError extends Error {
  override name = 'MonitorConfigError';
}

const appSliceSchema = z.object({
  regions: z
    .array(z.object({ name: z.string().min(1), healthUrl: z.string().url('expected a URL') }).passthrough())
    .min(1),
  monitoring: monitoringSchema,
});

function readYaml(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MonitorConfigError(
      `${what} ${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code})`}`,
    );
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw new MonitorConfigError(`${what} ${file}: YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

function fail(source: string, issues: ConfigIssue[]): never {
  throw new MonitorConfigError(
    `invalid monitor configuration ${source}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
  );
}

/** `apps.<app>` of switchyard.yaml: its regions' health URLs and monitoring settings. */
export function monitorConfigFromMain(
  file: string,
  app: string,
  env: NodeJS.ProcessEnv = process.env,
): MonitorConfig {
  const doc = readYaml(file, 'SWITCHYARD_CONFIG') as { apps?: Record<string, unknown> } | null;
  const apps = doc && typeof doc === 'object' && doc.apps && typeof doc.apps === 'object' ? doc.apps : {};
  const raw = apps[app];
  if (!raw || typeof raw !== 'object') {
    const names = Object.keys(apps);
    throw new MonitorConfigError(
      `SWITCHYARD_MONITOR_APP: no app "${app}" in ${file} (apps: ${names.length ? names.join(', ') : 'none'})`,
    );
  }
  const slice = raw as { regions?: unknown; monitoring?: unknown };
  const prefix = ['apps', app];
  const issues: ConfigIssue[] = [];
  const interpolated = {
    regions: interpolateEnv(slice.regions, env, issues, [...prefix, 'regions']),
    monitoring: interpolateEnv(slice.monitoring ?? {}, env, issues, [...prefix, 'monitoring']),
  };
  if (issues.length) fail(file, issues);
  const parsed = appSliceSchema.safeParse(interpolated);
  if (!parsed.success)
    fail(
      file,
      parsed.error.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message })),
    );
  const { regions, monitoring } = parsed.data;
  const names = regions.map((r) => r.name);
  for (const region of Object.keys(monitoring.targets ?? {}))
    if (!names.includes(region))
      fail(file, [
        {
          path: formatPath([...prefix, 'monitoring', 'targets', region]),
          message: `unknown region "${region}" (regions: ${names.join(', ')})`,
        },
      ]);
  return {
    settings: monitoring,
    targets: Object.fromEntries(
      regions.map((r) => [r.name, monitoring.targets?.[r.name] ?? { http: r.healthUrl }]),
    ),
    vantagePoints: monitoring.vantagePoints ?? names,
    source: `${file} (apps.${app})`,
  };
}

/** The monitor's own file: `monitoring:` with a target for every region to probe. */
export function monitorConfigFromFile(file: string): MonitorConfig {
  const parsed = monitorFileSchema.safeParse(readYaml(file, 'SWITCHYARD_MONITOR_SETTINGS'));
  if (!parsed.success)
    fail(
      file,
      parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
  const m = parsed.data.monitoring;
  const targets = m.targets ?? {};
  return { settings: m, targets, vantagePoints: m.vantagePoints ?? Object.keys(targets), source: file };
}

/**
 * The monitor's configuration from its environment: SWITCHYARD_MONITOR_SETTINGS when set (the
 * more specific variable: a file meant for this monitor alone), else SWITCHYARD_CONFIG with
 * SWITCHYARD_MONITOR_APP; a clear error naming what is missing otherwise.
 */
export function monitorConfigFromEnv(env: NodeJS.ProcessEnv = process.env): MonitorConfig {
  const main = env.SWITCHYARD_CONFIG;
  const app = env.SWITCHYARD_MONITOR_APP;
  const own = env.SWITCHYARD_MONITOR_SETTINGS;
  if (own) return monitorConfigFromFile(own);
  if (main && app) return monitorConfigFromMain(main, app, env);
  if (main)
    throw new MonitorConfigError(
      `SWITCHYARD_CONFIG is set but SWITCHYARD_MONITOR_APP is not: name the app whose regions this monitor probes`,
    );
  throw new MonitorConfigError(
    'no monitoring settings: set SWITCHYARD_CONFIG (switchyard.yaml) and SWITCHYARD_MONITOR_APP, ' +
      'or SWITCHYARD_MONITOR_SETTINGS (a file of its own)',
  );
}
