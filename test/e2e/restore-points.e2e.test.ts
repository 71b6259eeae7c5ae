import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import { ensureConfiguredSchedules, SchedulesRepository } from '../../infra/temporal/schedules.repository';
import type { RestorePointView } from '../../infra/backup/catalog';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';

/**
 * Restore points end to end: API → Temporal → worker → the demo app's two services (orders in
 * PostgreSQL, ledger behind HTTP hooks) → both regions' buckets → manifests → catalog → restore
 * into the other region, and the data read back from the restored services.
 */
describe('restore points end to end', () => {
  let h: ApiHarness;
  let store: ArtifactStore;

  before(async () => {
    h = new ApiHarness(await startAppFixture({ services: true }));
    await h.start({ listen: true });
    store = new ArtifactStore(h.fx.config);
  });

  after(async () => {
    store?.close();
    await h?.stop();
  });

  const url = (region: string) => h.fx.regions.find((r) => r.name === region)!.url;

  async function write(region: string, count: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const res = await fetch(`${url(region)}/numbers`, { method: 'POST' });
      assert.equal(res.status, 201, await res.clone().text());
      out.push(((await res.json()) as { n: number }).n);
    }
    return out;
  }

  async function numbers(region: string): Promise<{ orders: number[]; ledger: number[] }> {
    const res = await fetch(`${url(region)}/numbers`);
    assert.equal(res.status, 200);
    return (await res.json()) as { orders: number[]; ledger: number[] };
  }

  async function take(
    reason = 'end-to-end restore point',
  ): Promise<{ operationId: string; restorePointId: string }> {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body as { operationId: string; restorePointId: string };
  }

  function restore(restorePointId: string, region: string, token = h.fx.tokens.operator) {
    return h
      .http()
      .post(`/v1/apps/${h.fx.app}/restores`)
      .set(h.as(token))
      .send({ restorePointId, region, reason: 'end-to-end restore' });
  }

  const ended = (id: string, timeoutMs = 90_000) =>
    h.phase(id, (p) => !['Running', 'Compensating', 'AwaitingApproval'].includes(p), 'to end', timeoutMs);

  test('take a restore point, list it from both regions, restore it into the other region', async () => {
    const written = await write('east', 25);
    const { operationId, restorePointId } = await take();
    const op: OperationStatus = await ended(operationId);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.equal(op.kind, 'restore-point');
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['quiesce', 'Completed'],
        ['snapshot', 'Completed'],
        ['release', 'Completed'],
        ['replicate', 'Completed'],
        ['commit', 'Completed'],
        ['lock', 'Skipped'],
        ['retention', 'Completed'],
      ],
    );
    assert.equal(op.steps[6]!.detail, `apps.${h.fx.app}.restorePoints.objectLock is not set`);

    // The manifest is in both buckets, and identical.
    const [east, west] = await Promise.all(
      ['east', 'west'].map((r) => store.readManifest(h.fx.app, r, restorePointId)),
    );
    assert.ok(east && west, 'a manifest in each region');
    assert.deepEqual(east, west);
    assert.deepEqual(
      east.services.map((s) => s.name),
      ['orders', 'ledger'],
    );
    // Every artifact is in both regions with its recorded size and SHA-256.
    for (const s of east.services) {
      for (const r of ['east', 'west']) {
        const got = await store.hash(h.fx.app, r, s.artifact.key);
        assert.deepEqual(
          { size: got.size, sha256: got.sha256 },
          { size: s.artifact.size, sha256: s.artifact.sha256 },
        );
      }
    }

    const list = await h
      .http()
      .get(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    const items = (list.body as { items: RestorePointView[] }).items;
    const item = items.find((i) => i.id === restorePointId);
    assert.ok(item, 'listed');
    assert.equal(item.complete, true);
    assert.deepEqual(
      item.copies.map((c) => [c.region, c.present]),
      [
        ['east', true],
        ['west', true],
      ],
    );
    assert.equal(item.sourceRegion, 'east');
    assert.ok(item.services.every((s) => /^[0-9a-f]{64}$/.test(s.sha256) && s.size > 0));

    const one = await h
      .http()
      .get(`/v1/restore-points/${restorePointId}`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    assert.equal((one.body as RestorePointView).id, restorePointId);

    // Writes after the cut must not come back with the restore.
    const later = await write('east', 5);

    const res = await restore(restorePointId, 'west');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const restored = await ended((res.body as { operationId: string }).operationId);
    assert.equal(restored.phase, 'Completed', JSON.stringify(restored.error));
    assert.equal(restored.steps.find((s) => s.name === 'approval')?.status, 'Skipped');
    assert.deepEqual(restored.facts.services, { orders: 'Verified', ledger: 'Verified' });

    const back = await numbers('west');
    assert.deepEqual(back.orders, written);
    assert.deepEqual(back.ledger, written);
    assert.ok(later.every((n) => !back.orders.includes(n)));
  });

  test('the RPO truth is exported as metrics', async () => {
    const text = (await h.http().get('/metrics').expect(200)).text;
    const value = (name: string, kind?: string) => {
      const labels = kind ? `{app="${h.fx.app}",kind="${kind}"}` : `{app="${h.fx.app}"}`;
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    };
    const age = value('switchyard_restore_point_age_seconds', 'committed');
    assert.ok(age !== undefined && age >= 0 && age < 600, `age ${age}`);
    assert.equal(value('switchyard_rpo_met', 'committed'), 1);
    // Nothing has verified a restore point of this app: no verified age, and the verified RPO is not met.
    assert.equal(value('switchyard_restore_point_age_seconds', 'verified'), undefined);
    assert.equal(value('switchyard_rpo_met', 'verified'), 0);
    assert.equal(value('switchyard_rpo_seconds'), h.fx.config.apps[h.fx.app]!.policies.rpoSeconds);
  });

  test('restoring into the active region waits for approval (restore policy)', async () => {
    const { operationId, restorePointId } = await take('restore point for the approval test');
    assert.equal((await ended(operationId)).phase, 'Completed');
    const res = await restore(restorePointId, 'east');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;
    const waiting = await h.phase(id, (p) => p === 'AwaitingApproval', 'to await approval');
    assert.equal(waiting.approval?.facts?.restorePointId, restorePointId);
    assert.equal((await h.decide(id, h.fx.tokens.approver, 'reject', 'not today')).status, 200);
    const op = await ended(id);
    assert.equal(op.phase, 'Rejected');
    assert.equal(op.steps.find((s) => s.name === 'restore')?.status, 'Skipped');
  });

  test('bad requests are refused with a reason and start nothing', async () => {
    const operations = async () =>
      (
        (await h.http().get(`/v1/operations?app=${h.fx.app}`).set(h.as(h.fx.tokens.viewer)).expect(200))
          .body as { items: { operationId: string }[] }
      ).items.map((o) => o.operationId);
    const before = await operations();
    const viewer = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.viewer))
      .send({ reason: 'viewer tries' });
    assert.equal(viewer.status, 403);
    const noReason = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.operator))
      .send({});
    assert.equal(noReason.status, 400);
    assert.match(JSON.stringify(noReason.body), /reason/);

    const unknownRegion = await restore(`${h.fx.app}-20260101T000000Z-00000000`, 'mars');
    assert.equal(unknownRegion.status, 422);
    assert.equal((unknownRegion.body as { error: string }).error, 'unknown-region');
    const notAnId = await restore('yesterday', 'west');
    assert.equal(notAnId.status, 422);
    assert.equal((notAnId.body as { error: string }).error, 'invalid-restore-point-id');
    const otherApp = await restore('other-app-20260101T000000Z-00000000', 'west');
    assert.equal(otherApp.status, 422);
    assert.equal((otherApp.body as { error: string }).error, 'restore-point-of-another-app');
    const missing = await restore(`${h.fx.app}-20260101T000000Z-00000000`, 'west');
    assert.equal(missing.status, 404);
    assert.equal((missing.body as { error: string }).error, 'restore-point-not-found');
    const get404 = await h.http().get(`/v1/restore-points/nope`).set(h.as(h.fx.tokens.viewer));
    assert.equal(get404.status, 404);

    assert.deepEqual(await operations(), before, 'no refused request started an operation');
  });

  test('schedules turned on in the configuration are created once and then left alone', async () => {
    const app = h.fx.config.apps[h.fx.app]!;
    const config = {
      apps: {
        [h.fx.app]: {
          ...app,
          restorePoints: {
            ...app.restorePoints,
            schedule: { ...app.restorePoints.schedule, enabled: true, everySeconds: 7200 },
            verification: { ...app.restorePoints.verification, enabled: true },
          },
        },
      },
    };
    const repo = new SchedulesRepository(() => h.fx.temporal(), h.fx.config.temporal.taskQueuePrefix);
    assert.deepEqual(await ensureConfiguredSchedules(repo, config), [
      { app: h.fx.app, kind: 'restore-point', created: true },
      { app: h.fx.app, kind: 'verification', created: true },
    ]);
    const url = `/v1/apps/${h.fx.app}/schedules/restore-point`;
    const created = await h.http().get(url).set(h.as(h.fx.tokens.viewer)).expect(200);
    assert.equal((created.body as { everySeconds: number }).everySeconds, 7200);
    const verification = `/v1/apps/${h.fx.app}/schedules/verification`;
    const daily = await h.http().get(verification).set(h.as(h.fx.tokens.viewer)).expect(200);
    assert.equal((daily.body as { kind: string }).kind, 'verification');
    assert.equal((daily.body as { everySeconds: number }).everySeconds, 86_400);
    // An operator's change through the API survives the next worker start.
    await h
      .http()
      .post(`${url}/pause`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'maintenance' })
      .expect(200);
    assert.deepEqual(await ensureConfiguredSchedules(repo, config), [
      { app: h.fx.app, kind: 'restore-point', created: false },
      { app: h.fx.app, kind: 'verification', created: false },
    ]);
    const after = await h.http().get(url).set(h.as(h.fx.tokens.viewer)).expect(200);
    assert.equal((after.body as { paused: boolean }).paused, true);
    for (const u of [url, verification]) {
      await h.http().delete(`${u}?reason=test%20cleanup`).set(h.as(h.fx.tokens.operator)).expect(202);
    }
  });

  test('the CLI lists, shows and takes restore points', async () => {
    const taken = await h.cli(
      h.fx.tokens.operator,
      'restore-points',
      'take',
      h.fx.app,
      '--reason',
      'cli test',
      '--watch',
    );
    assert.equal(taken.code, 0, taken.stderr + taken.stdout);
    const id = /restore point (\S+)\)/.exec(taken.stdout)?.[1];
    assert.ok(id, taken.stdout);
    const ls = await h.cli(h.fx.tokens.viewer, 'restore-points', 'ls', h.fx.app);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, new RegExp(id));
    const show = await h.cli(h.fx.tokens.viewer, '--json', 'restore-points', 'show', id);
    assert.equal(show.code, 0, show.stderr);
    assert.equal((JSON.parse(show.stdout) as RestorePointView).complete, true);
  });
});
