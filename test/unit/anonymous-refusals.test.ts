import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnonymousRefusals } from '../../apps/api/common/anonymous-refusals';
import type { AuthenticatedRequest } from '../../apps/api/common/auth.guard';
import { Metrics } from '../../apps/api/system/metrics';
import type { AuditEventInput, AuditStore } from '../../infra/audit/audit.port';

/** The audit store's append only (a port fake: this is the sampling rule, not the store). */
function fakeStore(fail = false): { store: AuditStore; appended: AuditEventInput[] } {
  const appended: AuditEventInput[] = [];
  const store = {
    append: (e: AuditEventInput) => {
      if (fail) return Promise.reject(new Error('store down'));
      appended.push(e);
      return Promise.resolve({} as never);
    },
  } as unknown as AuditStore;
  return { store, appended };
}

function request(ip: string, reason = 'r'): AuthenticatedRequest {
  return {
    ip,
    method: 'POST',
    path: '/v1/apps/shop/failovers',
    route: { path: '/v1/apps/:app/failovers' },
    params: { app: 'shop' },
    query: {},
    body: { reason },
    requestId: `req-${ip}-${reason}`,
    socket: {},
  } as unknown as AuthenticatedRequest;
}

async function counted(metrics: Metrics): Promise<number> {
  return (await metrics.anonymousRefused.get()).values.reduce((n, v) => n + v.value, 0);
}

describe('anonymous refusals', () => {
  it('counts every refusal and samples one event per source and minute, with the count since the last', async () => {
    const { store, appended } = fakeStore();
    const metrics = new Metrics();
    const sampler = new AnonymousRefusals(store, metrics);
    let now = 1_000_000;
    sampler.now = () => now;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        sampler.refused(request('10.0.0.1', `a${i}`), 401, { error: 'unauthorized' }),
      ),
    );
    await sampler.refused(request('10.0.0.2'), 401, { error: 'unauthorized' });
    now += 59_999;
    await sampler.refused(request('10.0.0.1', 'late'), 401, { error: 'unauthorized' });
    assert.deepEqual(
      appended.map((e) => [e.details?.source, e.details?.count, e.reason]),
      [
        ['10.0.0.1', 1, 'a0'],
        ['10.0.0.2', 1, 'r'],
      ],
    );
    now += 1;
    await sampler.refused(request('10.0.0.1', 'next minute'), 401, { error: 'unauthorized' });
    assert.deepEqual(appended.at(-1)?.details?.count, 51, 'the 49 + 1 unsampled ones and this one');
    assert.equal(appended.at(-1)?.reason, 'next minute');
    assert.equal(appended.at(-1)?.actor, 'anonymous');
    assert.equal(appended.at(-1)?.action, 'failover.request');
    assert.equal(await counted(metrics), 53);
  });

  it('cuts long text and never throws when the store is down', async () => {
    const down = fakeStore(true);
    const metrics = new Metrics();
    await new AnonymousRefusals(down.store, metrics).refused(request('10.0.0.3'), 401, {
      error: 'unauthorized',
    });
    assert.equal(
      (await metrics.auditAppendFailures.get()).values.find((v) => v.labels.kind === 'sample')?.value,
      1,
    );

    const up = fakeStore();
    await new AnonymousRefusals(up.store, new Metrics()).refused(request('10.0.0.4', 'x'.repeat(5000)), 401, {
      error: 'unauthorized',
    });
    assert.equal(up.appended[0]!.reason!.length, 201);
  });
});
