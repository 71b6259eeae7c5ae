import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  breakTie,
  chooseManifest,
  conclude,
  type CopyCheck,
  findingsOf,
  type ObjectCheck,
  planRepairs,
} from '../../workflows/verification';

const ID = 'shop-20260101T000000Z-00000000';
const expected = { size: 3, sha256: 'a'.repeat(64) };
const obj = (key: string, status: ObjectCheck['status']): ObjectCheck => ({
  key,
  status,
  expected,
  ...(status === 'corrupt' ? { actual: { size: 3, sha256: 'b'.repeat(64) } } : {}),
});
const copy = (region: string, manifest: CopyCheck['manifest'], ...objects: ObjectCheck[]): CopyCheck => ({
  region,
  manifest,
  objects,
});

describe('verification decisions', () => {
  it('takes the manifest the regions agree on, else the majority, else reports a tie', () => {
    assert.deepEqual(
      chooseManifest([
        { region: 'east', state: 'present', sha256: 'x' },
        { region: 'west', state: 'missing' },
      ]),
      { kind: 'agreed', sha256: 'x' },
    );
    assert.deepEqual(
      chooseManifest([
        { region: 'a', state: 'present', sha256: 'x' },
        { region: 'b', state: 'present', sha256: 'y' },
        { region: 'c', state: 'present', sha256: 'x' },
      ]),
      { kind: 'majority', sha256: 'x' },
    );
    assert.deepEqual(
      chooseManifest([
        { region: 'a', state: 'present', sha256: 'y' },
        { region: 'b', state: 'present', sha256: 'x' },
      ]),
      { kind: 'tie', candidates: ['x', 'y'] },
    );
    assert.deepEqual(
      chooseManifest([
        { region: 'a', state: 'unreachable' },
        { region: 'b', state: 'missing' },
      ]),
      { kind: 'none' },
    );
  });

  it('breaks a tie by the candidate whose copies verify, and only when exactly one does', () => {
    assert.equal(
      breakTie([
        { sha256: 'x', clean: false },
        { sha256: 'y', clean: true },
      ]),
      'y',
    );
    assert.equal(
      breakTie([
        { sha256: 'x', clean: true },
        { sha256: 'y', clean: true },
      ]),
      null,
    );
    assert.equal(
      breakTie([
        { sha256: 'x', clean: false },
        { sha256: 'y', clean: false },
      ]),
      null,
    );
  });

  it('types the findings: missing and corrupt objects, a missing manifest, a different one', () => {
    const found = findingsOf(ID, [
      copy('east', 'same', obj('a', 'corrupt'), obj('b', 'ok'), obj('c', 'unchecked')),
      copy('west', 'missing', obj('a', 'ok'), obj('b', 'missing')),
      copy('north', 'different', obj('a', 'ok'), obj('b', 'ok')),
    ]);
    assert.deepEqual(
      found.map((f) => [f.type, f.region, f.key]),
      [
        ['corrupt', 'east', 'a'],
        ['missing', 'west', `manifests/${ID}.json`],
        ['missing', 'west', 'b'],
        ['manifest-mismatch', 'north', `manifests/${ID}.json`],
      ],
    );
  });

  it('repairs each bad copy from a region whose copy verified; with none, the key is lost', () => {
    const plan = planRepairs([
      copy('east', 'same', obj('a', 'corrupt'), obj('b', 'ok')),
      copy('west', 'missing', obj('a', 'ok'), obj('b', 'missing')),
    ]);
    assert.deepEqual(
      plan.objects.map((r) => [r.key, r.from, r.region]),
      [
        ['a', 'west', 'east'],
        ['b', 'east', 'west'],
      ],
    );
    assert.deepEqual(plan.manifests, ['west']);
    assert.deepEqual(plan.lost, []);

    const lost = planRepairs([
      copy('east', 'same', obj('a', 'corrupt'), obj('b', 'ok')),
      copy('west', 'missing', obj('a', 'missing'), obj('b', 'missing')),
    ]);
    assert.deepEqual(lost.lost, ['a']);
    assert.deepEqual(
      lost.objects.map((r) => [r.key, r.from, r.region]),
      [['b', 'east', 'west']],
    );
    // A restore point that cannot be made whole does not get its manifest back anywhere.
    assert.deepEqual(lost.manifests, []);
  });

  it('concludes verified, repaired, degraded or unrecoverable', () => {
    const before = findingsOf(ID, [copy('east', 'same', obj('a', 'corrupt'))]);
    const all = { lost: false, allRegionsChecked: true };
    assert.equal(conclude([], [], all).status, 'verified');
    const repaired = conclude(before, [], all);
    assert.equal(repaired.status, 'repaired');
    assert.equal(repaired.findings[0]!.repaired, true);
    assert.equal(conclude(before, before, all).status, 'degraded');
    const lost = conclude(before, before, { lost: true, allRegionsChecked: true });
    assert.equal(lost.status, 'unrecoverable');
    assert.equal(lost.findings[0]!.repaired, false);
    // The only good copy may be in the region that could not be read.
    const unreachable = { type: 'unreachable-region' as const, region: 'west', detail: 'down' };
    assert.equal(
      conclude([...before, unreachable], before, { lost: true, allRegionsChecked: false }).status,
      'degraded',
    );
    assert.equal(conclude([unreachable], [], { lost: false, allRegionsChecked: false }).status, 'degraded');
  });
});
