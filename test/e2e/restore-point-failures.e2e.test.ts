import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import { parseConfig } from '../../infra/config/config.loader';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { type AppFixture, startAppFixture, startWorker } from '../support/app-fixture';

/**
 * Restore points under failure: the worker killed during a snapshot, and one region's S3 server
 * unreachable during the copy. Either way no manifest is written until everything is in place,
 * the operation retries or fails cleanly, and no half restore point is ever listed.
 */

/** An HTTP backup hook whose snapshot streams slowly, announcing when it has started. */
class SlowHook {
  server: Server;
  calls: string[] = [];
  private snapshotWaiters: (() => void)[] = [];

  constructor(
    private readonly chunks = 16,
    private readonly chunkDelayMs = 400,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/slow`;
  }

  /** Resolves when the next snapshot has begun streaming. */
  snapshotStarted(): Promise<void> {
    return new Promise((resolve) => this.snapshotWaiters.push(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '').split('?')[0]!.replace(/^\/hooks\/slow/, '');
    this.calls.push(`${req.method} ${path}`);
    if (path === '/snapshot') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      for (const w of this.snapshotWaiters.splice(0)) w();
      for (let i = 0; i < this.chunks && !res.destroyed; i++) {
        res.write(Buffer.alloc(64 * 1024, i));
        await new Promise((r) => setTimeout(r, this.chunkDelayMs));
      }
      res.end();
      return;
    }
    for await (const _ of req) {
      // drain (restore bodies)
    }
    const body =
      path === '/marker'
        ? { calls: this.calls.length }
        : path === '/verify'
          ? { ok: true, detail: 'slow hook' }
          : {};
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  }
}

/** Adds a service to the fixture's configuration (file and parsed copy) before anything reads it. */
function addService(
  fx: AppFixture,
  service: Record<string, unknown>,
  restorePoints: Record<string, unknown>,
) {
  const doc = parse(readFileSync(fx.configFile, 'utf8')) as {
    apps: Record<string, { services: unknown[]; restorePoints?: Record<string, unknown> }>;
  };
  const app = doc.apps[fx.app]!;
  app.services.push(service);
  app.restorePoints = { ...(app.restorePoints ?? {}), ...restorePoints };
  const text = stringify(doc);
  writeFileSync(fx.configFile, text);
  fx.config = parseConfig(text, fx.configFile, {});
}

describe('restore points under failure', () => {
  let h: ApiHarness;
  let store: ArtifactStore;
  const hook = new SlowHook();

  before(async () => {
    const url = await hook.listen();
    // Its own S3 servers: west's is stopped (SIGSTOP) while other test files run.
    const fx = await startAppFixture({ services: true, privateS3: true });
    addService(
      fx,
      { name: 'slow', type: 'http', regions: { east: { url }, west: { url } } },
      { replicateTimeoutSeconds: 15 },
    );
    h = new ApiHarness(fx);
    await h.start();
    store = new ArtifactStore(fx.config);
  });

  after(async () => {
    store?.close();
    await h?.stop();
    hook.server.close();
  });

  async function take(reason: string) {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body as { operationId: string; restorePointId: string };
  }

  async function manifests(id: string) {
    return Promise.all(['east', 'west'].map((r) => store.readManifest(h.fx.app, r, id)));
  }

  async function listed(id: string): Promise<boolean> {
    const res = await h
      .http()
      .get(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    return (res.body as { items: { id: string }[] }).items.some((i) => i.id === id);
  }

  async function attemptObjects(id: string): Promise<number> {
    let n = 0;
    for (const r of ['east', 'west']) {
      const p = store.place(h.fx.app, r);
      for await (const _ of store.io.list(p.bucket, `${p.folder}restore-points/${id}/`)) n++;
    }
    return n;
  }

  test('worker killed during the snapshot: nothing is listed meanwhile, the cut is retried and completes', async () => {
    const started = hook.snapshotStarted();
    const { operationId, restorePointId } = await take('kill the worker mid-snapshot');
    await started;
    await h.worker.kill('SIGKILL');

    assert.deepEqual(
      await manifests(restorePointId),
      [null, null],
      'no manifest while the snapshot is unfinished',
    );
    assert.equal(await listed(restorePointId), false);

    const retried = hook.snapshotStarted();
    h.worker = await startWorker(h.fx);
    await retried;
    const op: OperationStatus = await h.phase(
      operationId,
      (p) => p !== 'Running' && p !== 'Compensating',
      'to end',
      120_000,
    );
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.equal(op.facts.cutRetries, 1);
    // Each attempt quiesced and released the services.
    assert.equal(hook.calls.filter((c) => c === 'POST /quiesce').length, 2);
    assert.ok(hook.calls.filter((c) => c === 'POST /release').length >= 2);
    const [east, west] = await manifests(restorePointId);
    assert.ok(east && west);
    assert.deepEqual(east, west);
    assert.equal(await listed(restorePointId), true);
  });

  test('a region unreachable during the copy: no manifest anywhere, the attempt fails and is cleaned up', async () => {
    const west = h.fx.s3Pid('west');
    const started = hook.snapshotStarted();
    const { operationId, restorePointId } = await take('west unreachable during the copy');
    await started;
    // The snapshot goes to east; west stops answering before the copy begins.
    process.kill(west, 'SIGSTOP');
    try {
      await h.phase(
        operationId,
        (p) => p === 'Compensating' || p === 'Failed',
        'to give up on west',
        120_000,
      );
      const eastManifest = await store.readManifest(h.fx.app, 'east', restorePointId);
      assert.equal(eastManifest, null, 'no manifest in east while west has no copy');
      // With west unreachable the catalog is served from east: the first test's restore point is
      // there, its west copy unknown, and the answer says west could not be read.
      const res = await h
        .http()
        .get(`/v1/apps/${h.fx.app}/restore-points`)
        .set(h.as(h.fx.tokens.viewer))
        .expect(200);
      const body = res.body as {
        items: { id: string; complete: boolean; copies: { region: string; present?: boolean }[] }[];
        regions: { region: string; ok: boolean }[];
      };
      assert.deepEqual(
        body.regions.map((r) => [r.region, r.ok]),
        [
          ['east', true],
          ['west', false],
        ],
      );
      assert.ok(body.items.length >= 1);
      assert.ok(
        body.items.every(
          (i) => !i.complete && i.copies.find((c) => c.region === 'west')!.present === undefined,
        ),
      );
      assert.ok(
        !body.items.some((i) => i.id === restorePointId),
        'the unfinished restore point is not listed',
      );
    } finally {
      process.kill(west, 'SIGCONT');
    }
    const op = await h.phase(operationId, (p) => p !== 'Running' && p !== 'Compensating', 'to end', 180_000);
    assert.equal(op.phase, 'Failed', JSON.stringify(op));
    assert.equal(op.error?.step, 'replicate');
    assert.deepEqual(await manifests(restorePointId), [null, null]);
    assert.equal(await listed(restorePointId), false);

    // Whatever the cleanup could not reach, the next attempt sweeps: afterwards nothing is left.
    const next = await take('after west came back');
    const done = await h.phase(next.operationId, (p) => p !== 'Running', 'to end', 120_000);
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.equal(await attemptObjects(restorePointId), 0, 'the failed attempt left nothing in either bucket');
  });
});
