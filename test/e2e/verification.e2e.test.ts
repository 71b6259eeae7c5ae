import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { AppView } from '../../apps/api/apps/apps.service';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import type { RestorePointView } from '../../infra/backup/catalog';
import type { RestorePointManifest } from '../../infra/backup/manifest';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import type { OperationStatus } from '../../workflows/operation';
import type { VerificationFinding, VerificationStatus } from '../../workflows/verification';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Verification end to end: restore points taken through the API, then broken in the buckets the
 * way storage breaks (one byte flipped, an artifact gone, a manifest gone, an artifact rotten in
 * every region); a verification finds each with its type, repairs what a good copy exists for
 * (bytes identical afterwards, audited), marks the rest unrecoverable (catalog, restore refused),
 * and a verification schedule's run shows in the app's status.
 */
describe('verification end to end', () => {
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

  const ended = (id: string, timeoutMs = 120_000) =>
    h.phase(id, (p) => !['Running', 'Compensating', 'AwaitingApproval'].includes(p), 'to end', timeoutMs);

  async function take(): Promise<RestorePointManifest> {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'to be verified' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId, restorePointId } = res.body as { operationId: string; restorePointId: string };
    const op = await ended(operationId);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    return (await store.readManifest(h.fx.app, 'east', restorePointId))!;
  }

  async function read(region: string, key: string): Promise<Buffer> {
    const { body } = await store.open(h.fx.app, region, key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** Rewrites the object with one byte changed: same size, another SHA-256. */
  async function flipOneByte(region: string, key: string): Promise<void> {
    const bytes = await read(region, key);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await store.upload(h.fx.app, region, key, Readable.from([bytes]));
  }

  async function remove(region: string, key: string): Promise<void> {
    const p = store.place(h.fx.app, region);
    await store.io.deleteObject(p.bucket, p.folder + key);
  }

  async function verify(): Promise<OperationStatus> {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/verifications`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'end-to-end verification' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return ended((res.body as { operationId: string }).operationId);
  }

  type Result = { restorePointId: string; status: VerificationStatus; findings: VerificationFinding[] };

  test('finds, types and repairs broken copies; marks the unrecoverable one; audits every repair', async () => {
    const lost = await take();
    const noManifest = await take();
    const broken = await take();
    const orders = (m: RestorePointManifest) => m.services.find((s) => s.name === 'orders')!.artifact;
    const ledger = (m: RestorePointManifest) => m.services.find((s) => s.name === 'ledger')!.artifact;

    await flipOneByte('east', orders(broken).key);
    await remove('west', ledger(broken).key);
    await remove('west', `manifests/${noManifest.id}.json`);
    await flipOneByte('east', orders(lost).key);
    await flipOneByte('west', orders(lost).key);

    const op = await verify();
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.equal(op.kind, 'verification');
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['inventory', 'Completed'],
        ['verify', 'Completed'],
        ['repair', 'Completed'],
        ['record', 'Completed'],
        ['test-restore', 'Skipped'],
      ],
    );
    const results = op.facts.results as Result[];
    const of = (id: string) => results.find((r) => r.restorePointId === id)!;
    const typed = (r: Result) =>
      r.findings.map((f) => [f.type, f.region, f.key, f.repaired, f.repairedFrom ?? null]).sort();

    assert.equal(of(broken.id).status, 'repaired');
    assert.deepEqual(
      typed(of(broken.id)),
      [
        ['corrupt', 'east', orders(broken).key, true, 'west'],
        ['missing', 'west', ledger(broken).key, true, 'east'],
      ].sort(),
    );
    assert.equal(of(noManifest.id).status, 'repaired');
    assert.deepEqual(typed(of(noManifest.id)), [
      ['missing', 'west', `manifests/${noManifest.id}.json`, true, 'east'],
    ]);
    assert.equal(of(lost.id).status, 'unrecoverable');
    assert.deepEqual(
      typed(of(lost.id)),
      [
        ['corrupt', 'east', orders(lost).key, false, null],
        ['corrupt', 'west', orders(lost).key, false, null],
      ].sort(),
    );

    // Repaired bytes are the manifest's bytes, in both regions; the manifest is back, identical.
    for (const a of [orders(broken), ledger(broken)]) {
      for (const region of ['east', 'west']) {
        const got = await store.hash(h.fx.app, region, a.key);
        assert.deepEqual({ size: got.size, sha256: got.sha256 }, { size: a.size, sha256: a.sha256 }, region);
      }
    }
    assert.deepEqual(await store.readManifest(h.fx.app, 'west', noManifest.id), noManifest);

    // Every repair is an audit event.
    const repairs = await h.audit('action=restore-point.repaired');
    assert.deepEqual(
      repairs.map((e) => [e.outcome, e.details.restorePointId, e.details.region, e.details.key]).sort(),
      [
        ['succeeded', broken.id, 'east', orders(broken).key],
        ['succeeded', broken.id, 'west', ledger(broken).key],
        ['succeeded', noManifest.id, 'west', `manifests/${noManifest.id}.json`],
      ].sort(),
    );
    assert.equal((await h.audit('action=restore-point.unrecoverable')).length, 1);

    // The catalog says so, and the unrecoverable restore point is never restored from.
    const list = await h
      .http()
      .get(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    const items = (list.body as { items: RestorePointView[] }).items;
    const status = (id: string) => items.find((i) => i.id === id)?.verification?.status;
    assert.deepEqual(
      [status(broken.id), status(noManifest.id), status(lost.id)],
      ['repaired', 'repaired', 'unrecoverable'],
    );
    assert.equal(items.find((i) => i.id === noManifest.id)?.complete, true);
    const refused = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restores`)
      .set(h.as(h.fx.tokens.operator))
      .send({ restorePointId: lost.id, region: 'west', reason: 'must be refused' });
    assert.deepEqual([refused.status, refused.body.error], [409, 'restore-point-unrecoverable']);

    // The CLI shows the latest results from the catalog.
    const shown = await h.cli(h.fx.tokens.viewer, 'verify', h.fx.app);
    assert.equal(shown.code, 0, shown.stderr);
    const line = (id: string) => shown.stdout.split('\n').find((l) => l.includes(id)) ?? '';
    assert.match(line(lost.id), /unrecoverable/);
    assert.match(line(broken.id), /repaired/);

    // `verify --now` runs one and follows it; it exits non-zero while a restore point is unrecoverable.
    const now = await h.cli(h.fx.tokens.operator, 'verify', h.fx.app, '--now', '--reason', 'cli check');
    assert.equal(now.code, 1, now.stderr + now.stdout);
    assert.match(now.stdout, /^started /m);
    assert.match(now.stdout, /Completed/);
    assert.match(now.stdout.split('\n').find((l) => l.includes(lost.id)) ?? '', /unrecoverable/);
  });

  test('a manifest that differs in one region is a manifest-mismatch, rewritten from the region whose artifacts confirm it', async () => {
    const m = await take();
    const orders = m.services.find((s) => s.name === 'orders')!.artifact;
    // West's manifest claims another checksum for orders: its own artifacts do not confirm it.
    const forged: RestorePointManifest = {
      ...m,
      services: m.services.map((s) =>
        s.name === 'orders' ? { ...s, artifact: { ...s.artifact, sha256: 'f'.repeat(64) } } : s,
      ),
    };
    await store.writeManifest(h.fx.app, 'west', forged);

    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/verifications`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'manifest mismatch', depth: 1 });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const op = await ended((res.body as { operationId: string }).operationId);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    const [result] = op.facts.results as Result[];
    assert.equal(result!.restorePointId, m.id);
    assert.equal(result!.status, 'repaired');
    assert.deepEqual(
      result!.findings.map((f) => [f.type, f.region, f.key, f.repaired, f.repairedFrom ?? null]),
      [['manifest-mismatch', 'west', `manifests/${m.id}.json`, true, 'east']],
    );
    assert.deepEqual(await store.readManifest(h.fx.app, 'west', m.id), m);
    const got = await store.hash(h.fx.app, 'west', orders.key);
    assert.equal(got.sha256, orders.sha256, 'the artifact itself was never touched');
    const repairs = await h.audit('action=restore-point.repaired');
    assert.ok(
      repairs.some((e) => e.details.restorePointId === m.id && e.details.key === `manifests/${m.id}.json`),
      'the manifest repair is audited',
    );
  });

  test('a verification schedule created through the API runs, and its result shows in the app status', async () => {
    const created = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/schedules`)
      .set(h.as(h.fx.tokens.operator))
      .send({ kind: 'verification', everySeconds: 86_400, paused: true, reason: 'nightly verification' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((created.body as ScheduleView).name, 'verification');
    await h
      .http()
      .post(`/v1/apps/${h.fx.app}/schedules/verification/trigger`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'now' })
      .expect(202);
    const view = await waitFor(
      async () => {
        const res = await h
          .http()
          .get(`/v1/apps/${h.fx.app}/schedules/verification`)
          .set(h.as(h.fx.tokens.viewer));
        const s = res.body as ScheduleView;
        return s.lastResult?.phase && s.lastResult.phase !== 'Running' ? s : false;
      },
      { what: 'the verification schedule run to end', timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.equal(view.lastResult?.phase, 'Completed', JSON.stringify(view.lastResult));
    const op = await h.operation(view.lastResult!.operationId!);
    assert.equal(op.kind, 'verification');
    assert.equal(op.requestedBy, 'schedule:' + view.scheduleId);

    const app = (await h.http().get(`/v1/apps/${h.fx.app}`).set(h.as(h.fx.tokens.viewer)).expect(200))
      .body as AppView;
    const rp = app.restorePoints!;
    assert.ok(rp.newest && rp.newestVerified, JSON.stringify(rp));
    assert.equal(rp.newestVerified.id, rp.newest.id);
    assert.ok(Date.parse(rp.newestVerified.verifiedAt) >= Date.parse(op.startedAt));
    assert.equal(rp.rpoMet, true);
    assert.equal(rp.verifiedRpoMet, true);
    assert.equal(rp.unrecoverable.length, 1);
  });
});
