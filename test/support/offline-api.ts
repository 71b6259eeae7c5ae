import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256Hex } from '../../apps/api/common/auth.guard';
import { parseConfig } from '../../infra/config/config.loader';
import type { SwitchyardConfig } from '../../infra/config/config.schema';

/**
 * The configuration of an API for the server-free tiers: every dependency but its own SQLite
 * database points at a closed port, which is exactly "Temporal and the buckets cannot be reached",
 * not a fake of it.
 */
export const CLOSED = 'http://127.0.0.1:1';

/** Bootstrap tokens of the offline configuration: victor (viewer) and alice (operator). */
export const OFFLINE_TOKENS = { viewer: 'viewer-token-0123456789', operator: 'operator-token-0123456789' };

/** `name` names the temporary directory of its database; `secretAccessKey` the buckets' secret. */
export function offlineConfig(name: string, secretAccessKey = 'sk'): SwitchyardConfig {
  const db = path.join(mkdtempSync(path.join(tmpdir(), `switchyard-${name}-`)), 'switchyard.db');
  const yaml = `
temporal: { address: 127.0.0.1:1, connectTimeoutSeconds: 1 }
database: { url: 'sqlite:${db}' }
auth:
  tokens:
    - { principal: victor, roles: [viewer], sha256: ${sha256Hex(OFFLINE_TOKENS.viewer)} }
    - { principal: alice, roles: [operator], sha256: ${sha256Hex(OFFLINE_TOKENS.operator)} }
dnsProviders:
  pdns: { type: powerdns, apiUrl: ${CLOSED}, apiKey: k }
apps:
  shop:
    regions:
      - name: east
        role: active
        healthUrl: ${CLOSED}/healthz
        bucket: { name: east-bucket, endpoint: ${CLOSED}, accessKeyId: ak, secretAccessKey: ${secretAccessKey} }
        dns: { target: 10.0.0.1 }
      - name: west
        role: standby
        healthUrl: ${CLOSED}/healthz
        bucket: { name: west-bucket, endpoint: ${CLOSED}, accessKeyId: ak, secretAccessKey: ${secretAccessKey} }
        dns: { target: 10.0.0.2 }
    dns: { records: [{ provider: pdns, zone: shop.test, name: www.shop.test }] }
    verify: { url: http://www.shop.test/healthz }
`;
  return parseConfig(yaml, 'test.yaml', {});
}
