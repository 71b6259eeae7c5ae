import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
} from '@aws-sdk/client-route-53';
import type { AppView } from '../../apps/api/apps/apps.service';
import { motoRoute53Client } from '../../infra/stack/moto.component';
import { Supervisor } from '../../infra/stack/supervisor';
import { startTemporal, type TemporalServer } from '../../infra/stack/temporal.component';
import type { ControlState } from '../../infra/storage/control-state.store';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture, startWorker } from '../support/app-fixture';
import { stack, waitFor } from '../support/stack';
import { addThirdRegion } from '../support/third-region';

/**
 * The soft operations that tombstone or change state through the app controller
 * (dns-record-delete, control-override, region-remove) across a restart of the Temporal server
 * (same port, same SQLite file) and a kill -9 of the worker during their window, like
 * soft-delete-restart.e2e.test.ts does for schedules: one restart shared by every kind. Undos given
 * as soon as the server answers again win (the DNS record sets back exactly on both providers, the
 * control state back field by field); the others are purged exactly once, not before undoableUntil
 * (the controller's tombstone has purgedAt ≥ undoableUntil). Runs a Temporal dev server of its own.
 */
const NAME = 'soft-delete-restart-controller';
const WINDOW_SECONDS = 45;
const EAST = '127.0.1.1';

interface Started {
  operationId: string;
  undoableUntil: string;
}

const fields = (s: Pick<ControlState, 'activeRegion' | 'writer' | 'halted'>) => ({
  activeRegion: s.activeRegion,
  writer: s.writer ?? null,
  halted: [...s.halted].sort(),
});

