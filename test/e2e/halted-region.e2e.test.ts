import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AppRegionsView } from '../../apps/api/regions/region-health.service';
import type { AppView } from '../../apps/api/apps/apps.service';
import { createControlActivities, type ControlActivities } from '../../infra/activities/control.activities';
import { freePort } from '../../infra/stack/free-port';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import type { ControlChange } from '../../workflows/control';
import { appControllerWorkflowId } from '../../workflows/definitions';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * GET /v1/apps/{app} shows the app controller's state (from the controller, or from the buckets
 * when Temporal does not answer), and a region the control state lists as halted is reported
 * `halted` whatever its probes say; when its probes turn healthy again the API records and
 * announces `region.halted-returned` and keeps it halted. Monitors are played by posting their
 * reports (POST /v1/monitor/reports), as monitor processes do.
 */
describe('app control state and halted regions in the API', () => {
  let h: ApiHarness;
  let control: ControlActivities;
  let store: ControlStateStore;
  const receiver = new WebhookReceiver();
  const OP = 'shop-failover-1';
  let seq = 0;

  const apply = (change: ControlChange) =>
    control.applyControlChange({ app: h.fx.app, requestId: `r${++seq}`, change });
  const appView = async (api = h.api) =>
    (await h.http(api).get(`/v1/apps/${h.fx.app}`).set(h.as(h.fx.tokens.viewer)).expect(200)).body as AppView;
  const regionStates = async () => {
    const res = await h.http().get('/v1/regions').set(h.as(h.fx.tokens.viewer)).expect(200);
    const app = (res.body as { items: AppRegionsView[] }).items.find((a) => a.app === h.fx.app)!;
    return Object.fromEntries(app.regions.map((r) => [r.region, r.state]));
  };
  const report = (vantage: string, region: string, verdict: 'up' | 'down') =>
    h
      .http()
      .post('/v1/monitor/reports')
      .set(h.as(h.fx.monitorToken(vantage)))
      .send({
        app: h.fx.app,
        vantage,
        region,
        verdict,
        at: new Date().toISOString(),
        latencyMs: 2,
        reason: verdict === 'up' ? 'HTTP 200' : 'connection refused',
      })
      .expect(200);

  before(async () => {
    await receiver.start();
    const fx = await startAppFixture({
      notifications: {
        webhooks: [
          {
            url: receiver.url,
            secret: receiver.secret,
            events: ['region.state-changed', 'region.halted-returned'],
          },
        ],
      },
    });
    h = new ApiHarness(fx);
    await h.start({ listen: true });
    store = new ControlStateStore(fx.config);
    control = createControlActivities({ config: fx.config, controlState: store, temporal: fx.temporal });
  });

  after(async () => {
    const client = await h?.fx.temporal();
    await client?.workflow
      .getHandle(appControllerWorkflowId(h.fx.app))
      .terminate('test over')
      .catch(() => undefined);
    store?.close();
    await h?.stop();
    await receiver.stop();
  });

  it('before any change: the configuration, and says there is no controller yet', async () => {
    const v = await appView();
    assert.equal(v.control.source, 'config');
    assert.match(v.control.fallbackReason ?? '', /no controller yet/);
    assert.equal(v.control.state.writer, 'east');
    assert.deepEqual(v.control.state.halted, []);
    assert.equal(v.activeRegion, 'east');
  });

  it("shows the controller's state: active region, epoch, writer, halted, current operation, recent changes", async () => {
    await apply({ type: 'claim', operationId: OP });
    await apply({ type: 'fence', region: 'east', operationId: OP });
    await apply({ type: 'promote', region: 'west', operationId: OP });
    await apply({ type: 'activate', region: 'west', operationId: OP });
    const v = await appView();
    assert.equal(v.control.source, 'controller');
    assert.equal(v.control.fallbackReason, undefined);
    assert.equal(v.activeRegion, 'west');
    assert.equal(v.epoch, 1);
    assert.deepEqual(
      {
        writer: v.control.state.writer,
        halted: v.control.state.halted,
        current: v.control.currentOperation,
      },
      { writer: 'west', halted: ['east'], current: OP },
    );
    assert.deepEqual(
      v.control.transitions.map((t) => t.change.type),
      ['activate', 'promote', 'fence', 'claim'],
      'newest first',
    );
    assert.equal(v.regions.find((r) => r.name === 'east')!.state, 'halted');
    assert.equal(v.regions.find((r) => r.name === 'west')!.role, 'active');
    const metrics = (await h.http().get('/metrics').expect(200)).text;
    for (const line of [
      `switchyard_control_epoch{app="${h.fx.app}"} 1`,
      `switchyard_control_writer{app="${h.fx.app}",region="west"} 1`,
      `switchyard_control_writer{app="${h.fx.app}",region="east"} 0`,
      `switchyard_region_state{app="${h.fx.app}",region="east",state="halted"} 1`,
    ]) {
      assert.ok(metrics.includes(line), `${line} in /metrics`);
    }
    const cli = await h.cli(h.fx.tokens.viewer, 'apps', 'show', h.fx.app);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /fencing epoch 1\nwriter west, halted east \(from the controller\)/);
    assert.match(cli.stdout, /east\s*\S\s*standby\s*\S\s*halted/);
  });

  it('falls back to the buckets when Temporal is unreachable, and says so', async () => {
    const port = await freePort();
    const api = await h.extraApi({
      ...h.fx.config,
      temporal: { ...h.fx.config.temporal, address: `127.0.0.1:${port}`, connectTimeoutSeconds: 1 },
    });
    const v = await appView(api);
    assert.equal(v.control.source, 'buckets');
    assert.match(v.control.fallbackReason ?? '', /Temporal did not answer/);
    assert.deepEqual(v.control.state.halted, ['east']);
    assert.equal(v.control.state.writer, 'west');
    assert.equal(v.epoch, 1);
    assert.deepEqual(v.control.transitions, []);
  });

  it('keeps a returning old primary halted, audits it and notifies', async () => {
    assert.equal((await regionStates()).east, 'halted');
    // Both vantage points (east, west: the default quorum) saw east go down, then come back.
    await report('east', 'east', 'down');
    await report('west', 'east', 'down');
    await report('west', 'west', 'up');
    await report('east', 'west', 'up');
    assert.equal((await regionStates()).east, 'halted', 'down votes do not move a halted region');
    await report('east', 'east', 'up');
    await report('west', 'east', 'up');
    assert.deepEqual(await regionStates(), { east: 'halted', west: 'healthy' });
    const target = `region:${h.fx.app}/east`;
    const events = await h.audit(`target=${encodeURIComponent(target)}&action=region.halted-returned`);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.actor, 'monitor:west');
    assert.match(events[0]!.reason ?? '', /stays halted until a failback/);
    const note = await waitFor(
      () => receiver.requests.find((r) => r.body.event === 'region.halted-returned'),
      { what: 'region.halted-returned at the webhook' },
    );
    assert.equal(note.body.payload.app, h.fx.app);
    assert.equal(note.body.payload.region, 'east');
    assert.equal(note.body.payload.state, 'halted');
    // Staying up is not a second return.
    await report('east', 'east', 'up');
    const again = await h.audit(`target=${encodeURIComponent(target)}&action=region.halted-returned`);
    assert.equal(again.length, 1);
    assert.equal((await appView()).regions.find((r) => r.name === 'east')!.state, 'halted');
  });

  it('a failback (unfence) lifts halted; the region is not healthy before flap damping', async () => {
    await apply({ type: 'unfence', region: 'east', operationId: 'shop-failback-1' });
    const states = await waitFor(
      async () => {
        const s = await regionStates();
        return s.east !== 'halted' ? s : false;
      },
      { what: 'east to leave halted' },
    );
    assert.equal(states.east, 'degraded');
    const lifted = await h.audit(
      `target=${encodeURIComponent(`region:${h.fx.app}/east`)}&action=region.state-changed`,
    );
    assert.ok(
      lifted.some((e) => e.details.from === 'halted' && /unfenced/.test(String(e.details.reason))),
      JSON.stringify(lifted.map((e) => e.details)),
    );
  });
});
