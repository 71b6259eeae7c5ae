import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import { offlineConfig } from '../support/offline-api';

/**
 * The OpenAPI document is what the fuzzer (test/e2e/api-fuzz.e2e.test.ts) and every client read:
 * each route must say what it answers on success and on error, and each route must have a row in
 * the role matrix (test/e2e/auth-audit.e2e.test.ts). Every dependency points at a closed port:
 * building the document needs none of them.
 */

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
}
interface Operation {
  security?: unknown[];
  parameters?: { name: string; in: string; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
// The role matrix lives in an end-to-end file; its rows name each route as `method: 'X', path: 'Y'`.
const MATRIX_FILE = path.resolve(__dirname, '../../../test/e2e/auth-audit.e2e.test.ts');

describe('OpenAPI document', () => {
  let api: NestExpressApplication;
  let operations: { key: string; op: Operation }[];

  before(async () => {
    api = await createApi({ config: offlineConfig('openapi'), logger: false });
    await api.init();
    const doc = await request(api.getHttpServer()).get('/docs/openapi.json').expect(200);
    const paths = doc.body.paths as Record<string, Record<string, Operation>>;
    operations = Object.entries(paths).flatMap(([p, item]) =>
      METHODS.filter((m) => item[m]).map((m) => ({ key: `${m.toUpperCase()} ${p}`, op: item[m]! })),
    );
    assert.ok(operations.length >= 39, `only ${operations.length} operations documented`);
  });
  after(() => api.close());

  const jsonSchemaOf = (r: Operation['responses'][string] | undefined) =>
    r?.content?.['application/json']?.schema;

  it('gives every operation a JSON schema for each success status', () => {
    const missing: string[] = [];
    for (const { key, op } of operations) {
      const success = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s));
      if (success.length === 0) missing.push(`${key}: no success status`);
      for (const s of success) {
        const schema = jsonSchemaOf(op.responses[s]);
        if (!schema || (schema.type !== 'object' && schema.type !== 'array')) missing.push(`${key} ${s}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('gives every error status the error schema {error, message, details?}', () => {
    const wrong: string[] = [];
    for (const { key, op } of operations) {
      // 431 comes from Node's HTTP parser, with no body, before the API runs.
      const errors = Object.keys(op.responses).filter((s) => /^[45]\d\d$/.test(s) && s !== '431');
      if (errors.length === 0) wrong.push(`${key}: no error status`);
      for (const s of errors) {
        const schema = jsonSchemaOf(op.responses[s]);
        const ok =
          schema?.type === 'object' &&
          schema.properties?.error?.type === 'string' &&
          schema.properties?.message?.type === 'string' &&
          'details' in schema.properties &&
          JSON.stringify([...(schema.required ?? [])].sort()) === JSON.stringify(['error', 'message']);
        if (!ok) wrong.push(`${key} ${s}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('declares the errors every route can give: 401/403/429/503 when authenticated, 400/413/415 for input, 431', () => {
    const missing: string[] = [];
    for (const { key, op } of operations) {
      const want: string[] = ['431'];
      if (op.security?.length) want.push('401', '403', '429', '503');
      else missing.push(`${key}: not authenticated`);
      if (op.parameters?.length || op.requestBody) want.push('400');
      if (op.requestBody) want.push('413', '415');
      for (const s of want) if (!op.responses[s]) missing.push(`${key} ${s}`);
    }
    assert.deepEqual(missing, []);
  });

  it('gives every parameter and request body a schema', () => {
    const missing: string[] = [];
    for (const { key, op } of operations) {
      if (/^(POST|PUT|PATCH) /.test(key) && !op.requestBody) missing.push(`${key}: no request body`);
      for (const p of op.parameters ?? []) if (!p.schema) missing.push(`${key} ${p.in} ${p.name}`);
      if (op.requestBody) {
        const schema = op.requestBody.content['application/json']?.schema;
        if (schema?.type !== 'object' || !schema.properties) missing.push(`${key} body`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('has a row in the role matrix for every route', () => {
    const source = readFileSync(MATRIX_FILE, 'utf8');
    const rows = new Set(
      [...source.matchAll(/method: '([A-Z]+)',\s*path: '([^']+)'/g)].map((m) => `${m[1]} ${m[2]}`),
    );
    const missing = operations.map((o) => o.key).filter((k) => !rows.has(k));
    assert.deepEqual(missing, []);
  });
});
