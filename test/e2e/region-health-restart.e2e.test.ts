import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { AppRegionsView, RegionHealthView } from '../../apps/api/regions/region-health.service';
import { parseConfig } from '../../infra/config/config.loader';
import type { RegionState } from '../../infra/health/region-detector';
import type { FailoverTrigger } from '../../workflows/automatic-decision';
import type { FailoverSpec, OperationStatus } from '../../workflows/operation';
import { freePort } from '../../infra/stack/free-port';
import { toYaml } from '../../infra/stack/app-config';
import { type ManagedProcess, Supervisor } from '../../infra/stack/supervisor';
import { appControllerWorkflowId, regionHealthQuery } from '../../workflows/definitions';
import { startAppFixture } from '../support/app-fixture';
import { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Region health that outlives the API and notices silent monitors, end to end: a worker (the
 * app's controller keeps the region transitions), the API listening, and three real monitor
 * processes that read their settings from the fixture's switchyard.yaml (SWITCHYARD_CONFIG +
 * SWITCHYARD_MONITOR_APP) and report with a `monitor` token, re-sending their verdicts every
 * REPORT_EVERY_S. The API is restarted on the same port; a monitor is killed with SIGKILL.
 */

const REPORT_EVERY_S = 0.5;
const STALE_AFTER_S = 2;
const RECOVER_S = 2;
const monitoring = {
  sameSite: { intervalSeconds: 0.25, timeoutSeconds: 0.2, failureThreshold: 3, successThreshold: 2 },
  crossSite: { intervalSeconds: 0.4, timeoutSeconds: 0.3, failureThreshold: 3, successThreshold: 2 },
  recoverAfterSeconds: RECOVER_S,
  reportEverySeconds: REPORT_EVERY_S,
  staleAfterSeconds: STALE_AFTER_S,
  vantagePoints: ['east', 'west', 'third'],
};
const VANTAGES = [
  { name: 'east', site: 'east' },
  { name: 'west', site: 'west' },
  { name: 'third', site: 'elsewhere' },
];
/** Scheduling on a loaded 2-CPU box, the report's POST and audit append: kept apart from the model. */
const SLACK_MS = 2000;
const WAIT_MS = 30_000;

describe('region health across an API restart, and silent monitors', () => {
  let h: ApiHarness;
  let port = 0;
  let supervisor: Supervisor;
  const monitors = new Map<string, ManagedProcess>();
  const receiver = new WebhookReceiver();

  async function startMonitor(v: (typeof VANTAGES)[number]): Promise<void> {
    const metricsPort = await freePort();
    monitors.set(
      v.name,
      await supervisor.start({
        name: `monitor-${v.name}`,
        command: process.execPath,
        args: [join(__dirname, '../../apps/monitor/main.js')],
        env: {
          ...process.env,
          SWITCHYARD_MONITOR_VANTAGE: v.name,
          SWITCHYARD_MONITOR_SITE: v.site,
          // The main configuration, not a file of its own.
          SWITCHYARD_CONFIG: h.fx.configFile,
          SWITCHYARD_MONITOR_APP: h.fx.app,
          SWITCHYARD_MONITOR_SETTINGS: '',
          SWITCHYARD_MONITOR_TOKEN: h.fx.monitorToken(v.name),
          SWITCHYARD_MONITOR_REPORT_URL: `http://127.0.0.1:${port}/v1/monitor/reports`,
          SWITCHYARD_MONITOR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        },
        readiness: { kind: 'http', url: `http://127.0.0.1:${metricsPort}/metrics` },
        graceMs: 2000,
      }),
    );
  }

  before(async () => {
    await receiver.start();
    const fx = await startAppFixture({
      // The last test's automatic failover asks an approver (and nobody answers in time).
      failoverApproval: { required: 1, roles: ['approver'], expiresAfterSeconds: 600 },
      notifications: {
        webhooks: [
          {
            url: receiver.url,
            secret: receiver.secret,
            events: ['region.state-changed', 'monitor.silent', 'monitor.resumed'],
          },
        ],
      },
    });
    // The monitoring settings go into the app's switchyard.yaml, which the API, the worker and
    // the monitors all read.
    const doc = parseYaml(readFileSync(fx.configFile, 'utf8')) as {
      apps: Record<string, Record<string, unknown>>;
    };
    doc.apps[fx.app]!.monitoring = monitoring;
    const yaml = toYaml(doc);
    writeFileSync(fx.configFile, yaml);
    fx.config = parseConfig(yaml, fx.configFile, {});
    h = new ApiHarness(fx);
    await h.start({ listen: true });
    supervisor = new Supervisor(fx.dir, { handleSignals: false });
    port = (h.api.getHttpServer().address() as AddressInfo).port;
    for (const v of VANTAGES) await startMonitor(v);
  });

  after(async () => {
    await supervisor?.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  async function view(): Promise<AppRegionsView> {
    const res = await h.http().get('/v1/regions').set(h.as(h.fx.tokens.viewer)).expect(200);
    return (res.body as { items: AppRegionsView[] }).items.find((a) => a.app === h.fx.app)!;
  }
  async function region(name: string): Promise<RegionHealthView> {
    return (await view()).regions.find((r) => r.region === name)!;
  }
  function becomes(name: string, state: RegionState, timeoutMs = WAIT_MS): Promise<RegionHealthView> {
    return waitFor(
      async () => {
        const r = await region(name);
        return r.state === state ? r : false;
      },
      { what: `${name} ${state}`, timeoutMs, intervalMs: 50 },
    );
  }
  const transitions = (r: RegionHealthView) => r.history.map((t) => [t.from, t.to, t.at, t.reason]);

  it('a restarted API restores region states and history from the controller; heartbeats rebuild the votes', async () => {
    await becomes('east', 'healthy');
    await becomes('west', 'healthy');
    await h.setHealthy('west', false);
    await becomes('west', 'down');

    // The transition reached the app's controller (not the probes, not the reports).
    const client = await h.fx.temporal();
    const book = await waitFor(
      async () => {
        const b = await client.workflow.getHandle(appControllerWorkflowId(h.fx.app)).query(regionHealthQuery);
        return b.west?.state === 'down' ? b : false;
      },
      { what: "west down in the controller's region health", timeoutMs: WAIT_MS },
    );
    const before = await view();
    const westBefore = before.regions.find((r) => r.region === 'west')!;
    assert.deepEqual(
      book.west!.history.map((t) => t.to),
      [...westBefore.history].reverse().map((t) => t.to),
    );

    await h.api.close();
    const restartedAt = Date.now();
    await h.startApi({ listen: true, port });
    const restored = await view();
    assert.equal(restored.restoredFromController, true);
    assert.deepEqual(
      restored.regions.map((r) => [r.region, r.state, r.since]),
      before.regions.map((r) => [r.region, r.state, r.since]),
    );
    for (const name of ['east', 'west'])
      assert.deepEqual(
        transitions(restored.regions.find((r) => r.region === name)!),
        transitions(before.regions.find((r) => r.region === name)!),
        `${name}'s history after the restart`,
      );

    // The monitors' heartbeats rebuild every vote: one report interval plus the retry of the
    // reports refused while the API was down (at most 1 s at this interval) and slack.
    const rebuilt = await waitFor(
      async () => {
        const v = await view();
        const west = v.regions.find((r) => r.region === 'west')!;
        const east = v.regions.find((r) => r.region === 'east')!;
        return west.votes.down === 3 && east.votes.up === 3 ? Date.now() : false;
      },
      { what: 'the votes rebuilt by heartbeats', timeoutMs: WAIT_MS, intervalMs: 50 },
    );
    const rebuildMs = rebuilt - restartedAt;
    process.stdout.write(`# votes rebuilt ${rebuildMs} ms after the API restarted\n`);
    assert.ok(rebuildMs <= REPORT_EVERY_S * 1000 + 1000 + SLACK_MS, `votes rebuilt after ${rebuildMs} ms`);
    // Nothing was re-announced: one down transition for west in the audit log.
    const target = encodeURIComponent(`region:${h.fx.app}/west`);
    const downs = (await h.audit(`target=${target}&action=region.state-changed`)).filter(
      (e) => e.details.to === 'down',
    );
    assert.equal(downs.length, 1, JSON.stringify(downs.map((e) => e.details)));

    // The restored down recovers through flap damping, counted from the new API's healthy votes.
    const backAt = Date.now();
    await h.setHealthy('west', true);
    const healthy = await becomes('west', 'healthy');
    assert.ok(Date.parse(healthy.since!) - backAt >= RECOVER_S * 1000);
    assert.deepEqual(transitions(healthy).slice(-westBefore.history.length), transitions(westBefore));
    assert.ok(['down', 'degraded'].includes(healthy.history[0]!.from), JSON.stringify(healthy.history[0]));
  });

  it('a monitor killed with SIGKILL is silent after staleAfterSeconds (degraded, never down), audited once; restarted, it resumes', async () => {
    await becomes('east', 'healthy');
    await becomes('west', 'healthy');
    const reportsBefore = (await h.audit('action=monitor.report')).length;

    const third = monitors.get('third')!;
    const killedAt = Date.now();
    process.kill(third.pid, 'SIGKILL');
    await third.exited;
    await third.stop();

    const silent = await waitFor(
      async () => {
        const v = await view();
        return v.vantages.find((x) => x.vantage === 'third')?.silentSince ? v : false;
      },
      { what: 'third silent', timeoutMs: WAIT_MS, intervalMs: 50 },
    );
    const silentSince = Date.parse(silent.vantages.find((x) => x.vantage === 'third')!.silentSince!);
    const tookMs = silentSince - killedAt;
    process.stdout.write(`# third silent ${tookMs} ms after SIGKILL (staleAfterSeconds ${STALE_AFTER_S})\n`);
    // Its last heartbeat was at most one interval before the kill.
    assert.ok(tookMs >= (STALE_AFTER_S - REPORT_EVERY_S) * 1000 - 100, `silent after ${tookMs} ms`);
    assert.ok(tookMs <= STALE_AFTER_S * 1000 + SLACK_MS, `silent after ${tookMs} ms`);
    for (const r of silent.regions) {
      assert.equal(r.votes.byVantage.third!.verdict, 'unknown');
      assert.equal(r.votes.byVantage.third!.silentSince, new Date(silentSince).toISOString());
    }
    await becomes('east', 'degraded', 5000);
    await becomes('west', 'degraded', 5000);

    // (The monitors started after the API: each was silent once then, before its first report.)
    const target = encodeURIComponent(`vantage:${h.fx.app}/third`);
    const since = encodeURIComponent(new Date(killedAt).toISOString());
    const silenced = await waitFor(
      async () => {
        const events = await h.audit(`target=${target}&action=monitor.silent&since=${since}`);
        return events.length ? events : false;
      },
      { what: 'monitor.silent in the audit log', timeoutMs: 10_000 },
    );
    assert.equal(silenced[0]!.actor, 'system');
    assert.equal(silenced[0]!.details.lastReportAt !== null, true);
    const note = await waitFor(
      () =>
        receiver.requests.find(
          (r) => r.body.event === 'monitor.silent' && r.body.payload.vantage === 'third' && r.at >= killedAt,
        ),
      { what: 'monitor.silent for third at the webhook', timeoutMs: 10_000 },
    );
    assert.equal(note.body.payload.app, h.fx.app);
    const metrics = (await h.http().get('/metrics').expect(200)).text;
    assert.ok(metrics.includes(`switchyard_monitor_silent{app="${h.fx.app}",vantage="third"} 1`));
    assert.ok(metrics.includes(`switchyard_monitor_silent{app="${h.fx.app}",vantage="east"} 0`));

    // Two more stale periods: still degraded, never down, silence audited once, and the two live
    // monitors' heartbeats (about 16 of them) wrote no audit event.
    await new Promise((r) => setTimeout(r, 2 * STALE_AFTER_S * 1000));
    const now = await view();
    assert.deepEqual(
      now.regions.map((r) => r.state),
      ['degraded', 'degraded'],
    );
    assert.ok(
      !now.regions.some((r) => r.history.some((t) => t.to === 'down' && Date.parse(t.at) > killedAt)),
    );
    assert.equal((await h.audit(`target=${target}&action=monitor.silent&since=${since}`)).length, 1);
    assert.equal((await h.audit('action=monitor.report')).length, reportsBefore);

    // Back: resumed (audited, notified, metric 0), healthy again only after flap damping.
    const restartedAt = Date.now();
    await startMonitor(VANTAGES[2]!);
    const resumed = await waitFor(
      async () => {
        const events = await h.audit(`target=${target}&action=monitor.resumed&since=${since}`);
        return events.length ? events[0] : false;
      },
      { what: 'monitor.resumed in the audit log', timeoutMs: WAIT_MS },
    );
    assert.equal(resumed.actor, 'monitor:third');
    await waitFor(
      () =>
        receiver.requests.find(
          (r) => r.body.event === 'monitor.resumed' && r.body.payload.vantage === 'third' && r.at >= killedAt,
        ),
      { what: 'monitor.resumed for third at the webhook', timeoutMs: 10_000 },
    );
    const east = await becomes('east', 'healthy');
    assert.ok(Date.parse(east.since!) - restartedAt >= RECOVER_S * 1000);
    assert.equal(east.votes.byVantage.third!.silentSince, null);
    const after = (await h.http().get('/metrics').expect(200)).text;
    assert.ok(after.includes(`switchyard_monitor_silent{app="${h.fx.app}",vantage="third"} 0`));
  });

  it('refuses reports without the monitor role: an operator gets 403, a monitor token cannot read', async () => {
    const body = {
      app: h.fx.app,
      vantage: 'third',
      region: 'west',
      verdict: 'down',
      at: new Date().toISOString(),
      latencyMs: 1,
      reason: 'forged',
    };
    const before = (await region('west')).votes;
    const operator = await h.http().post('/v1/monitor/reports').set(h.as(h.fx.tokens.operator)).send(body);
    assert.deepEqual([operator.status, operator.body.error], [403, 'forbidden']);
    const read = await h
      .http()
      .get('/v1/regions')
      .set(h.as(h.fx.monitorToken('third')));
    assert.deepEqual([read.status, read.body.error], [403, 'forbidden']);
    assert.deepEqual((await region('west')).votes, before, 'the forged report changed nothing');
  });

  it('automatic mode: an API restart during downForSeconds resumes the wait from the original downSince, one failover', async () => {
    const DOWN_FOR_S = 10;
    const API_GONE_MS = 4000;
    const app = h.fx.config.apps[h.fx.app]!;
    // approvalWaitSeconds: the failover opens and then waits for an approver long enough to be
    // looked at and rejected (it never runs).
    app.failover = {
      ...app.failover,
      mode: 'automatic',
      automatic: { downForSeconds: DOWN_FOR_S, requireStandbyHealthy: false, approvalWaitSeconds: 300 },
    };
    await becomes('east', 'healthy');
    const startedAt = Date.now();
    await h.setHealthy('east', false);
    const down = await becomes('east', 'down');
    const downSince = Date.parse(down.since!);
    const client = await h.fx.temporal();
    await waitFor(
      async () => {
        const b = await client.workflow.getHandle(appControllerWorkflowId(h.fx.app)).query(regionHealthQuery);
        return b.east?.state === 'down' && b.east.since === down.since;
      },
      { what: "east down in the controller's region health", timeoutMs: WAIT_MS },
    );
    // The API goes away in the middle of the wait, for a while, and comes back.
    await h.api.close();
    await new Promise((r) => setTimeout(r, API_GONE_MS));
    const restartedAt = Date.now();
    await h.startApi({ listen: true, port });
    assert.equal((await region('east')).state, 'down', 'restored down');

    const opened = await waitFor(
      async () => {
        const res = await h
          .http()
          .get(`/v1/operations?app=${h.fx.app}&kind=failover`)
          .set(h.as(h.fx.tokens.viewer))
          .expect(200);
        return (res.body as { items: OperationStatus[] }).items.find(
          (o) => Date.parse(o.startedAt) >= startedAt,
        );
      },
      { what: 'the failover the resumed trigger opens', timeoutMs: WAIT_MS, intervalMs: 100 },
    );
    const openedAfterS = (Date.parse(opened.startedAt) - downSince) / 1000;
    process.stdout.write(
      `# failover opened ${openedAfterS.toFixed(2)} s after downSince (downForSeconds ${DOWN_FOR_S}, API gone ${API_GONE_MS / 1000} s, back ${((restartedAt - downSince) / 1000).toFixed(2)} s after downSince)\n`,
    );
    // From the original downSince, not from the restart (that would be ≥ restart + DOWN_FOR_S).
    assert.ok(openedAfterS >= DOWN_FOR_S, `opened ${openedAfterS} s after downSince`);
    assert.ok(
      Date.parse(opened.startedAt) < restartedAt + DOWN_FOR_S * 1000,
      `opened ${openedAfterS} s after downSince: the wait restarted with the API`,
    );
    const op = await h.phase(opened.operationId, (p) => p === 'AwaitingApproval', 'to await approval');
    const trigger = (op.spec as FailoverSpec).trigger as FailoverTrigger;
    assert.equal(op.requestedBy, 'system:region-monitor');
    assert.equal(trigger.failoverMode, 'automatic');
    assert.equal(trigger.downSince, down.since);
    const triggered = (await h.audit('action=failover.triggered')).filter(
      (e) => Date.parse(e.time) >= startedAt,
    );
    assert.equal(triggered.length, 1, JSON.stringify(triggered.map((e) => e.details)));

    const rejected = await h.decide(op.operationId, h.fx.tokens.approver, 'reject', 'restart test: not now');
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    await h.phase(op.operationId, (p) => p === 'Rejected', 'to be rejected');
    await h.setHealthy('east', true);
  });
});
