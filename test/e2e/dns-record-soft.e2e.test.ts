import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
} from '@aws-sdk/client-route-53';
import { resolveA } from '../../infra/health/endpoint-verifier';
import { motoRoute53Client } from '../../infra/stack/moto.component';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { stack, waitFor } from '../support/stack';

/**
 * Soft DNS changes end to end (docs/soft-deletes.md, DNS records), against moto and PowerDNS
 * through the API: a removed record is gone from both providers (PowerDNS answers nothing) and a
 * failover skips it; undo writes the record sets back byte for byte (weighted sets, TTLs,
 * identifiers), or as the failover would have after one moved the app; a record changed behind
 * Switchyard is never overwritten (both values shown); an override and its undo; the purge; the
 * guard rails.
 */
const WINDOW_SECONDS = 600;
const SHORT_WINDOW_SECONDS = 3;
const EAST = '127.0.1.1';
const WEST = '127.0.1.2';

interface Refusal {
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

describe('soft DNS changes', () => {
  let h: ApiHarness;
  let api = '';
  const r53 = motoRoute53Client(stack().moto);
  const pdns = stack().powerdns;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);
  const www = () => h.fx.record;
  const legacy = () => `legacy.${h.fx.zone}`;
  const base = () => `/v1/apps/${h.fx.app}/dns-records`;
  /** Left open by one test for a later one: api's removal, www's override. */
  let removedApi = '';
  let overrideOfWww = '';

  before(async () => {
    h = new ApiHarness(
      await startAppFixture({
        ttl: 1,
        softDelete: {
          windowSeconds: 3600,
          kinds: {
            'dns-record-delete': { windowSeconds: WINDOW_SECONDS },
            'dns-override': { windowSeconds: WINDOW_SECONDS },
          },
        },
        dns: (zone, record) => ({
          records: [
            { provider: 'route53-local', zone, name: record },
            { provider: 'powerdns-local', zone, name: record },
            { provider: 'route53-local', zone, name: `api.${zone}` },
            { provider: 'powerdns-local', zone, name: `api.${zone}` },
          ],
        }),
      }),
    );
    api = `api.${h.fx.zone}`;
    await h.start({ listen: true });
    // Record sets Switchyard did not write, to be kept byte for byte: weighted sets on Route 53
    // with their own TTL, a simple set with another TTL on PowerDNS.
    await motoChange([
      { Action: 'UPSERT', set: weightedSet(api, 'east', 100, EAST, 30) },
      { Action: 'UPSERT', set: weightedSet(api, 'west', 0, WEST, 30) },
    ]);
    await pdnsReplace(api, 45, [EAST]);
    // Not the app's: weighted sets sharing api's set identifiers (moto's DELETE by SetIdentifier
    // removes that identifier under every name of the zone).
    await motoChange([
      { Action: 'UPSERT', set: weightedSet(legacy(), 'east', 50, '192.0.2.1', 300) },
      { Action: 'UPSERT', set: weightedSet(legacy(), 'west', 50, '192.0.2.2', 300) },
    ]);
  });
  after(async () => {
    await h?.stop();
    r53.destroy();
  });

  // --- the providers, read and written directly (behind Switchyard's back) ---

  async function zoneId(): Promise<string> {
    const out = await r53.send(new ListHostedZonesByNameCommand({ DNSName: `${h.fx.zone}.` }));
    return out.HostedZones!.find((z) => z.Name === `${h.fx.zone}.`)!.Id!;
  }

  function weightedSet(name: string, id: string, weight: number, ip: string, ttl: number) {
    return {
      Name: `${name}.`,
      Type: 'A' as const,
      SetIdentifier: id,
      Weight: weight,
      TTL: ttl,
      ResourceRecords: [{ Value: ip }],
    };
  }

  async function motoChange(changes: { Action: 'UPSERT' | 'DELETE'; set: Record<string, unknown> }[]) {
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: await zoneId(),
        ChangeBatch: {
          Changes: changes.map((c) => ({ Action: c.Action, ResourceRecordSet: c.set as never })),
        },
      }),
    );
  }

  /** Every A set of `name` on moto, as the Route 53 API lists it. */
  async function motoRaw(name: string) {
    const out = await r53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: await zoneId(), MaxItems: 300 }),
    );
    return (out.ResourceRecordSets ?? [])
      .filter((s) => s.Name === `${name}.` && s.Type === 'A')
      .map((s) => ({
        id: s.SetIdentifier ?? null,
        weight: s.Weight ?? null,
        failover: s.Failover ?? null,
        ttl: s.TTL,
        values: (s.ResourceRecords ?? []).map((r) => r.Value).sort(),
        healthCheckId: s.HealthCheckId ?? null,
      }))
      .sort((a, b) => String(a.id).localeCompare(String(b.id)));
  }

  async function pdnsApi(method: string, body?: unknown): Promise<Response> {
    const res = await fetch(`${pdns.apiUrl}/api/v1/servers/${pdns.serverId}/zones/${h.fx.zone}.`, {
      method,
      headers: { 'X-API-Key': pdns.apiKey, 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    assert.ok(res.ok, `PowerDNS ${method}: HTTP ${res.status}`);
    return res;
  }

  /** Every rrset of `name` on PowerDNS (A and LUA), as its API returns them. */
  async function pdnsRaw(name: string) {
    const zone = (await (await pdnsApi('GET')).json()) as {
      rrsets: {
        name: string;
        type: string;
        ttl: number;
        records: { content: string; disabled: boolean }[];
      }[];
    };
    return zone.rrsets
      .filter((r) => r.name === `${name}.`)
      .map((r) => ({ type: r.type, ttl: r.ttl, records: r.records.map((x) => x.content).sort() }))
      .sort((a, b) => a.type.localeCompare(b.type));
  }

  function pdnsReplace(name: string, ttl: number, ips: string[]) {
    return pdnsApi('PATCH', {
      rrsets: [
        {
          name: `${name}.`,
          type: 'A',
          ttl,
          changetype: 'REPLACE',
          records: ips.map((content) => ({ content, disabled: false })),
        },
      ],
    });
  }

  function pdnsDelete(name: string) {
    return pdnsApi('PATCH', { rrsets: [{ name: `${name}.`, type: 'A', changetype: 'DELETE' }] });
  }

  /** What PowerDNS answers for `name` over DNS: the addresses, or the resolver's error code. */
  async function answer(name: string): Promise<string[] | string> {
    try {
      return await resolveA(name, [`${pdns.dnsHost}:${pdns.dnsPort}`]);
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  }

  // --- the API ---

  const remove = (name: string, reason = 'soft DNS test', http = h.http()) =>
    http.delete(`${base()}/${name}?reason=${encodeURIComponent(reason)}`).set(operator());
  const override = (name: string, region: string, reason = 'soft DNS test') =>
    h.http().put(`${base()}/${name}`).set(operator()).send({ region, reason });
  const undo = (id: string, reason = 'soft DNS test: undo') =>
    h.http().post(`/v1/operations/${id}/undo`).set(operator()).send({ reason });

  async function started(res: { status: number; body: unknown }): Promise<string> {
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const body = res.body as { operationId: string; undoableUntil: string; awaitingApproval: boolean };
    assert.equal(body.awaitingApproval, false);
    await h.phase(body.operationId, (p) => p === 'Undoable', 'undoable', 30_000);
    return body.operationId;
  }

  async function appView(include = false) {
    const res = await h
      .http()
      .get(`/v1/apps/${h.fx.app}${include ? '?include=deleted' : ''}`)
      .set(viewer())
      .expect(200);
    return res.body as {
      activeRegion: string;
      dns: {
        records: { provider: string; name: string; deleted?: { operationId: string; purgedAt?: string } }[];
        removedRecords: { name: string; operationId: string; purgedAt: string; note: string }[];
      };
      control: { state: { tombstones?: { target: string; operationId: string; purgedAt?: string }[] } };
    };
  }

  function refusal(res: { status: number; body: unknown }, status: number, code: string): Refusal {
    assert.equal(res.status, status, JSON.stringify(res.body));
    const body = res.body as Refusal;
    assert.equal(body.error, code, JSON.stringify(body));
    return body;
  }

  // --- the tests, in order: each leaves the app as the next expects ---

  test('guard rails: unknown record, unknown region, no reason — refused, nothing changes', async () => {
    const before = { moto: await motoRaw(www()), pdns: await pdnsRaw(www()) };
    const nf = refusal(await remove(`nope.${h.fx.zone}`), 404, 'dns-record-not-found');
    assert.match(nf.message, new RegExp(`has no DNS record "nope\\.${h.fx.zone}" \\(records: `));
    assert.deepEqual(nf.details?.records, [www(), api]);
    refusal(await override(`nope.${h.fx.zone}`, 'west'), 404, 'dns-record-not-found');
    const region = refusal(await override(www(), 'north'), 422, 'unknown-region');
    assert.deepEqual(region.details?.regions, ['east', 'west']);
    const noReason = await h.http().delete(`${base()}/${www()}`).set(operator());
    assert.equal(noReason.status, 400);
    assert.equal(
      (await h.http().put(`${base()}/${www()}`).set(viewer()).send({ region: 'west', reason: 'x y z' }))
        .status,
      403,
    );
    assert.deepEqual({ moto: await motoRaw(www()), pdns: await pdnsRaw(www()) }, before);
  });

  test('remove → gone from both providers and hidden → undo → the record sets are back byte for byte', async () => {
    const before = { moto: await motoRaw(api), pdns: await pdnsRaw(api) };
    assert.equal(before.moto.length, 2);
    const legacyBefore = await motoRaw(legacy());
    assert.equal(legacyBefore.length, 2);
    assert.deepEqual(await answer(api), [EAST]);

    const id = await started(await remove(api, 'api is retired'));
    assert.deepEqual(await motoRaw(api), []);
    assert.deepEqual(await pdnsRaw(api), []);
    const gone = await answer(api);
    assert.ok(typeof gone === 'string' || gone.length === 0, `PowerDNS answers nothing, not ${String(gone)}`);
    // Other names were not touched (moto's delete by SetIdentifier hits every name of the zone).
    assert.deepEqual(await answer(www()), [EAST]);
    assert.deepEqual(await motoRaw(legacy()), legacyBefore);

    const op = await h.operation(id);
    assert.equal(op.kind, 'dns-record-delete');
    const saved = op.facts.records as { provider: string; state: { routed: unknown[]; simple: unknown } }[];
    assert.deepEqual(
      saved.map((s) => [s.provider, s.state.routed.length, s.state.simple]),
      [
        ['route53-local', 2, null],
        ['powerdns-local', 0, { ttl: 45, values: [EAST] }],
      ],
    );
    // Hidden from GET /v1/apps/{app}; listed, marked, with include=deleted.
    assert.deepEqual(
      (await appView()).dns.records.map((r) => r.name),
      [www(), www()],
    );
    const marked = (await appView(true)).dns.records.filter((r) => r.name === api);
    assert.deepEqual(
      marked.map((r) => r.deleted?.operationId),
      [id, id],
    );
    // Listed among what can be undone.
    const pending = await h
      .http()
      .get(`/v1/operations?kind=dns-record-delete&phase=Undoable&app=${h.fx.app}`)
      .set(viewer())
      .expect(200);
    assert.deepEqual(
      (pending.body as { items: { operationId: string; undoableUntil: string }[] }).items.map(
        (i) => i.operationId,
      ),
      [id],
    );
    const cli = await h.cli(h.fx.tokens.viewer, 'pending-deletes', h.fx.app);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`DNS record ${api.replace(/\./g, '\\.')} \\(removed\\)`));

    // Removing it again is refused, naming the operation to undo; so is an override of it.
    const again = refusal(await remove(api), 409, 'dns-record-already-deleted');
    assert.equal(again.details?.operationId, id);
    assert.equal(refusal(await override(api, 'west'), 409, 'dns-record-deleted').details?.operationId, id);

    const res = await undo(id);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body as { recordName: string }).recordName, api);
    assert.deepEqual({ moto: await motoRaw(api), pdns: await pdnsRaw(api) }, before);
    assert.deepEqual(await answer(api), [EAST]);
    assert.deepEqual(await motoRaw(legacy()), legacyBefore);
    assert.equal((await h.operation(id)).phase, 'Undone');
    assert.equal((await appView()).dns.records.filter((r) => r.name === api).length, 2);
    const events = (await h.audit(`target=operation:${id}`)).map((e) => e.action);
    assert.ok(
      events.includes('dns-record.tombstoned') && events.includes('dns-record.undeleted'),
      events.join(),
    );
  });

  test('someone creates the record behind Switchyard: undo is refused with both values, nothing is overwritten', async () => {
    const id = await started(await remove(api));
    // Created again directly through PowerDNS's API.
    await pdnsReplace(api, 300, ['192.0.2.7']);
    const res = await undo(id);
    const body = refusal(res, 409, 'dns-record-changed');
    assert.match(
      body.message,
      /powerdns-local holds ttl 300 \[192\.0\.2\.7\], Switchyard left absent \(would write ttl 45 \[127\.0\.1\.1\]\)/,
    );
    assert.deepEqual(body.details?.current, {
      'powerdns-local': { simple: { ttl: 300, values: ['192.0.2.7'] }, routed: [] },
    });
    assert.deepEqual(body.details?.expected, { 'powerdns-local': { simple: null, routed: [] } });
    assert.deepEqual(body.details?.wouldWrite, {
      'powerdns-local': { simple: { ttl: 45, values: [EAST] }, routed: [] },
    });
    // Untouched on both providers, and still undoable.
    assert.deepEqual(await pdnsRaw(api), [{ type: 'A', ttl: 300, records: ['192.0.2.7'] }]);
    assert.deepEqual(await motoRaw(api), []);
    const op = await h.operation(id);
    assert.equal(op.phase, 'Undoable');
    assert.equal((op.facts.undoRefusals as { code: string }[])[0]?.code, 'dns-record-changed');
    // Once it is absent again as Switchyard left it, the operation stays open for the next test.
    await pdnsDelete(api);
    removedApi = id;
  });

  test('override → undo: the previous record sets back exactly', async () => {
    // www as someone configured it on Route 53: weighted sets of their own.
    await motoChange([
      {
        Action: 'DELETE',
        set: { Name: `${www()}.`, Type: 'A', TTL: 1, ResourceRecords: [{ Value: EAST }] },
      },
      { Action: 'UPSERT', set: weightedSet(www(), 'east', 90, EAST, 20) },
      { Action: 'UPSERT', set: weightedSet(www(), 'west', 10, WEST, 20) },
    ]);
    const before = { moto: await motoRaw(www()), pdns: await pdnsRaw(www()) };
    const id = await started(await override(www(), 'west', 'send www to west for a test'));
    assert.deepEqual(await motoRaw(www()), [
      { id: null, weight: null, failover: null, ttl: 1, values: [WEST], healthCheckId: null },
    ]);
    assert.deepEqual(await answer(www()), [WEST]);
    const op = await h.operation(id);
    assert.equal(op.kind, 'dns-override');
    assert.equal(op.steps.find((s) => s.name === 'override')?.status, 'Completed');
    const res = await undo(id);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual({ moto: await motoRaw(www()), pdns: await pdnsRaw(www()) }, before);
    const events = (await h.audit(`target=operation:${id}`)).map((e) => e.action);
    assert.ok(
      events.includes('dns-record.overridden') && events.includes('dns-record.override-undone'),
      events.join(),
    );
  });

  test('override, then someone changes the record: undo refused with {expected, current}, untouched', async () => {
    // Through the CLI this time.
    const cli = await h.cli(
      h.fx.tokens.operator,
      '--json',
      'dns-records',
      'override',
      h.fx.app,
      www(),
      '--region',
      'west',
      '--reason',
      'send www to west again',
    );
    assert.equal(cli.code, 0, cli.stderr);
    const id = await started({ status: 202, body: JSON.parse(cli.stdout) as unknown });
    await pdnsReplace(www(), 1, ['192.0.2.8']);
    const body = refusal(await undo(id), 409, 'dns-record-changed');
    assert.deepEqual(body.details?.expected, {
      'powerdns-local': { simple: { ttl: 1, values: [WEST] }, routed: [] },
    });
    assert.deepEqual(body.details?.current, {
      'powerdns-local': { simple: { ttl: 1, values: ['192.0.2.8'] }, routed: [] },
    });
    assert.deepEqual(await pdnsRaw(www()), [{ type: 'A', ttl: 1, records: ['192.0.2.8'] }]);
    // Put back as the override left it; the override stays open into the failover below.
    await pdnsReplace(www(), 1, [WEST]);
    overrideOfWww = id;
  });

  test('a failover skips the removed record and names it; an operation running refuses changes', async () => {
    const failover = await h.requestFailover('west', 'soft DNS test');
    const busy = refusal(await remove(www()), 409, 'operation-in-progress');
    assert.equal(busy.details?.operationId, failover);
    const op = await h.phase(
      failover,
      (p) => p === 'Completed' || p === 'Failed' || p === 'CompensationFailed',
      'ended',
      120_000,
    );
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    const dns = op.steps.find((s) => s.name === 'dns')!;
    assert.match(
      dns.detail ?? '',
      new RegExp(`skipped ${api.replace(/\./g, '\\.')} \\(removed by ${removedApi}\\)`),
    );
    assert.deepEqual(await motoRaw(api), []);
    assert.deepEqual(await pdnsRaw(api), []);
    assert.deepEqual(await answer(www()), [WEST]);
  });

  test('undo of an override after a failover moved the app is refused (app-moved), nothing changes', async () => {
    const before = { moto: await motoRaw(www()), pdns: await pdnsRaw(www()) };
    // The failover left east halted: no record may be pointed at it.
    const halted = refusal(await override(www(), 'east'), 409, 'region-halted');
    assert.deepEqual(halted.details?.halted, ['east']);
    const body = refusal(await undo(overrideOfWww), 409, 'app-moved');
    assert.deepEqual(body.details, { activeRegionAtOverride: 'east', activeRegion: 'west' });
    assert.deepEqual({ moto: await motoRaw(www()), pdns: await pdnsRaw(www()) }, before);
  });

  test('undo after a failover moved the app writes the record as the failover would for west, and says so', async () => {
    const res = await undo(removedApi);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(await motoRaw(api), [
      { id: null, weight: null, failover: null, ttl: 1, values: [WEST], healthCheckId: null },
    ]);
    assert.deepEqual(await pdnsRaw(api), [{ type: 'A', ttl: 1, records: [WEST] }]);
    const op = await h.operation(removedApi);
    assert.match(
      (op.facts.undoWrote as { note: string }).note,
      /the app moved from east to west during the window: the record is written as a failover to west writes it/,
    );
  });

  test('with a short window the removal is purged: final, shown on the app, undo refused naming the time', async () => {
    const config = structuredClone(h.fx.config);
    config.apps[h.fx.app]!.softDelete.kinds['dns-record-delete'] = { windowSeconds: SHORT_WINDOW_SECONDS };
    const shortApi = await h.extraApi(config);
    const res = await remove(api, 'retire api for good', h.http(shortApi));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId: id, undoableUntil } = res.body as { operationId: string; undoableUntil: string };
    const op: OperationStatus = await h.phase(id, (p) => p === 'Completed', 'purged', 60_000);
    assert.match(
      op.steps.find((s) => s.name === 'purge')?.detail ?? '',
      /is final: drop it from apps\..*\.dns\.records/,
    );
    const view = await appView();
    const tomb = view.control.state.tombstones?.find((t) => t.target === `dns-record:${api}`);
    assert.equal(tomb?.operationId, id);
    assert.ok(tomb?.purgedAt, 'the controller shows purgedAt');
    assert.deepEqual(
      view.dns.removedRecords.map((p) => [p.name, p.operationId]),
      [[api, id]],
    );
    assert.deepEqual(await motoRaw(api), []);
    const late = refusal(await undo(id), 409, 'undo-window-closed');
    assert.equal(late.details?.undoableUntil, undoableUntil);
    assert.match(late.message, new RegExp(`closed at ${undoableUntil.replace(/\./g, '\\.')}`));
    const gone = refusal(await remove(api), 409, 'dns-record-already-deleted');
    assert.equal(gone.details?.purgedAt, tomb.purgedAt);
    const events = (await h.audit(`target=operation:${id}`)).map((e) => e.action);
    assert.ok(events.includes('dns-record.purged'), events.join());
  });

  test('with every record removed a failback is refused, naming the operations to undo', async () => {
    const cli = await h.cli(
      h.fx.tokens.operator,
      'dns-records',
      'delete',
      h.fx.app,
      www(),
      '--reason',
      'no www',
    );
    assert.equal(cli.code, 0, cli.stderr);
    const id = /\((\S+)\); undoable until/.exec(cli.stdout)?.[1] ?? assert.fail(cli.stdout);
    assert.match(cli.stdout, new RegExp(`undo it: switchyard undo ${id}`));
    await h.phase(id, (p) => p === 'Undoable', 'undoable', 30_000);
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/failbacks`)
      .set(operator())
      .send({ reason: 'soft DNS test' });
    const body = refusal(res, 409, 'dns-records-removed');
    assert.deepEqual(
      (body.details?.removed as { name: string; operationId: string }[]).map((r) => r.operationId).sort(),
      [id, (await appView()).dns.removedRecords[0]!.operationId].sort(),
    );
    const undone = await undo(id);
    assert.equal(undone.status, 200, JSON.stringify(undone.body));
    assert.deepEqual(await answer(www()), [WEST]);
  });

  test('a removal the approval policy guards waits for approval: nothing removed until approved', async () => {
    const config = structuredClone(h.fx.config);
    const approvals = config.apps[h.fx.app]!.policies.approvals;
    approvals['dns-record-delete'] = { ...approvals['dns-record-delete'], required: 1 };
    const guarded = await h.extraApi(config);
    const res = await remove(www(), 'needs a second pair of eyes', h.http(guarded));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId: id, awaitingApproval } = res.body as {
      operationId: string;
      awaitingApproval: boolean;
    };
    assert.equal(awaitingApproval, true);
    const waiting = await h.phase(id, (p) => p === 'AwaitingApproval', 'awaiting approval', 30_000);
    assert.deepEqual(waiting.approval?.facts?.deleting, [`DNS record ${www()}`]);
    assert.deepEqual(await answer(www()), [WEST], 'nothing is removed while it waits');
    assert.equal((await appView()).dns.records.filter((r) => r.name === www()).length, 2);
    assert.equal((await h.decide(id, h.fx.tokens.approver, 'approve')).status, 200);
    await h.phase(id, (p) => p === 'Undoable', 'undoable', 30_000);
    assert.deepEqual(await pdnsRaw(www()), []);
    const undone = await undo(id);
    assert.equal(undone.status, 200, JSON.stringify(undone.body));
    assert.deepEqual(await answer(www()), [WEST]);
  });

  test('metrics count removals and overrides by kind', async () => {
    // Visibility (the open windows) is eventually consistent, and the API caches a reading 10 s.
    const sample = async () => {
      const text = (await h.http().get('/metrics').expect(200)).text;
      const value = (name: string, kind: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name}{app="${h.fx.app}",kind="${kind}"}`));
        return line ? Number(line.split(' ').at(-1)) : 0;
      };
      return ['dns-record-delete', 'dns-override'].map((kind) => ({
        kind,
        tombstones: value('switchyard_soft_delete_tombstones_total', kind),
        undos: value('switchyard_soft_delete_undos_total', kind),
        purges: value('switchyard_soft_delete_purges_total', kind),
        undoable: value('switchyard_soft_delete_undoable', kind),
      }));
    };
    const want = [
      // api removed three times (undone, undone after the failover, purged), www twice (undone).
      { kind: 'dns-record-delete', tombstones: 5, undos: 4, purges: 1, undoable: 0 },
      // www overridden twice: one undone, one still open (its undo refused: app-moved).
      { kind: 'dns-override', tombstones: 2, undos: 1, purges: 0, undoable: 1 },
    ];
    let last: unknown;
    await waitFor(
      async () => {
        last = await sample();
        return JSON.stringify(last) === JSON.stringify(want);
      },
      { what: 'the soft DNS change metrics', timeoutMs: 30_000, intervalMs: 1_000 },
    ).catch((err: Error) => assert.fail(`${err.message}; last: ${JSON.stringify(last)}`));
  });
});
