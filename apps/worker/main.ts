import { DefaultLogger, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { ConfigError, configPathFromEnv, loadConfigFile } from '../../infra/config/config.loader';
import { startPeriodicSealing } from '../../infra/audit/audit-sealer';
import { openPersistence } from '../../infra/database/persistence';
import { createLogger } from '../../infra/logging/logger';
import { connectClient, connectWorker, dataConverter } from '../../infra/temporal/connection';
import { ensureConfiguredSchedules, SchedulesRepository } from '../../infra/temporal/schedules.repository';
import { createWorkerActivities } from '../../infra/temporal/worker-activities';
import { workflowSource } from '../../infra/temporal/workflow-bundle';
import { coordinatorTaskQueue, regionTaskQueue } from '../../workflows/definitions';

/**
 * The Temporal worker. By default one process serves the coordinator queue (workflows and
 * region-independent activities) and every region's queue; in production run one per region with
 * SWITCHYARD_WORKER_QUEUES=coordinator,<region> (or just <region>).
 */
/** The audit log is also sealed at the end of every operation; this bounds the gap between operations. */
const AUDIT_SEAL_INTERVAL_MS = Number(process.env.SWITCHYARD_AUDIT_SEAL_INTERVAL_MS ?? 60_000);

/** Milliseconds from SWITCHYARD_WORKER_STICKY_TIMEOUT_MS; the SDK's 10 s when unset. */
function stickyQueueTimeout(value: string | undefined): number {
  if (value === undefined || value === '') return 10_000;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1000) {
    throw new ConfigError('SWITCHYARD_WORKER_STICKY_TIMEOUT_MS', [
      {
        path: 'SWITCHYARD_WORKER_STICKY_TIMEOUT_MS',
        message: `expected whole milliseconds ≥ 1000, got "${value}"`,
      },
    ]);
  }
  return ms;
}

async function main(): Promise<void> {
  const log = createLogger('worker');
  const config = loadConfigFile(configPathFromEnv());
  // Before anything starts: a codec without its key is a configuration error.
  const converter = dataConverter(config.temporal);
  const metricsAddress = process.env.SWITCHYARD_WORKER_METRICS_ADDRESS;
  Runtime.install({
    // Temporal's own worker metrics (task latencies, slots, polls) in Prometheus format at /metrics.
    ...(metricsAddress
      ? {
          telemetryOptions: {
            metrics: { metricPrefix: 'switchyard_worker_', prometheus: { bindAddress: metricsAddress } },
          },
        }
      : {}),
    logger: new DefaultLogger((process.env.SWITCHYARD_TEMPORAL_LOG_LEVEL ?? 'WARN') as LogLevel, (entry) =>
      log[entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as 'info')](
        { ...entry.meta },
        entry.message,
      ),
    ),
  });

  const regions = [...new Set(Object.values(config.apps).flatMap((a) => a.regions.map((r) => r.name)))];
  const wanted = (process.env.SWITCHYARD_WORKER_QUEUES ?? ['coordinator', ...regions].join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const q of wanted) {
    if (q !== 'coordinator' && !regions.includes(q)) {
      throw new ConfigError('SWITCHYARD_WORKER_QUEUES', [
        { path: q, message: `no app has a region named "${q}" (regions: ${regions.join(', ')})` },
      ]);
    }
  }

  const persistence = await openPersistence(config);
  const stopSealing = startPeriodicSealing(persistence.sealer, AUDIT_SEAL_INTERVAL_MS, log);
  const connection = await connectWorker(config.temporal);
  const prefix = config.temporal.taskQueuePrefix;
  const base = {
    connection,
    namespace: config.temporal.namespace,
    // Payloads are decrypted and encrypted here, outside the workflow sandbox (docs/temporal-security.md).
    dataConverter: converter,
    // How long a workflow task waits for the worker holding the workflow in its cache before any
    // worker takes it: after a crash, the pause before another worker carries the workflow on.
    stickyQueueScheduleToStartTimeout: stickyQueueTimeout(process.env.SWITCHYARD_WORKER_STICKY_TIMEOUT_MS),
  };

  // The coordinator's own Temporal client: schedules from the file, and schedules' soft deletes.
  const client = wanted.includes('coordinator') ? await connectClient(config.temporal) : undefined;
  const schedules = client ? new SchedulesRepository(async () => client, prefix) : undefined;
  if (schedules) {
    // Schedules turned on in the file exist once a coordinator has started (never overwritten).
    try {
      const ensured = await ensureConfiguredSchedules(schedules, config);
      for (const e of ensured.filter((x) => x.created))
        log.info({ app: e.app, kind: e.kind }, 'schedule created from configuration');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not create the configured schedules');
    }
  }

  // The activities' own Temporal client (app controllers, schedule deletes), opened on first use.
  let activityClient: ReturnType<typeof connectClient> | undefined;
  const activities = createWorkerActivities({
    config,
    persistence,
    logger: log,
    temporal: () => (activityClient ??= connectClient(config.temporal)),
  });

  const workers: Worker[] = [];
  for (const q of wanted) {
    if (q === 'coordinator') {
      workers.push(
        await Worker.create({
          ...base,
          ...workflowSource(),
          taskQueue: coordinatorTaskQueue(prefix),
          activities: activities.coordinator,
        }),
      );
    } else {
      workers.push(
        await Worker.create({
          ...base,
          taskQueue: regionTaskQueue(prefix, q),
          activities: activities.region,
        }),
      );
    }
  }
  log.info(
    {
      queues: wanted.map((q) =>
        q === 'coordinator' ? coordinatorTaskQueue(prefix) : regionTaskQueue(prefix, q),
      ),
      pid: process.pid,
    },
    'worker started',
  );
  await Promise.all(workers.map((w) => w.run()));
  await connection.close();
  await client?.connection.close();
  await stopSealing();
  await persistence.close();
  activities.close();
  if (activityClient) await (await activityClient).connection.close();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
