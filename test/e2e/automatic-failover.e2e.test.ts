import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AppRegionsView } from '../../apps/api/regions/region-health.service';
import { monitoringSchema, type MonitoringSettings } from '../../infra/health/monitor-settings';
import type { RegionState } from '../../infra/health/region-detector';
import { freePort } from '../../infra/stack/free-port';
import { Supervisor } from '../../infra/stack/supervisor';
import type { AutomaticDecision, FailoverTrigger } from '../../workflows/automatic-decision';
import type { FailoverSpec, OperationStatus } from '../../workflows/operation';
import { type AppFixture, startAppFixture } from '../support/app-fixture';
import { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Failover modes end to end (docs/health-monitoring.md, Automatic mode): three real monitor
 * processes probe the fixture's two demo instances and report to the API. Killing the active
 * region's instance makes the quorum declare it down, and the failover trigger opens an unplanned
 * failover as system:region-monitor. Manual mode: it waits for approval and the approvers hear
 * of it. Automatic mode: it runs without anyone, DNS (a real query to PowerDNS) ends on the
 * standby, and the old primary, restarted, stays halted and refuses writes (write lease).
 */

const settings: MonitoringSettings = {
  sameSite: { intervalSeconds: 0.25, timeoutSeconds: 0.2, failureThreshold: 3, successThreshold: 2 },
  crossSite: { intervalSeconds: 0.4, timeoutSeconds: 0.3, failureThreshold: 3, successThreshold: 2 },
  recoverAfterSeconds: 1,
};
const VANTAGES = [
  { name: 'east', site: 'east' },
  { name: 'west', site: 'west' },
  { name: 'third', site: 'elsewhere' },
];
const WAIT_MS = 60_000;

describe('failover modes: the monitors detect the active region down and open the failover', () => {
  let h: ApiHarness;
  let fx: AppFixture;
  let supervisor: Supervisor;
  const receiver = new WebhookReceiver();

  before(async () => {
    await receiver.start();
    fx = await startAppFixture({
      fencing: true,
      ttl: 1,
      failoverApproval: { required: 1, roles: ['approver'], expiresAfterSeconds: 600 },
      notifications: {
        webhooks: [{ url: receiver.url, secret: receiver.secret, events: ['approval.requested'] }],
      },
    });
    const targets = Object.fromEntries(fx.regions.map((r) => [r.name, { http: `${r.url}/healthz` }]));
    const app = fx.config.apps[fx.app]!;
    fx.config.apps[fx.app] = {
      ...app,
      monitoring: monitoringSchema.parse({
        ...settings,
        vantagePoints: VANTAGES.map((v) => v.name),
        targets,
      }),
    };
    h = new ApiHarness(fx);
    await h.start({ listen: true });

    supervisor = new Supervisor(fx.dir, { handleSignals: false });
    const file = join(fx.dir, 'monitor.json');
    writeFileSync(file, JSON.stringify({ monitoring: { ...settings, targets } }));
    for (const v of VANTAGES) {
      const metricsPort = await freePort();
      await supervisor.start({
        name: `monitor-${v.name}`,
        command: process.execPath,
        args: [join(__dirname, '../../apps/monitor/main.js')],
        env: {
          ...process.env,
          SWITCHYARD_MONITOR_VANTAGE: v.name,
          SWITCHYARD_MONITOR_SITE: v.site,
          SWITCHYARD_MONITOR_SETTINGS: file,
          SWITCHYARD_MONITOR_APP: fx.app,
          SWITCHYARD_MONITOR_TOKEN: fx.monitorToken(v.name),
          SWITCHYARD_MONITOR_REPORT_URL: `${h.baseUrl}/v1/monitor/reports`,
          SWITCHYARD_MONITOR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        },
        readiness: { kind: 'http', url: `http://127.0.0.1:${metricsPort}/metrics` },
        graceMs: 2000,
      });
    }
  });

  after(async () => {
    await supervisor?.stopAll();
    await h?.stop();
    await receiver.stop();
  });

  async function regionStates(): Promise<Record<string, { state: RegionState; since: string | null }>> {
    const res = await h.http().get('/v1/regions').set(h.as(fx.tokens.viewer)).expect(200);
    const regions = (res.body as { items: AppRegionsView[] }).items.find((a) => a.app === fx.app)!.regions;
    return Object.fromEntries(regions.map((r) => [r.region, { state: r.state, since: r.since }]));
  }

  function becomes(region: string, state: RegionState) {
    return waitFor(
      async () => {
        const r = (await regionStates())[region]!;
        return r.state === state ? r : false;
      },
      { what: `${region} ${state}`, timeoutMs: WAIT_MS, intervalMs: 50 },
    );
  }

  /** Stops a region's demo instance as a crash would: no new connections, open ones cut. */
  async function kill(region: string): Promise<void> {
    const server = fx.regions.find((r) => r.name === region)!.server;
    const closed = new Promise((res) => server.close(res));
    server.closeAllConnections();
    await closed;
  }

  /** The failover the trigger opened for this down transition (the newest failover of the app). */
  function triggeredFailover(after: number) {
    return waitFor(
      async () => {
        const res = await h
          .http()
          .get(`/v1/operations?app=${fx.app}&kind=failover`)
          .set(h.as(fx.tokens.viewer))
          .expect(200);
        const ops = (res.body as { items: OperationStatus[] }).items;
        return ops.find((o) => Date.parse(o.startedAt) >= after) ?? false;
      },
      { what: 'a failover opened by the region monitor', timeoutMs: WAIT_MS, intervalMs: 100 },
    );
  }

  /** One request on its own connection (a restarted instance must not see a pooled, closed one). */
  const write = (region: string) =>
    new Promise<{ status: number; body: { error?: string; epoch?: number } }>((resolve, reject) => {
      const url = fx.regions.find((r) => r.name === region)!.url;
      const req = request(`${url}/writes`, { method: 'POST', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end('{"value":"x"}');
    });

  it('manual mode: the active region down opens an unplanned failover that waits for approval', async () => {
    await becomes('east', 'healthy');
    await becomes('west', 'healthy');
    const killedAt = Date.now();
    await kill('east');
    const down = await becomes('east', 'down');

    const opened = await triggeredFailover(killedAt);
    const op = await h.phase(opened.operationId, (p) => p === 'AwaitingApproval', 'to await approval');
    const spec = op.spec as FailoverSpec;
    assert.equal(op.requestedBy, 'system:region-monitor');
    assert.equal(spec.mode, 'unplanned');
    assert.equal(spec.to, 'west');
    assert.match(spec.reason, /^manual failover: active region east down since .*vantage points/);
    const trigger = spec.trigger as FailoverTrigger;
    assert.equal(trigger.failoverMode, 'manual');
    assert.equal(trigger.region, 'east');
    assert.equal(trigger.downSince, down.since);
    assert.ok(trigger.votes.down >= 2, JSON.stringify(trigger.votes));
    assert.equal(trigger.automatic, undefined);
    assert.equal(op.facts.automaticDecision, undefined, 'manual mode takes no automatic decision');

    const requested = await waitFor(
      () =>
        receiver.requests.find(
          (r) => r.body.event === 'approval.requested' && r.body.payload.operationId === op.operationId,
        ) ?? false,
      { what: 'approval.requested delivered to the approvers', timeoutMs: 30_000 },
    );
    assert.equal(requested.body.payload.requestedBy, 'system:region-monitor');

    const triggered = await h.audit(`action=failover.triggered`);
    const mine = triggered.find(
      (e) => (e.details as { operationId?: string }).operationId === op.operationId,
    );
    assert.ok(mine, 'the trigger is in the audit log');
    assert.equal(mine.actor, 'system:region-monitor');

    const rejected = await h.decide(op.operationId, fx.tokens.approver, 'reject', 'manual test: not now');
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    await h.phase(op.operationId, (p) => p === 'Rejected', 'to be rejected');
    assert.deepEqual(await fx.powerDnsA(), [fx.regions[0]!.ip], 'a rejected failover changed nothing');

    await fx.restartDemo('east');
    await becomes('east', 'healthy');
  });

  it('automatic mode: the failover runs without anyone, DNS ends on the standby, the old primary stays halted', async () => {
    const app = fx.config.apps[fx.app]!;
    app.failover = {
      ...app.failover,
      mode: 'automatic',
      automatic: { downForSeconds: 1, requireStandbyHealthy: true, approvalWaitSeconds: 0 },
    };
    await becomes('east', 'healthy');
    await becomes('west', 'healthy');
    await waitFor(async () => (await write('east')).status === 201, { what: 'east to accept writes' });

    const killedAt = Date.now();
    await kill('east');
    const down = await becomes('east', 'down');
    const detectedMs = Date.parse(down.since!) - killedAt;

    const opened = await triggeredFailover(killedAt);
    const op = await h.phase(
      opened.operationId,
      (p) => p === 'Completed' || p === 'Failed' || p === 'CompensationFailed',
      'to finish',
      WAIT_MS,
    );
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error ?? op.steps));
    const west = fx.regions[1]!.ip;
    await waitFor(
      async () => {
        const a = await fx.powerDnsA();
        return a.length === 1 && a[0] === west;
      },
      { what: 'PowerDNS to answer the standby', timeoutMs: 10_000 },
    );
    const dnsMs = Date.now() - killedAt;

    const spec = op.spec as FailoverSpec;
    assert.equal(op.requestedBy, 'system:region-monitor');
    assert.equal(spec.trigger?.failoverMode, 'automatic');
    const decision = op.facts.automaticDecision as AutomaticDecision;
    assert.equal(decision.outcome, 'proceed');
    assert.equal(decision.facts.activeRegion, 'east');
    assert.equal(decision.facts.standbyRegion, 'west');
    assert.ok(
      decision.checks.every((c) => c.ok),
      JSON.stringify(decision.checks),
    );
    assert.deepEqual(op.approval?.approvedBy, ['system:automatic']);
    assert.equal(
      op.approval?.decisions.some((d) => d.principal !== 'system:automatic'),
      false,
      'nobody else decided',
    );
    const decided = await h.audit(
      `target=operation:${encodeURIComponent(op.operationId)}&action=failover.automatic-decision`,
    );
    assert.equal(decided.length, 1);

    // The old primary comes back: it stays halted and refuses writes.
    await fx.restartDemo('east');
    const refused = await waitFor(
      async () => {
        const r = await write('east').catch(() => undefined);
        return r && r.status !== 0 ? r : false;
      },
      { what: 'the restarted east instance to answer' },
    );
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'fenced');
    await becomes('east', 'halted');
    const target = encodeURIComponent(`region:${fx.app}/east`);
    await waitFor(async () => (await h.audit(`target=${target}&action=region.halted-returned`)).length > 0, {
      what: 'the API to notice east answering again',
      timeoutMs: WAIT_MS,
    });
    assert.equal((await regionStates()).east!.state, 'halted', 'healthy probes do not unhalt it');
    assert.equal((await write('west')).status, 201, 'the standby is the writer');
    console.log(`automatic failover: detection ${detectedMs} ms, kill to DNS on the standby ${dnsMs} ms`);
  });
});
