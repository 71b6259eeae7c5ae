import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createControlActivities } from '../../infra/activities/control.activities';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import { layout } from '../../infra/backup/manifest';
import { type ControlState, ControlStateStore } from '../../infra/storage/control-state.store';
import { putComplianceRetention } from '../../infra/storage/object-lock';
import type { AppView } from '../../apps/api/apps/apps.service';
import type { OperationStatus } from '../../workflows/operation';
import type { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/stack';
import { controlEssence, startThreeRegionHarness } from '../support/third-region';

/**
 * Soft removal of a region end to end (docs/soft-deletes.md#removing-a-region): a three-region app
 * (east active, west and south standbys); the removal hides south at once and makes it no target
 * (a failover to it is refused naming the operation); undo gives back exactly the control state of
 * before (controller and every bucket); a removal left to its short window is final and the app's
 * restore-point copies in south's bucket are gone, every version. Guard rails refuse with no change.
 */
const WINDOW_SECONDS = 300;
const SHORT_WINDOW_SECONDS = 5;

describe('soft removal of a region', () => {
  let h: ApiHarness;
  let store: ControlStateStore;
  const app = () => h.fx.app;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);

  before(async () => {
    h = await startThreeRegionHarness({
      softDelete: { windowSeconds: 3600, kinds: { 'region-remove': { windowSeconds: WINDOW_SECONDS } } },
    });
    store = new ControlStateStore(h.fx.config);
  });
  after(() => h?.stop());

  const remove = (region: string, reason = 'region decommissioned') =>
    h
      .http()
      .delete(`/v1/apps/${app()}/regions/${region}?reason=${encodeURIComponent(reason)}`)
      .set(operator());

  async function view(include = false): Promise<AppView> {
    const res = await h
      .http()
      .get(`/v1/apps/${app()}${include ? '?include=deleted' : ''}`)
      .set(viewer());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as AppView;
  }

  /** The controller's state (the API reads it from the controller once one runs). */
  async function controlled(): Promise<ControlState> {
    const v = await view(true);
    assert.equal(v.control.source, 'controller', v.control.fallbackReason);
    return v.control.state;
  }

  /** Every region's bucket copy of the control state. */
  async function mirrors(): Promise<Record<string, ReturnType<typeof controlEssence>>> {
    const out: Record<string, ReturnType<typeof controlEssence>> = {};
    for (const r of ['east', 'west', 'south']) {
      const s = await store.readRegion(app(), r);
      assert.ok(s, `${r}'s bucket holds the control state`);
      out[r] = controlEssence(s);
    }
    return out;
  }

  async function start(region: string): Promise<{ operationId: string; undoableUntil: string }> {
    const res = await remove(region);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const body = res.body as { operationId: string; undoableUntil: string; awaitingApproval: boolean };
    assert.equal(body.awaitingApproval, false, 'policies.approvals.region-remove requires none by default');
    return body;
  }

  it('refuses an unknown region, the active region, and a removal while an operation holds the app, changing nothing', async () => {
    // A change through the controller, so that it runs and the API reads it.
    const controlActivities = createControlActivities({
      config: h.fx.config,
      controlState: store,
      temporal: () => h.fx.temporal(),
    });
    const holder = `${app()}-00000000-0000-4000-8000-000000000001`;
    await controlActivities.applyControlChange({
      app: app(),
      requestId: `${holder}:claim`,
      change: { type: 'claim', operationId: holder },
    });
    const held = await remove('south');
    assert.equal(held.status, 409, JSON.stringify(held.body));
    assert.equal(held.body.error, 'operation-in-progress');
    assert.equal(held.body.details.operationId, holder);
    await controlActivities.applyControlChange({
      app: app(),
      requestId: `${holder}:release`,
      change: { type: 'release', operationId: holder },
    });
    const before = await controlled();

    const unknown = await remove('north');
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.equal(unknown.body.error, 'region-not-found');
    assert.deepEqual(unknown.body.details.regions, ['east', 'west', 'south']);
    const active = await remove('east');
    assert.equal(active.status, 409, JSON.stringify(active.body));
    assert.equal(active.body.error, 'region-active');
    assert.match(active.body.message, /fail the app over to another region first/);
    const noReason = await h.http().delete(`/v1/apps/${app()}/regions/south`).set(operator());
    assert.equal(noReason.status, 400, JSON.stringify(noReason.body));
    const viewerTry = await h.http().delete(`/v1/apps/${app()}/regions/south?reason=because`).set(viewer());
    assert.equal(viewerTry.status, 403);

    assert.deepEqual(await controlled(), before, 'nothing changed');
    const ops = await h
      .http()
      .get(`/v1/operations?app=${app()}&kind=region-remove`)
      .set(viewer())
      .expect(200);
    assert.deepEqual(ops.body.items, [], 'no operation was started');
  });

  it('hides the removed region and never uses it; undo gives back exactly the state of before', async () => {
    const beforeState = controlEssence(await controlled());
    const beforeMirrors = await mirrors();
    const { operationId, undoableUntil } = await start('south');
    const op = await h.phase(operationId, (p) => p === 'Undoable', 'undoable');
    assert.equal(op.facts.undoableUntil, undoableUntil);
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['approval', 'Skipped'],
        ['tombstone', 'Completed'],
        ['window', 'Running'],
        ['undo', 'Pending'],
        ['purge', 'Pending'],
      ],
    );

    // Hidden: not listed, unless asked for, then marked.
    const hidden = await view();
    assert.deepEqual(
      hidden.regions.map((r) => r.name),
      ['east', 'west'],
    );
    const shown = (await view(true)).regions.find((r) => r.name === 'south');
    assert.equal(shown?.deleted?.operationId, operationId);
    assert.equal(shown?.deleted?.undoableUntil, undoableUntil);
    assert.equal(shown?.deleted?.reason, 'region decommissioned');
    const regionsOf = async (include: boolean) =>
      (
        (
          await h
            .http()
            .get(`/v1/regions${include ? '?include=deleted' : ''}`)
            .set(viewer())
            .expect(200)
        ).body as {
          items: { app: string; regions: { region: string; deleted?: { operationId: string } }[] }[];
        }
      ).items.find((a) => a.app === app())!.regions;
    await waitFor(async () => !(await regionsOf(false)).some((r) => r.region === 'south'), {
      what: 'GET /v1/regions to hide south',
    });
    assert.equal(
      (await regionsOf(true)).find((r) => r.region === 'south')?.deleted?.operationId,
      operationId,
    );

    // Unusable: never a failover target; the last standby may not go; it cannot be removed twice.
    const failover = await h.postFailover('south');
    assert.equal(failover.status, 409, JSON.stringify(failover.body));
    assert.equal(failover.body.error, 'region-removed');
    assert.equal(failover.body.details.operationId, operationId);
    assert.match(failover.body.message, new RegExp(`by operation ${operationId}`));
    const restore = await h
      .http()
      .post(`/v1/apps/${app()}/restores`)
      .set(operator())
      .send({
        restorePointId: `${app()}-20261122T090000Z-0000abcd`,
        region: 'south',
        reason: 'restore test',
      });
    assert.equal(restore.status, 409, JSON.stringify(restore.body));
    assert.equal(restore.body.error, 'region-removed');
    assert.equal(restore.body.details.operationId, operationId);
    const lastStandby = await remove('west');
    assert.equal(lastStandby.status, 409, JSON.stringify(lastStandby.body));
    assert.equal(lastStandby.body.error, 'last-standby');
    const twice = await remove('south');
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error, 'region-already-removed');
    assert.equal(twice.body.details.operationId, operationId);

    // Visible as undoable.
    const undoable = await h
      .http()
      .get(`/v1/operations?app=${app()}&kind=region-remove&phase=Undoable`)
      .set(viewer())
      .expect(200);
    const listed = (undoable.body.items as { operationId: string; undoableUntil: string }[]).find(
      (o) => o.operationId === operationId,
    );
    assert.equal(listed?.undoableUntil, undoableUntil);
    const pending = await h.cli(h.fx.tokens.viewer, 'pending-deletes', app());
    assert.equal(pending.code, 0, pending.stderr);
    assert.match(pending.stdout, /region south/);

    // Undo: back exactly as before, in the controller and in every bucket.
    const undo = await h
      .http()
      .post(`/v1/operations/${operationId}/undo`)
      .set(operator())
      .send({ reason: 'wrong region' });
    assert.equal(undo.status, 200, JSON.stringify(undo.body));
    assert.equal(undo.body.region, 'south');
    const undone = await h.phase(operationId, (p) => p === 'Undone', 'undone');
    assert.equal(undone.steps.find((s) => s.name === 'purge')?.status, 'Skipped');
    assert.deepEqual(controlEssence(await controlled()), beforeState);
    await waitFor(async () => JSON.stringify(await mirrors()) === JSON.stringify(beforeMirrors), {
      what: 'every bucket to hold the state of before',
    });
    assert.deepEqual(
      (await view()).regions.map((r) => r.name),
      ['east', 'west', 'south'],
    );
    const events = await h.audit(`target=operation:${operationId}`);
    const actions = events.map((e) => e.action);
    assert.ok(actions.includes('region.tombstoned'), actions.join(', '));
    assert.equal(events.find((e) => e.action === 'region.undeleted')?.actor, 'alice');
    const requests = await h.audit(`action=region.remove`);
    assert.ok(requests.some((e) => e.target === `region:${app()}/south` && e.outcome === 'accepted'));
  });

  it("with a short window the removal becomes final and the app's copies in the region's bucket are purged", async () => {
    const artifacts = new ArtifactStore(h.fx.config);
    const south = artifacts.place(app(), 'south');
    const west = artifacts.place(app(), 'west');
    const id = `${app()}-20261122T090000Z-0000abcd`;
    // Restore point copies as replication leaves them (two versions of one artifact).
    for (const p of [south, west]) {
      await artifacts.io.putJson(p.bucket, p.folder + layout.manifest(id), { id, copy: 1 });
      await artifacts.io.putJson(p.bucket, p.folder + layout.artifact(id, 'orders', 'dump'), { v: 1 });
      await artifacts.io.putJson(p.bucket, p.folder + layout.artifact(id, 'orders', 'dump'), { v: 2 });
    }
    const versions = async (p: typeof south) => {
      let n = 0;
      for await (const v of artifacts.io.versions(p.bucket, p.folder + 'restore-points/')) n += v ? 1 : 0;
      for await (const v of artifacts.io.versions(p.bucket, p.folder + 'manifests/')) n += v ? 1 : 0;
      return n;
    };
    assert.ok((await versions(south)) >= 2);
    const westBefore = await versions(west);
    // One copy in south is under a compliance lock for a little longer than the window: no one can
    // delete it before that date, so the purge must wait for it rather than fail.
    const lockedUntil = new Date(
      Math.ceil((Date.now() + (SHORT_WINDOW_SECONDS + 8) * 1000) / 1000) * 1000,
    ).toISOString();
    const client = artifacts.io.buckets.client(south.bucket);
    for await (const v of artifacts.io.versions(south.bucket, south.folder + 'restore-points/')) {
      await putComplianceRetention(client, south.bucket.name, v.key, v.versionId, lockedUntil);
      break;
    }

    h.fx.config.apps[app()]!.softDelete.kinds['region-remove'] = { windowSeconds: SHORT_WINDOW_SECONDS };
    const cli = await h.cli(
      h.fx.tokens.operator,
      '--json',
      'regions',
      'remove',
      app(),
      'south',
      '--reason',
      'gone',
    );
    assert.equal(cli.code, 0, cli.stderr);
    const { operationId, undoableUntil } = JSON.parse(cli.stdout) as {
      operationId: string;
      undoableUntil: string;
    };
    const done: OperationStatus = await h.phase(
      operationId,
      (p) => p === 'Completed' || p === 'Failed',
      'purged',
      SHORT_WINDOW_SECONDS * 1000 + 60_000,
    );
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.equal(done.steps.find((s) => s.name === 'undo')?.status, 'Skipped');
    assert.equal(done.facts.lockedUntil, lockedUntil, 'the purge waited for the lock');
    assert.ok(Date.parse(done.steps.find((s) => s.name === 'purge')!.endedAt!) >= Date.parse(lockedUntil));

    const v = await view();
    assert.ok(!v.regions.some((r) => r.name === 'south'));
    const final = v.removedRegions.find((r) => r.region === 'south');
    assert.equal(final?.operationId, operationId);
    assert.ok(final?.purgedAt && Date.parse(final.purgedAt) >= Date.parse(undoableUntil));
    assert.match(final.note, /drop it from switchyard.yaml/);

    assert.equal(await versions(south), 0, "every version of the app's copies in south's bucket is gone");
    assert.equal(await versions(west), westBefore, "west's copies are untouched");
    assert.ok(await store.readRegion(app(), 'south'), "south's bucket still holds the control state");

    const late = await h
      .http()
      .post(`/v1/operations/${operationId}/undo`)
      .set(operator())
      .send({ reason: 'too late' });
    assert.equal(late.status, 409, JSON.stringify(late.body));
    assert.equal(late.body.error, 'undo-window-closed');
    assert.equal(late.body.details.undoableUntil, undoableUntil);
    assert.match(late.body.message, new RegExp(`closed at ${undoableUntil}`));
    const again = await remove('south');
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'region-already-removed');
    assert.match(again.body.message, /removed for good/);
    const purged = await h.audit(`target=operation:${operationId}&action=region.purged`);
    assert.equal(purged.length, 1);
    artifacts.close();
  });
});
