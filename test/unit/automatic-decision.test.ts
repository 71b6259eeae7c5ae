import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../infra/config/config.loader';
import { automaticPolicy } from '../../infra/config/failover-mode';
import {
  type AutomaticFacts,
  type AutomaticPolicy,
  decideAutomatic,
  describeDecision,
} from '../../workflows/automatic-decision';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const policy: AutomaticPolicy = {
  downForSeconds: 30,
  requireStandbyHealthy: true,
  maxRestorePointAgeSeconds: 600,
  approvalWaitSeconds: 0,
};
const facts: AutomaticFacts = {
  activeRegion: 'east',
  downSince: new Date(T0 - 45_000).toISOString(),
  standbyRegion: 'west',
  standbyHealthy: true,
  standbyHealth: 'healthy (3 ms)',
  restorePointId: 'rp-1',
  restorePointAgeSeconds: 120,
  restorePointVerified: true,
};

describe('automatic failover decision', () => {
  it('proceeds when the region has been down long enough, the standby is healthy and the restore point verified and fresh', () => {
    const d = decideAutomatic(policy, facts, T0);
    assert.equal(d.outcome, 'proceed');
    assert.equal(d.approvalWaitSeconds, 0);
    assert.deepEqual(
      d.checks.map((c) => [c.name, c.ok]),
      [
        ['down-for', true],
        ['standby-healthy', true],
        ['restore-point', true],
      ],
    );
    assert.match(d.reasons[0]!, /^ok: active region east down for 45s/);
    assert.equal(d.decidedAt, new Date(T0).toISOString());
    assert.deepEqual(d.facts, facts);
    assert.equal(describeDecision(d), 'automatic mode: every check passed; proceeding without approval');
  });

  it('keeps the approval wait of the policy when it proceeds', () => {
    const d = decideAutomatic({ ...policy, approvalWaitSeconds: 20 }, facts, T0);
    assert.equal(d.outcome, 'proceed');
    assert.equal(d.approvalWaitSeconds, 20);
    assert.match(describeDecision(d), /unless an approver answers within 20s/);
  });

  it('waits for approval, naming the failed check first, when the region has not been down long enough', () => {
    const d = decideAutomatic(policy, { ...facts, downSince: new Date(T0 - 10_000).toISOString() }, T0);
    assert.equal(d.outcome, 'wait-for-approval');
    assert.equal(d.approvalWaitSeconds, 0);
    assert.match(d.reasons[0]!, /^failed: active region east down for 10s .*needs 30s/);
    assert.match(describeDecision(d), /waits for approval: active region east down for 10s/);
  });

  it('waits for approval when the standby is unhealthy, unless the policy does not require it', () => {
    const sick = { ...facts, standbyHealthy: false, standbyHealth: 'connect ECONNREFUSED' };
    const d = decideAutomatic(policy, sick, T0);
    assert.equal(d.outcome, 'wait-for-approval');
    assert.match(d.reasons[0]!, /^failed: standby west NOT healthy: connect ECONNREFUSED/);
    const relaxed = decideAutomatic({ ...policy, requireStandbyHealthy: false }, sick, T0);
    assert.equal(relaxed.outcome, 'proceed');
    assert.match(relaxed.reasons.join('\n'), /does not require it/);
  });

  it('waits for approval when the restore point is too old, unverified, or its age unknown', () => {
    const old = decideAutomatic(policy, { ...facts, restorePointAgeSeconds: 601 }, T0);
    assert.equal(old.outcome, 'wait-for-approval');
    assert.match(old.reasons[0]!, /rp-1 verified, 601s old \(BEYOND the 600s/);
    const atLimit = decideAutomatic(policy, { ...facts, restorePointAgeSeconds: 600 }, T0);
    assert.equal(atLimit.outcome, 'proceed');
    const unverified = decideAutomatic(policy, { ...facts, restorePointVerified: false }, T0);
    assert.equal(unverified.outcome, 'wait-for-approval');
    assert.match(unverified.reasons[0]!, /NOT verified/);
    const unknown = decideAutomatic(policy, { ...facts, restorePointAgeSeconds: undefined }, T0);
    assert.equal(unknown.outcome, 'wait-for-approval');
    assert.match(unknown.reasons[0]!, /age unknown/);
  });

  it('needs no restore point for an app without services', () => {
    const d = decideAutomatic(
      policy,
      { ...facts, restorePointId: undefined, restorePointAgeSeconds: undefined },
      T0,
    );
    assert.equal(d.outcome, 'proceed');
    assert.match(d.reasons.join('\n'), /no restore point involved/);
  });

  it('lists every failed check', () => {
    const d = decideAutomatic(
      policy,
      { ...facts, downSince: new Date(T0).toISOString(), standbyHealthy: false, restorePointVerified: false },
      T0,
    );
    assert.equal(d.checks.filter((c) => !c.ok).length, 3);
    assert.ok(d.reasons.slice(0, 3).every((r) => r.startsWith('failed: ')));
  });
});

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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function withFailover(failover: Record<string, unknown>, policies?: Record<string, unknown>): any {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as any;
  doc.apps.shop.failover = { ...(doc.apps.shop.failover ?? {}), ...failover };
  if (policies) doc.apps.shop.policies = { ...(doc.apps.shop.policies ?? {}), ...policies };
  return doc;
}

function issuesOf(doc: unknown): string[] {
  try {
    parseConfig(stringify(doc), 'test.yaml', ENV);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('failover mode configuration', () => {
  it('is manual by default, with no automatic policy', () => {
    const shop = parseConfig(stringify(withFailover({})), 'test.yaml', ENV).apps.shop!;
    assert.equal(shop.failover.mode, 'manual');
    assert.equal(automaticPolicy(shop), undefined);
  });

  it('resolves the automatic policy with its defaults; the restore point age defaults to the RPO', () => {
    const shop = parseConfig(
      stringify(withFailover({ mode: 'automatic' }, { rpoSeconds: 900 })),
      'test.yaml',
      ENV,
    ).apps.shop!;
    assert.deepEqual(automaticPolicy(shop), {
      downForSeconds: 0,
      requireStandbyHealthy: true,
      maxRestorePointAgeSeconds: 900,
      approvalWaitSeconds: 0,
    });
    const set = parseConfig(
      stringify(
        withFailover({
          mode: 'automatic',
          automatic: { downForSeconds: 30, maxRestorePointAgeSeconds: 120, approvalWaitSeconds: 60 },
        }),
      ),
      'test.yaml',
      ENV,
    ).apps.shop!;
    assert.deepEqual(automaticPolicy(set), {
      downForSeconds: 30,
      requireStandbyHealthy: true,
      maxRestorePointAgeSeconds: 120,
      approvalWaitSeconds: 60,
    });
  });

  it('refuses bad values with the path of each', () => {
    assert.deepEqual(issuesOf(withFailover({ mode: 'auto' })), [
      'apps.shop.failover.mode: expected "manual" or "automatic"',
    ]);
    assert.deepEqual(
      issuesOf(withFailover({ mode: 'automatic', automatic: { downForSeconds: -1, extra: 1 } })).sort(),
      [
        'apps.shop.failover.automatic.downForSeconds: must not be negative',
        'apps.shop.failover.automatic: unknown field "extra"',
      ].sort(),
    );
    assert.deepEqual(issuesOf(withFailover({ automatic: { downForSeconds: 5 } })), [
      'apps.shop.failover.automatic: only applies with failover.mode: automatic (the mode is manual)',
    ]);
  });

  it('refuses an approval wait that outlasts the approval request', () => {
    const issues = issuesOf(
      withFailover(
        { mode: 'automatic', automatic: { approvalWaitSeconds: 600 } },
        { approvals: { failover: { required: 1, roles: ['approver'], expiresAfterSeconds: 600 } } },
      ),
    );
    assert.equal(issues.length, 1, issues.join('\n'));
    assert.match(
      issues[0]!,
      /^apps\.shop\.failover\.automatic\.approvalWaitSeconds: must be shorter than policies\.approvals\.failover\.expiresAfterSeconds \(600s\)/,
    );
  });
});
