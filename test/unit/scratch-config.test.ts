import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, loadConfigFile, parseConfig } from '../../infra/config/config.loader';
import { scratchPlaceOf, scratchRegionOf } from '../../infra/config/scratch';

/** Scratch places, checks and drills in switchyard.yaml (docs/drills.md). */

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

const example = (): Doc => parse(readFileSync(EXAMPLE, 'utf8')) as Doc;

function issuesOf(doc: Doc): string[] {
  try {
    parseConfig(stringify(doc), 'test.yaml', ENV);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

const media = (live: string, scratch?: Record<string, unknown>) => ({
  name: 'media',
  type: 's3',
  regions: {
    east: { bucket: { name: 'media-east' }, prefix: live },
    west: { bucket: { name: 'media-west' }, prefix: live, ...(scratch ? { scratch } : {}) },
  },
});

describe('scratch places, checks and drills in the configuration', () => {
  it('derives scratch places: <db>_scratch, switchyard-scratch/<prefix>, declared hooks only', () => {
    const doc = example();
    doc.apps.shop.services.push(media('photos/'));
    const cfg = parseConfig(stringify(doc), 'test.yaml', ENV);
    const shop = cfg.apps.shop!;
    const svc = (n: string) => shop.services.find((s) => s.name === n)!;
    assert.deepEqual(scratchPlaceOf(svc('orders'), 'west'), {
      url: 'postgres://backup:orders-db-secret@127.0.0.1:5432/shop_west_scratch',
    });
    assert.deepEqual(scratchPlaceOf(svc('ledger'), 'west'), {
      url: 'http://127.0.1.2:18081/hooks/ledger',
      token: 'ledger-hook-secret',
    });
    assert.equal(scratchPlaceOf(svc('ledger'), 'east'), null);
    const m = scratchPlaceOf(svc('media'), 'west') as { bucket: { name: string }; prefix: string };
    assert.deepEqual([m.bucket.name, m.prefix], ['media-west', 'switchyard-scratch/photos/']);
    assert.equal(scratchRegionOf(shop), 'west');
    assert.equal(shop.regions[1]!.scratch?.healthPath, '/numbers');
    assert.deepEqual(
      shop.checks.map((c) => [c.name, c.type, c.type === 'sql' ? c.expect : c.expectStatus]),
      [
        ['orders-restored', 'sql', 'true'],
        ['serves-numbers', 'http', 200],
      ],
    );
    assert.equal(shop.drills.rtoSeconds, 300);
    assert.equal(shop.restorePoints.verification.testRestore, false);
  });

  it('refuses scratch places that are live places, missing scratch hooks, bad checks, an unknown drill region', () => {
    const doc = example();
    const shop = doc.apps.shop;
    shop.services[0].regions.east.scratch = { url: shop.services[0].regions.east.url };
    delete shop.services[1].regions.west.scratch;
    shop.services.push(media('', undefined));
    shop.services.push({ ...media('a/', { prefix: 'a/b/' }), name: 'docs' });
    shop.checks.push({
      name: 'orders-restored',
      type: 'sql',
      service: 'ledger',
      query: 'select 1',
      expect: 1,
    });
    shop.checks.push({ name: 'bad-path', type: 'http', path: 'numbers' });
    shop.drills.region = 'mars';
    const issues = issuesOf(doc);
    const expected = [
      'apps.shop.services[0].regions.east.scratch: the scratch database is the live database "shop_east": name another one',
      'apps.shop.services[1].regions.west.scratch: region "west" has a scratch instance (regions[].scratch): declare the scratch hooks of http service "ledger" there',
      'apps.shop.services[2].regions.east.scratch: the scratch prefix "switchyard-scratch/" overlaps the live prefix "" in bucket media-east: a cleanup would delete live objects; give another prefix or bucket',
      'apps.shop.services[3].regions.west.scratch: the scratch prefix "a/b/" overlaps the live prefix "a/" in bucket media-west: a cleanup would delete live objects; give another prefix or bucket',
      'apps.shop.checks[2].name: duplicate check name "orders-restored" (also checks[0])',
      'apps.shop.checks[2].service: "ledger" is not a postgres service of the app (postgres services: orders)',
      'apps.shop.checks[3].path: expected a path starting with /',
      'apps.shop.drills.region: unknown region "mars" (regions: east, west)',
    ];
    for (const e of expected) assert.ok(issues.includes(e), `missing: ${e}\n${issues.join('\n')}`);
  });

  it('loads the shipped example with its scratch instance', () => {
    const cfg = loadConfigFile(EXAMPLE, ENV);
    assert.equal(cfg.apps.shop!.regions[1]!.scratch?.url, 'http://127.0.1.2:18081');
  });
});
