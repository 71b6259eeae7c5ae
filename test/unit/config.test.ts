import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, loadConfigFile, parseConfig } from '../../infra/config/config.loader';
import {
  monitoringTargets,
  monitoringVantagePoints,
  softDeleteWindowSeconds,
} from '../../infra/config/config.schema';
import { deleteApproval } from '../../apps/api/operations/delete-approval';
import { ControlStateStore } from '../../infra/storage/control-state.store';

const EXAMPLE = path.resolve(__dirname, '../../../examples/switchyard.yaml');
const ENV = {
  PDNS_API_KEY: 'pdns-secret-key-value',
  EAST_S3_ACCESS_KEY: 'east-ak',
  EAST_S3_SECRET_KEY: 'east-secret-value',
  WEST_S3_ACCESS_KEY: 'west-ak',
  WEST_S3_SECRET_KEY: 'west-secret-value',
  ORDERS_DB_PASSWORD: 'orders-db-secret',
  LEDGER_HOOK_TOKEN: 'ledger-hook-secret',
};

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function example(): Doc {
  return parse(readFileSync(EXAMPLE, 'utf8')) as Doc;
}

function issuesOf(doc: Doc | string, env: NodeJS.ProcessEnv = ENV): string[] {
  try {
    parseConfig(typeof doc === 'string' ? doc : stringify(doc), 'test.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('configuration', () => {
  it('accepts the shipped example and fills defaults', () => {
    const cfg = loadConfigFile(EXAMPLE, ENV);
    const shop = cfg.apps.shop!;
    assert.equal(shop.regions.length, 2);
    assert.equal(shop.dns.waitForTtl, true);
    assert.equal(shop.regions[0]!.bucket.prefix, 'switchyard/');
    assert.equal(cfg.temporal.taskQueuePrefix, 'switchyard');
    assert.equal(cfg.dnsProviders['powerdns-local']!.type, 'powerdns');
    assert.equal(shop.regions[1]!.bucket.secretAccessKey, 'west-secret-value');
  });

  it('reads the services and restore point settings, with defaults', () => {
    const shop = loadConfigFile(EXAMPLE, ENV).apps.shop!;
    assert.deepEqual(
      shop.services.map((x) => [x.name, x.type, x.dependsOn]),
      [
        ['orders', 'postgres', []],
        ['ledger', 'http', ['orders']],
      ],
    );
    assert.equal(shop.restorePoints.quiesceTimeoutSeconds, 10);
    assert.equal(shop.restorePoints.snapshotTimeoutSeconds, 6 * 3600);
    assert.equal(shop.restorePoints.schedule.catchupWindowSeconds, 600);
    assert.equal(shop.regions[0]!.bucket.checksumAlgorithm, 'CRC32');
    assert.equal(shop.policies.approvals.restore.required, 1);
  });

  it('refuses services that cannot be restored: duplicates, unknown or missing regions, bad dependencies, cycles', () => {
    const doc = example();
    const svc = doc.apps.shop.services;
    svc.push({
      name: 'ledger',
      type: 'http',
      regions: { east: { url: 'http://x/h' }, west: { url: 'http://y/h' } },
    });
    svc.push({
      name: 'assets',
      type: 's3',
      dependsOn: ['nope'],
      regions: {
        east: { bucket: { name: 'assets-east' }, prefix: 'a/' },
        mars: { bucket: { name: 'assets-mars' }, prefix: 'a/' },
      },
    });
    const issues = issuesOf(doc);
    assert.ok(
      issues.includes('apps.shop.services[2].name: duplicate service name "ledger" (also services[1])'),
      issues.join('\n'),
    );
    assert.ok(
      issues.includes(
        'apps.shop.services[3].regions: missing region "west": a service needs a place in every region of the app',
      ),
      issues.join('\n'),
    );
    assert.ok(
      issues.includes('apps.shop.services[3].regions.mars: unknown region "mars" (regions: east, west)'),
      issues.join('\n'),
    );
    assert.ok(
      issues.includes(
        'apps.shop.services[3].dependsOn[0]: unknown service "nope" (services: orders, ledger, assets)',
      ),
      issues.join('\n'),
    );
    const cyclic = example();
    cyclic.apps.shop.services[0].dependsOn = ['ledger'];
    assert.deepEqual(issuesOf(cyclic), [
      'apps.shop.services: services depend on each other in a cycle: orders -> ledger -> orders',
    ]);
  });

  it('names a bad service target and never shows the secret around it', () => {
    const doc = example();
    doc.apps.shop.services[0].regions.west.url = 'mysql://backup:${ORDERS_DB_PASSWORD}@db/shop';
    const issues = issuesOf(doc);
    assert.deepEqual(issues, [
      'apps.shop.services[0].regions.west.url: expected postgres://user:password@host:port/database',
    ]);
    assert.ok(!issues.join('').includes(ENV.ORDERS_DB_PASSWORD));
  });

  it('names the exact path of a bad DNS target', () => {
    const doc = example();
    doc.apps.shop.regions[1].dns.target = 'not-an-ip';
    assert.deepEqual(issuesOf(doc), ['apps.shop.regions[1].dns.target: expected an IPv4 address']);
  });

  it('reports every problem at once, with paths', () => {
    const doc = example();
    doc.apps.shop.regions[0].healthUrl = 'ftp://x';
    doc.apps.shop.dns.records[0].provider = 'nope';
    doc.apps.shop.dns.ttl = -1;
    const issues = issuesOf(doc);
    assert.ok(
      issues.includes('apps.shop.regions[0].healthUrl: expected an http:// or https:// URL'),
      issues.join('\n'),
    );
    assert.ok(
      issues.some((i) => i.startsWith('apps.shop.dns.records[0].provider: unknown DNS provider "nope"')),
      issues.join('\n'),
    );
    assert.ok(
      issues.some((i) => i.startsWith('apps.shop.dns.ttl:')),
      issues.join('\n'),
    );
  });

  it('refuses unknown fields (a typo must not be ignored silently)', () => {
    const doc = example();
    doc.apps.shop.regions[0].helthUrl = 'http://x';
    assert.deepEqual(issuesOf(doc), ['apps.shop.regions[0]: unknown field "helthUrl"']);
  });

  it('needs exactly one active region, unique names and distinct targets', () => {
    const doc = example();
    doc.apps.shop.regions[1].role = 'active';
    doc.apps.shop.regions[1].name = 'east';
    doc.apps.shop.regions[1].dns.target = '127.0.1.1';
    const issues = issuesOf(doc);
    assert.ok(
      issues.includes('apps.shop.regions: exactly one region must have role "active" (found 2)'),
      issues.join('\n'),
    );
    assert.ok(
      issues.includes('apps.shop.regions[1].name: duplicate region name "east" (also regions[0])'),
      issues.join('\n'),
    );
    assert.ok(
      issues.includes('apps.shop.regions[1].dns.target: same DNS target as regions[0]'),
      issues.join('\n'),
    );
  });

  it('reads a fencing witness: a bucket of its own, counted beside the regions', () => {
    const doc = example();
    const witness = { name: 'switchyard-witness', endpoint: 'http://127.0.0.1:7072', prefix: '' };
    doc.apps.shop.fencing = { witness: { bucket: witness } };
    const cfg = parseConfig(stringify(doc), 'test.yaml', ENV);
    assert.equal(cfg.apps.shop!.fencing.witness?.bucket.name, 'switchyard-witness');
    assert.equal(cfg.apps.shop!.fencing.writeLeaseSeconds, 2, 'the lease defaults stay');
    assert.deepEqual(
      new ControlStateStore(cfg).places('shop').map((p) => p.region),
      ['east', 'west', 'witness'],
    );
    assert.deepEqual(
      new ControlStateStore(parseConfig(stringify(example()), 't', ENV)).places('shop').map((p) => p.region),
      ['east', 'west'],
    );

    const same = example();
    same.apps.shop.fencing = { witness: { bucket: { ...same.apps.shop.regions[1].bucket } } };
    same.apps.shop.regions[0].name = 'witness';
    const issues = issuesOf(same);
    assert.ok(
      issues.includes(
        "apps.shop.fencing.witness.bucket: the witness must be a bucket of its own, not regions[1]'s (west): it is a separate vote",
      ),
      issues.join('\n'),
    );
    assert.ok(
      issues.includes(
        'apps.shop.regions[0].name: "witness" names the fencing witness; choose another region name',
      ),
      issues.join('\n'),
    );
    const typo = example();
    typo.apps.shop.fencing = { witness: { buckets: witness } };
    assert.ok(
      issuesOf(typo).some((i) => i.startsWith('apps.shop.fencing.witness')),
      issuesOf(typo).join('\n'),
    );
  });

  it('keeps a record inside its zone', () => {
    const doc = example();
    doc.apps.shop.dns.records[1].name = 'www.elsewhere.test';
    assert.deepEqual(issuesOf(doc), [
      'apps.shop.dns.records[1].name: the record name must lie inside its zone',
    ]);
  });

  it('names the missing environment variable, never a secret value', () => {
    const env = { ...ENV, PDNS_API_KEY: undefined };
    const issues = issuesOf(example(), env);
    assert.deepEqual(issues, [
      'dnsProviders.powerdns-local.apiKey: environment variable PDNS_API_KEY is not set',
    ]);
    const doc = example();
    doc.apps.shop.regions[0].bucket.name = 'Bad_Bucket';
    const msg = issuesOf(doc).join('\n');
    for (const secret of Object.values(ENV)) assert.ok(!msg.includes(secret), `secret leaked: ${secret}`);
  });

  it('reports YAML syntax errors with a line, and a missing file clearly', () => {
    const issues = issuesOf('apps:\n  shop: [unclosed\n');
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^: YAML: /);
    assert.throws(
      () => loadConfigFile('/nonexistent/switchyard.yaml'),
      /\/nonexistent\/switchyard.yaml:\n {2}\(root\): file not found/,
    );
  });

  it('needs at least one app and two regions', () => {
    assert.deepEqual(issuesOf({ apps: {} }), ['apps: define at least one app']);
    const doc = example();
    doc.apps.shop.regions.pop();
    doc.apps.shop.regions[0].role = 'active';
    delete doc.apps.shop.services;
    delete doc.apps.shop.checks;
    assert.deepEqual(issuesOf(doc), ['apps.shop.regions: an app needs at least two regions']);
  });

  it('reads region health monitoring: defaults, targets falling back to healthUrl, known regions only', () => {
    const shop = loadConfigFile(EXAMPLE, ENV).apps.shop!;
    assert.equal(shop.monitoring.recoverAfterSeconds, 30);
    assert.equal(shop.monitoring.crossSite.failureThreshold, 6);
    assert.deepEqual(monitoringVantagePoints(shop), ['east', 'west']);
    assert.deepEqual(monitoringTargets(shop), {
      east: { http: shop.regions[0]!.healthUrl },
      west: { http: shop.regions[1]!.healthUrl },
    });

    const doc = example();
    doc.apps.shop.monitoring = {
      vantagePoints: ['east', 'west', 'third'],
      targets: { west: { tcp: '10.1.0.5:5432' } },
    };
    const set = parseConfig(stringify(doc), 'test.yaml', ENV).apps.shop!;
    assert.deepEqual(monitoringVantagePoints(set), ['east', 'west', 'third']);
    assert.deepEqual(monitoringTargets(set).west, { tcp: '10.1.0.5:5432' });
    assert.deepEqual(monitoringTargets(set).east, { http: set.regions[0]!.healthUrl });

    doc.apps.shop.monitoring.targets = { north: { http: 'http://north/healthz' } };
    assert.deepEqual(issuesOf(doc), [
      'apps.shop.monitoring.targets.north: unknown region "north" (regions: east, west)',
    ]);
    doc.apps.shop.monitoring = {
      sameSite: { intervalSeconds: 1, timeoutSeconds: 2, failureThreshold: 3, successThreshold: 2 },
    };
    assert.deepEqual(issuesOf(doc), [
      'apps.shop.monitoring.sameSite.timeoutSeconds: timeoutSeconds must not exceed intervalSeconds',
    ]);
  });

  it('soft DNS changes: a window and an approval policy per kind, one approval by default', () => {
    const shop = loadConfigFile(EXAMPLE, ENV).apps.shop!;
    // Live traffic moves: one approver other than the requester unless the policy says otherwise.
    assert.equal(
      deleteApproval(shop, 'dns-record-delete')?.why,
      'policies.approvals.dns-record-delete requires 1 approval(s)',
    );
    assert.equal(
      deleteApproval(shop, 'dns-override')?.why,
      'policies.approvals.dns-override requires 1 approval(s)',
    );
    assert.equal(softDeleteWindowSeconds(shop, 'dns-override'), shop.softDelete.windowSeconds);

    const doc = example();
    doc.apps.shop.softDelete = { windowSeconds: 3600, kinds: { 'dns-record-delete': { windowSeconds: 60 } } };
    doc.apps.shop.policies = {
      ...(doc.apps.shop.policies ?? {}),
      approvals: { ...(doc.apps.shop.policies?.approvals ?? {}), 'dns-override': { required: 2 } },
    };
    const set = parseConfig(stringify(doc), 'test.yaml', ENV).apps.shop!;
    assert.equal(softDeleteWindowSeconds(set, 'dns-record-delete'), 60);
    assert.equal(softDeleteWindowSeconds(set, 'dns-override'), 3600);
    assert.equal(
      deleteApproval(set, 'dns-record-delete')?.why,
      'policies.approvals.dns-record-delete requires 1 approval(s)',
    );
    assert.deepEqual(
      deleteApproval(set, 'dns-override')?.why,
      'policies.approvals.dns-override requires 2 approval(s)',
    );
    doc.apps.shop.softDelete = { kinds: { 'dns-override': { windowSeconds: 0 } } };
    assert.match(issuesOf(doc).join('\n'), /apps\.shop\.softDelete\.kinds\.dns-override\.windowSeconds/);
  });
});
