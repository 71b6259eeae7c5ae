import { ApiHarness } from './api-harness';
import { startAppFixture, startWorker, type WorkerProcess } from './app-fixture';

/**
 * The stack of the failovers that move data (failover-data and failover-unplanned): the demo app
 * with both services, fencing, the write lease and a 600 s RPO, an API, and one worker per region,
 * the east worker apart (`eastWorker`) so that a test can kill it with its region.
 */
export async function startDataFailoverStack(): Promise<{ h: ApiHarness; eastWorker: WorkerProcess }> {
  const fx = await startAppFixture({
    ttl: 1,
    verifyTimeoutSeconds: 20,
    services: true,
    fencing: true,
    rpoSeconds: 600,
    restorePoints: { quiesceTimeoutSeconds: 10, snapshotTimeoutSeconds: 60 },
  });
  const h = new ApiHarness(fx);
  let eastWorker: WorkerProcess | undefined;
  try {
    h.worker = await startWorker(fx, 'worker-coordinator-west', { queues: ['coordinator', 'west'] });
    eastWorker = await startWorker(fx, 'worker-east', { queues: ['east'] });
    await h.startApi();
  } catch (err) {
    // What the test's after() would have stopped, had the harness reached it.
    await eastWorker?.kill('SIGKILL');
    await h.stop();
    throw err;
  }
  return { h, eastWorker };
}
