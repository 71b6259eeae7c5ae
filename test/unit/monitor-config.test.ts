import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { monitorConfigFromEnv, MonitorConfigError } from '../../infra/health/monitor-config';

/** Where a monitor process takes its settings: switchyard.yaml's apps.<app>, or a file of its own. */

const dir = mkdtempSync(join(tmpdir(), 'monitor-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MAIN = `
temporal: { address: 127.0.0.1:7233 }
database: { url: "\${DATABASE_URL}" }
apps:
  shop:
    regions:
      - name: east
        healthUrl: "http://\${EAST_HOST:-10.0.0.1}:8080/healthz"
        dns: { target: 10.0.0.1 }
      - name: west
        healthUrl: http://10.0.0.2:8080/healthz
        dns: { target: 10.0.0.2 }
    monitoring:
      recoverAfterSeconds: 12
      reportEverySeconds: 2
      vantagePoints: [v-east, v-west, v-third]
      targets:
        west: { tcp: "10.0.0.2:5432" }
  blog:
    regions:
      - { name: north, healthUrl: http://10.0.1.1/healthz }
`;

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('monitor configuration', () => {
  const main = file('switchyard.yaml', MAIN);

  it("reads apps.<app>.monitoring and the regions' health URLs from switchyard.yaml, without the file's other secrets", () => {
    // DATABASE_URL is not set: the monitor does not need it.
    const c = monitorConfigFromEnv({
      SWITCHYARD_CONFIG: main,
      SWITCHYARD_MONITOR_APP: 'shop',
      EAST_HOST: '10.9.9.9',
    });
    assert.deepEqual(c.targets, {
      east: { http: 'http://10.9.9.9:8080/healthz' },
      west: { tcp: '10.0.0.2:5432' },
    });
    assert.deepEqual(c.vantagePoints, ['v-east', 'v-west', 'v-third']);
    assert.equal(c.settings.recoverAfterSeconds, 12);
    assert.equal(c.settings.reportEverySeconds, 2);
    assert.equal(c.settings.sameSite.failureThreshold, 4, 'defaults as the API resolves them');
    assert.match(c.source, /apps\.shop/);

    const blog = monitorConfigFromEnv({ SWITCHYARD_CONFIG: main, SWITCHYARD_MONITOR_APP: 'blog' });
    assert.deepEqual(blog.targets, { north: { http: 'http://10.0.1.1/healthz' } });
    assert.deepEqual(blog.vantagePoints, ['north'], 'one vantage point per region by default');
  });

  it('SWITCHYARD_MONITOR_SETTINGS, when set, wins over SWITCHYARD_CONFIG', () => {
    const own = file(
      'own.json',
      JSON.stringify({ monitoring: { targets: { a: { http: 'http://127.0.0.1:1/h' } } } }),
    );
    const c = monitorConfigFromEnv({
      SWITCHYARD_CONFIG: main,
      SWITCHYARD_MONITOR_APP: 'shop',
      SWITCHYARD_MONITOR_SETTINGS: own,
    });
    assert.deepEqual(Object.keys(c.targets), ['a']);
    assert.equal(c.source, own);
  });

  it('says what is missing or wrong, naming the variable or the path', () => {
    const fails = (env: NodeJS.ProcessEnv, re: RegExp) =>
      assert.throws(
        () => monitorConfigFromEnv(env),
        (err: Error) => err instanceof MonitorConfigError && re.test(err.message),
      );
    fails(
      {},
      /set SWITCHYARD_CONFIG \(switchyard\.yaml\) and SWITCHYARD_MONITOR_APP, or SWITCHYARD_MONITOR_SETTINGS/,
    );
    fails({ SWITCHYARD_CONFIG: main }, /SWITCHYARD_MONITOR_APP is not/);
    fails(
      { SWITCHYARD_CONFIG: main, SWITCHYARD_MONITOR_APP: 'nope' },
      /no app "nope" in .*\(apps: shop, blog\)/,
    );
    fails({ SWITCHYARD_CONFIG: join(dir, 'missing.yaml'), SWITCHYARD_MONITOR_APP: 'shop' }, /file not found/);
    const bad = file(
      'bad.yaml',
      MAIN.replace('recoverAfterSeconds: 12', 'recoverAfterSeconds: -1').replace(
        'west: { tcp: "10.0.0.2:5432" }',
        'south: { tcp: "10.0.0.2:5432" }',
      ),
    );
    fails(
      { SWITCHYARD_CONFIG: bad, SWITCHYARD_MONITOR_APP: 'shop' },
      /apps\.shop\.monitoring\.recoverAfterSeconds/,
    );
    const south = file(
      'south.yaml',
      MAIN.replace('west: { tcp: "10.0.0.2:5432" }', 'south: { tcp: "10.0.0.2:5432" }'),
    );
    fails(
      { SWITCHYARD_CONFIG: south, SWITCHYARD_MONITOR_APP: 'shop' },
      /apps\.shop\.monitoring\.targets\.south: unknown region "south"/,
    );
    const env = file('env.yaml', MAIN.replace('http://10.0.0.2:8080/healthz', '"${WEST_URL}"'));
    fails(
      { SWITCHYARD_CONFIG: env, SWITCHYARD_MONITOR_APP: 'shop' },
      /apps\.shop\.regions\[1\]\.healthUrl: environment variable WEST_URL is not set/,
    );
    fails({ SWITCHYARD_MONITOR_SETTINGS: file('empty.json', '{"monitoring":{}}') }, /monitoring\.targets/);
  });
});
