import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../infra/config/config.loader';
import { configSchema } from '../../infra/config/config.schema';

const yaml = `
dnsProviders:
  pdns: { type: powerdns, apiUrl: http://127.0.0.1:1, apiKey: k }
apps:
  shop:
    regions:
      - name: east
        role: active
        healthUrl: http://127.0.0.1:1/healthz
        bucket: { name: east-bucket, endpoint: http://127.0.0.1:1, accessKeyId: ak, secretAccessKey: s }
        dns: { target: 10.0.0.1 }
      - name: west
        role: standby
        healthUrl: http://127.0.0.1:1/healthz
        bucket: { name: west-bucket, endpoint: http://127.0.0.1:1, accessKeyId: ak, secretAccessKey: s }
        dns: { target: 10.0.0.2 }
    dns: { records: [{ provider: pdns, zone: shop.test, name: www.shop.test }] }
    verify: { url: http://www.shop.test/healthz }
`;

/** Names from a request are looked up in these records: an inherited member must not answer. */
describe('records keyed by name in the configuration', () => {
  const config = parseConfig(yaml, 'test.yaml', {});
  const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

  it('find nothing for prototype names (apps, dnsProviders)', () => {
    for (const n of PROTOTYPE_NAMES) {
      assert.equal(config.apps[n], undefined, `apps["${n}"]`);
      assert.equal(config.dnsProviders[n], undefined, `dnsProviders["${n}"]`);
      assert.equal(n in config.apps, false, `"${n}" in apps`);
    }
    assert.ok(config.apps.shop, 'a configured app is still found');
    assert.deepEqual(Object.keys(config.apps), ['shop']);
  });

  it('have no prototype, also when defaulted', () => {
    assert.equal(Object.getPrototypeOf(config.apps), null);
    assert.equal(Object.getPrototypeOf(config.dnsProviders), null);
    assert.equal(Object.getPrototypeOf(configSchema.shape.dnsProviders.parse(undefined)), null);
  });
});