describe('controller soft operations across a Temporal server restart and a worker crash', () => {
  let dir: string;
  let sup: Supervisor;
  let temporal: TemporalServer;
  let h: ApiHarness;
  const r53 = motoRoute53Client(stack().moto);
  const pdns = stack().powerdns;
  const app = () => h.fx.app;
  const api = () => `api.${h.fx.zone}`;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-soft-delete-restart-controller-'));
    sup = new Supervisor(dir, { handleSignals: false });
    temporal = await startTemporal(sup, { ui: false }, NAME);
    const fx = await startAppFixture({
      temporal: { address: temporal.address, namespace: temporal.namespace },
      ttl: 1,
      softDelete: { windowSeconds: WINDOW_SECONDS },
      dns: (zone, record) => ({
        records: [
          { provider: 'route53-local', zone, name: record },
          { provider: 'powerdns-local', zone, name: record },
          { provider: 'route53-local', zone, name: `api.${zone}` },
          { provider: 'powerdns-local', zone, name: `api.${zone}` },
        ],
      }),
    });
    addThirdRegion(fx);
    h = new ApiHarness(fx);
    await h.start({ listen: true });
    // api's record sets as someone wrote them, each provider with its own TTL.
    await motoUpsert(api(), 30, [EAST]);
    await pdnsPatch({
      name: `${api()}.`,
      type: 'A',
      ttl: 45,
      changetype: 'REPLACE',
      records: [pdnsRecord(EAST)],
    });
  });

  after(async () => {
    await h?.stop();
    await sup?.stopAll();
    r53.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // --- the DNS providers, read directly ---

  async function zoneId(): Promise<string> {
    const out = await r53.send(new ListHostedZonesByNameCommand({ DNSName: `${h.fx.zone}.` }));
    return out.HostedZones!.find((z) => z.Name === `${h.fx.zone}.`)!.Id!;
  }

  async function motoUpsert(name: string, ttl: number, ips: string[]) {
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: await zoneId(),
        ChangeBatch: {
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: `${name}.`,
                Type: 'A',
                TTL: ttl,
                ResourceRecords: ips.map((Value) => ({ Value })),
              },
            },
          ],
        },
      }),
    );
  }

  const pdnsRecord = (content: string) => ({ content, disabled: false });

  /** PowerDNS's API on the app's zone; a 5xx (SQLite busy: another file writes) is retried. */
  async function pdnsApi(method: string, body?: unknown): Promise<Response> {
    return waitFor(
      async () => {
        const res = await fetch(`${pdns.apiUrl}/api/v1/servers/${pdns.serverId}/zones/${h.fx.zone}.`, {
          method,
          headers: { 'X-API-Key': pdns.apiKey, 'Content-Type': 'application/json' },
          body: body ? JSON.stringify(body) : undefined,
        });
        if (res.status >= 500) return false;
        assert.ok(res.ok, `PowerDNS ${method}: HTTP ${res.status}`);
        return res;
      },
      { what: `PowerDNS ${method} to succeed`, timeoutMs: 10_000, intervalMs: 100 },
    );
  }

  const pdnsPatch = (rrset: Record<string, unknown>) => pdnsApi('PATCH', { rrsets: [rrset] });

  /** Every A set of `name` on both providers, as their APIs list them. */
  async function providers(name: string) {
    const out = await r53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: await zoneId(), MaxItems: 300 }),
    );
    const moto = (out.ResourceRecordSets ?? [])
      .filter((s) => s.Name === `${name}.` && s.Type === 'A')
      .map((s) => ({
        id: s.SetIdentifier ?? null,
        weight: s.Weight ?? null,
        ttl: s.TTL,
        values: (s.ResourceRecords ?? []).map((r) => r.Value).sort(),
      }));
    const zone = (await (await pdnsApi('GET')).json()) as {
      rrsets: { name: string; type: string; ttl: number; records: { content: string }[] }[];
    };
    const powerdns = zone.rrsets
      .filter((r) => r.name === `${name}.`)
      .map((r) => ({ type: r.type, ttl: r.ttl, records: r.records.map((x) => x.content).sort() }));
    return { moto, powerdns };
  }

  // --- the API ---

  async function appView(): Promise<AppView> {
    const res = await h.http().get(`/v1/apps/${app()}?include=deleted`).set(viewer());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as AppView;
  }

  /** The controller's state (waits for the API to read it from the controller, not a mirror). */
  async function controlled(): Promise<ControlState> {
    return waitFor(
      async () => {
        const v = await appView();
        return v.control.source === 'controller' ? v.control.state : false;
      },
      { what: 'the API to read the control state from the controller', timeoutMs: 30_000 },
    );
  }

  async function undoable(res: { status: number; body: unknown }): Promise<Started> {
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const body = res.body as Started & { awaitingApproval: boolean };
    assert.equal(body.awaitingApproval, false);
    await h.phase(body.operationId, (p) => p === 'Undoable', 'undoable', 30_000);
    return { operationId: body.operationId, undoableUntil: body.undoableUntil };
  }

  const removeRegion = (region: string) =>
    h.http().delete(`/v1/apps/${app()}/regions/${region}?reason=restart-test`).set(operator());
  const halt = (region: string) =>
    h
      .http()
      .post(`/v1/apps/${app()}/overrides`)
      .set(operator())
      .send({ action: 'halt', region, reason: 'restart test' });
  const removeRecord = (name: string) =>
    h.http().delete(`/v1/apps/${app()}/dns-records/${name}?reason=restart-test`).set(operator());

  /** The undo, given as soon as the API answers again (503 while its client reconnects). */
  async function undoAfterRestart(op: Started) {
    const res = await waitFor(
      async () => {
        const r = await h
          .http()
          .post(`/v1/operations/${op.operationId}/undo`)
          .set(operator())
          .send({ reason: 'right after the restart' });
        return r.status === 503 ? false : r;
      },
      { what: `the undo of ${op.operationId} to be answered`, timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // Answered (the workflow took the undo) before the window ended.
    assert.ok(
      Date.now() < Date.parse(op.undoableUntil),
      'the restart took longer than the window: the test would prove nothing',
    );
    return res;
  }

  /** Waits for the purge: Completed, the purge step not before undoableUntil, one `<event>`. */
  async function purgedOnce(op: Started, event: string): Promise<OperationStatus> {
    const done = await h.phase(
      op.operationId,
      (p) => p !== 'Undoable' && p !== 'Running',
      'to purge',
      WINDOW_SECONDS * 1000 + 60_000,
    );
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    const step = done.steps.find((s) => s.name === 'purge')!;
    assert.equal(step.status, 'Completed');
    assert.ok(
      Date.parse(step.startedAt!) >= Date.parse(op.undoableUntil),
      `purge started ${step.startedAt}, before the window ended ${op.undoableUntil}`,
    );
    const events = await h.audit(`action=${event}`);
    assert.deepEqual(
      events.map((e) => e.target),
      [`operation:${op.operationId}`],
      `${event} exactly once`,
    );
    const late = await h
      .http()
      .post(`/v1/operations/${op.operationId}/undo`)
      .set(operator())
      .send({ reason: 'too late' });
    assert.deepEqual([late.status, late.body.error], [409, 'undo-window-closed']);
    return done;
  }

  test('undos right after the restart win; the purges happen once and on time', async () => {
    const t0 = Date.now();
    const www = h.fx.record;
    const apiBefore = await providers(api());
    assert.equal(apiBefore.moto.length, 1);
    assert.equal(apiBefore.powerdns.length, 1);

    // To be purged: south removed, south halted, www removed. To be undone: west halted, api removed
    // (started last, so their windows end last).
    const removeSouth = await undoable(await removeRegion('south'));
    const haltSouth = await undoable(await halt('south'));
    const removeWww = await undoable(await removeRecord(www));
    const beforeHaltWest = await controlled();
    const haltWest = await undoable(await halt('west'));
    const removeApi = await undoable(await removeRecord(api()));
    assert.deepEqual(await providers(api()), { moto: [], powerdns: [] }, 'api is gone from both');
    const held = await controlled();
    assert.deepEqual(fields(held), { activeRegion: 'east', writer: 'east', halted: ['south', 'west'] });
    assert.deepEqual(
      (held.tombstones ?? []).map((t) => [t.target, t.operationId]).sort(),
      [
        [`dns-record:${api()}`, removeApi.operationId],
        [`dns-record:${www}`, removeWww.operationId],
        ['region:south', removeSouth.operationId],
      ].sort(),
    );
    const started = Date.now();

    // Both down at once during the window: the worker killed, the server stopped and started again.
    await h.worker.kill('SIGKILL');
    const { address, dbFile } = temporal;
    await temporal.stop();
    temporal = await startTemporal(sup, { ui: false, port: Number(address.split(':').pop()) }, NAME);
    assert.deepEqual([temporal.address, temporal.dbFile], [address, dbFile], 'same port, same SQLite file');
    h.worker = await startWorker(h.fx, 'worker-after-restart');
    const restarted = Date.now();

    // Undo wins: the halt of west (the control state back field by field), the removal of api (the
    // record sets back exactly on both providers).
    const undoHalt = await undoAfterRestart(haltWest);
    assert.equal(undoHalt.body.action, 'halt');
    const undoApi = await undoAfterRestart(removeApi);
    assert.equal(undoApi.body.recordName, api());
    const undone = Date.now();
    assert.equal((await h.phase(haltWest.operationId, (p) => p === 'Undone', 'undone')).phase, 'Undone');
    assert.equal((await h.phase(removeApi.operationId, (p) => p === 'Undone', 'undone')).phase, 'Undone');
    const back = await controlled();
    assert.deepEqual(fields(back), fields(beforeHaltWest), 'activeRegion, writer, halted as before the halt');
    assert.ok(back.epoch > held.epoch, 'the fencing epoch only rises');
    assert.deepEqual(
      (back.tombstones ?? []).map((t) => [t.target, t.operationId]).sort(),
      [
        [`dns-record:${www}`, removeWww.operationId],
        ['region:south', removeSouth.operationId],
      ].sort(),
      "api's tombstone is gone, the others stay",
    );
    assert.deepEqual(await providers(api()), apiBefore, "api's record sets are back exactly");

    // The others are purged once, not before their time.
    await purgedOnce(removeSouth, 'region.purged');
    await purgedOnce(haltSouth, 'control.override-purged');
    await purgedOnce(removeWww, 'dns-record.purged');
    const purged = Date.now();
    const final = await controlled();
    assert.deepEqual(fields(final), fields(beforeHaltWest), 'a purged halt stays as it was');
    for (const op of [removeSouth, removeWww]) {
      const t = (final.tombstones ?? []).find((x) => x.operationId === op.operationId);
      assert.ok(t?.purgedAt, `the tombstone of ${op.operationId} is final`);
      assert.ok(
        Date.parse(t.purgedAt) >= Date.parse(op.undoableUntil),
        `purgedAt ${t.purgedAt} not before undoableUntil ${op.undoableUntil}`,
      );
      assert.equal(t.undoableUntil, op.undoableUntil);
    }
    assert.deepEqual(await providers(www), { moto: [], powerdns: [] }, 'www stays removed');
    assert.deepEqual(await providers(api()), apiBefore, 'api untouched by the purges');
    const undos = await h.audit(`target=operation:${haltWest.operationId}&action=control.override-purged`);
    assert.deepEqual(undos, [], 'an undone override is never purged');
    console.log(
      `# timings: operations started in ${started - t0} ms, restart (kill -9, server stop/start, worker ready) ${
        restarted - started
      } ms, undos answered ${undone - restarted} ms after, purges done ${purged - t0} ms after the start`,
    );
  });
});
