import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { principalNameProblem } from '../../infra/auth/reserved-principals';

describe('reserved principal names', () => {
  const configured = ['alice', 'Bob', 'monitor-east'];
  const code = (name: string) => principalNameProblem(name, configured)?.code ?? null;

  it("refuses the coordinator's own actors, in any case", () => {
    for (const name of [
      'system',
      'SYSTEM',
      'system:automatic',
      'System:region-monitor',
      'anonymous',
      'monitor:east',
    ]) {
      assert.equal(code(name), 'reserved-principal', name);
    }
  });

  it('refuses the principals of bootstrap tokens, in any case', () => {
    for (const name of ['alice', 'ALICE', 'bob', 'monitor-east']) {
      assert.equal(code(name), 'principal-from-configuration', name);
    }
  });

  it('accepts other names, also ones that merely contain a reserved word', () => {
    for (const name of ['dave', 'systems', 'ci:deploy', 'monitor-north', 'alice2', 'anonymous-coward']) {
      assert.equal(code(name), null, name);
    }
  });
});
