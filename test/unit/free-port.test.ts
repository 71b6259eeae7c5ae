import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBindable, freePort } from '../../infra/stack/free-port';

/*
 * freePort hands out a port once per process. The kernel gives a released port to the next bind
 * of port 0 quite often (553 repeats in 3000 binds in a row on this machine), and the stack starts
 * its servers one after another and in parallel: two of them got the same port and the Temporal
 * dev server died with "bind: address already in use".
 */
describe('free ports', () => {
  it('never hands out the same port twice, one after another or at once', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 500; i++) ports.push(await freePort());
    ports.push(...(await Promise.all(Array.from({ length: 100 }, () => freePort()))));
    assert.equal(new Set(ports).size, ports.length, 'every port is distinct');
    await assertBindable('127.0.0.1', ports[ports.length - 1]!);
  });
});
