import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDemoApp } from '../../apps/demo/demo-app';

describe('demo app', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-demo-'));
  const server = createDemoApp({ region: 'east', stateDir, log: () => undefined });
  let base = '';

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(stateDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('reports healthy, unfenced, epoch 0 at first start', async () => {
    assert.deepEqual(await call('GET', '/healthz'), {
      status: 200,
      body: { status: 'ok', region: 'east', fenced: false, epoch: 0 },
    });
  });

  it('accepts writes until fenced, refuses them while fenced, accepts again after unfence', async () => {
    assert.equal((await call('POST', '/writes', { value: 'a' })).status, 201);

    assert.deepEqual((await call('POST', '/fence', { epoch: 2 })).body, {
      region: 'east',
      fenced: true,
      epoch: 2,
    });
    const refused = await call('POST', '/writes', { value: 'b' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'fenced');
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200, 'healthz stays 200 while fenced');
    assert.deepEqual(health.body, { status: 'ok', region: 'east', fenced: true, epoch: 2 });

    assert.equal((await call('POST', '/unfence', { epoch: 1 })).status, 409, 'an older epoch cannot unfence');
    assert.equal((await call('POST', '/unfence', { epoch: 3 })).status, 200);
    assert.equal((await call('POST', '/writes', { value: 'c' })).status, 201);

    const writes = (await call('GET', '/writes')).body.writes as { value: unknown }[];
    assert.deepEqual(
      writes.map((w) => w.value),
      ['a', 'c'],
    );
  });

  it('keeps the fence across a restart', async () => {
    await call('POST', '/fence', { epoch: 4 });
    const again = createDemoApp({ region: 'east', stateDir, log: () => undefined });
    await new Promise<void>((resolve) => again.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(again.address() as AddressInfo).port}/writes`, {
        method: 'POST',
        body: JSON.stringify({ value: 'd' }),
      });
      assert.equal(res.status, 409);
    } finally {
      await new Promise((resolve) => again.close(resolve));
    }
  });

  it('answers 503 only when toggled unhealthy', async () => {
    await call('POST', '/admin/unhealthy');
    assert.equal((await call('GET', '/healthz')).status, 503);
    await call('POST', '/admin/healthy');
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  it('rejects malformed JSON and unknown routes', async () => {
    const bad = await fetch(`${base}/writes`, { method: 'POST', body: '{' });
    assert.equal(bad.status, 400);
    assert.equal((await call('GET', '/nope')).status, 404);
  });
});
