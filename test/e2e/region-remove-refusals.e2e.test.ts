import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AppView } from '../../apps/api/apps/apps.service';
import type { ControlState } from '../../infra/storage/control-state.store';
import type { ApiHarness } from '../support/api-harness';
import { controlEssence, startThreeRegionHarness } from '../support/third-region';

/**
 * A removed region is never a failback or drill target (docs/soft-deletes.md#removing-a-region),
 * end to end: a three-region app with services whose drills go to west (its scratch place); west
 * is removed, then halted by hand (so that a failback has a halted region to return to). Both
 * requests are refused with 409 region-removed naming the removal, and nothing changes: no
 * operation starts and the control state stays as it was. (Failover and restore are covered in
 * region-remove.e2e.test.ts.)
 */
const WINDOW_SECONDS = 600;

describe('a removed region is no failback or drill target', () => {
  let h: ApiHarness;
  const app = () => h.fx.app;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);

  before(async () => {
    h = await startThreeRegionHarness({
      services: true,
      scratch: true,
      softDelete: { windowSeconds: WINDOW_SECONDS },
    });
  });
  after(() => h?.stop());

  async function controlled(): Promise<ControlState> {
    const res = await h.http().get(`/v1/apps/${app()}?include=deleted`).set(viewer());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const v = res.body as AppView;
    assert.equal(v.control.source, 'controller', v.control.fallbackReason);
    return v.control.state;
  }

  async function undoable(res: { status: number; body: unknown }): Promise<string> {
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;
    await h.phase(id, (p) => p === 'Undoable', 'undoable', 30_000);
    return id;
  }

  async function operationsOf(kind: string): Promise<unknown[]> {
    const res = await h.http().get(`/v1/operations?app=${app()}&kind=${kind}`).set(viewer()).expect(200);
    return (res.body as { items: unknown[] }).items;
  }

  function refusedNaming(
    res: { status: number; body: Record<string, unknown> },
    removal: string,
    what: string,
  ) {
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.error, 'region-removed');
    const details = res.body.details as { region: string; operationId: string; undoableUntil: string };
    assert.equal(details.region, 'west');
    assert.equal(details.operationId, removal);
    assert.match(
      res.body.message as string,
      new RegExp(
        `region "west" is removed from app "${app()}" by operation ${removal} .*: it cannot be ${what}`,
      ),
    );
  }

  it('refuses a drill into the removed region and a failback to it, naming the removal; nothing changes', async () => {
    const removal = await undoable(
      await h.http().delete(`/v1/apps/${app()}/regions/west?reason=decommissioned`).set(operator()),
    );

    // Drills go to west, the region that holds the scratch places.
    const beforeDrill = controlEssence(await controlled());
    const drill = await h
      .http()
      .post(`/v1/apps/${app()}/drills`)
      .set(operator())
      .send({ reason: 'drill into a removed region' });
    refusedNaming(drill, removal, 'a drill target');
    assert.deepEqual(controlEssence(await controlled()), beforeDrill, 'the drill refusal changed nothing');
    assert.deepEqual(await operationsOf('drill'), [], 'no drill started');

    // West halted by hand (a removed region may still be halted): a failback has it to return to.
    await undoable(
      await h
        .http()
        .post(`/v1/apps/${app()}/overrides`)
        .set(operator())
        .send({ action: 'halt', region: 'west', reason: 'halted after its removal' }),
    );
    const beforeFailback = controlEssence(await controlled());
    assert.deepEqual(beforeFailback.halted, ['west']);
    const failback = await h
      .http()
      .post(`/v1/apps/${app()}/failbacks`)
      .set(operator())
      .send({ reason: 'fail back into a removed region' });
    refusedNaming(failback, removal, 'a failback target');
    assert.deepEqual(
      controlEssence(await controlled()),
      beforeFailback,
      'the failback refusal changed nothing',
    );
    assert.deepEqual(await operationsOf('failback'), [], 'no failback started');
    assert.equal((await h.operation(removal)).phase, 'Undoable', 'the removal is still open');
  });
});
