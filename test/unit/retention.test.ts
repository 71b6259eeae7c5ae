import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isoWeek, planRetention, type RetentionPolicy, utcDay } from '../../workflows/retention';

const NONE: RetentionPolicy = { keepLast: 0, keepDaily: 0, keepWeekly: 0 };
const NOW = new Date('2026-11-22T12:00:00Z');

/** Points named by their time, so a failing assertion reads as a list of times. */
function at(...times: string[]) {
  return times.map((t) => ({ id: t, committedAt: t }));
}

function kept(plan: ReturnType<typeof planRetention>) {
  return Object.fromEntries(plan.keep.map((k) => [k.id, k.reasons]));
}

function expired(plan: ReturnType<typeof planRetention>) {
  return plan.expire.map((e) => e.id);
}

describe('retention: planRetention', () => {
  it('plans nothing for no points', () => {
    assert.deepEqual(planRetention([], { keepLast: 3, keepDaily: 7, keepWeekly: 4 }, NOW), {
      keep: [],
      expire: [],
    });
  });

  it('keeps a single point even when the policy keeps nothing', () => {
    const plan = planRetention(at('2026-01-01T00:00:00Z'), NONE, NOW);
    assert.deepEqual(plan, { keep: [{ id: '2026-01-01T00:00:00Z', reasons: ['newest'] }], expire: [] });
  });

  it('with keepLast=1 and nothing else keeps only the newest, and lists the rest newest first', () => {
    const points = at(
      '2026-11-20T10:00:00Z',
      '2026-11-22T10:00:00Z',
      '2026-11-21T10:00:00Z',
      '2026-11-22T09:00:00Z',
    );
    const plan = planRetention(points, { ...NONE, keepLast: 1 }, NOW);
    assert.deepEqual(plan.keep, [{ id: '2026-11-22T10:00:00Z', reasons: ['newest', 'last'] }]);
    assert.deepEqual(expired(plan), ['2026-11-22T09:00:00Z', '2026-11-21T10:00:00Z', '2026-11-20T10:00:00Z']);
  });

  it('keeps the newest N with keepLast', () => {
    const points = at('2026-11-22T01:00:00Z', '2026-11-22T02:00:00Z', '2026-11-22T03:00:00Z');
    const plan = planRetention(points, { ...NONE, keepLast: 2 }, NOW);
    assert.deepEqual(kept(plan), {
      '2026-11-22T03:00:00Z': ['newest', 'last'],
      '2026-11-22T02:00:00Z': ['last'],
    });
    assert.deepEqual(expired(plan), ['2026-11-22T01:00:00Z']);
    // More than there are: everything is kept.
    assert.deepEqual(expired(planRetention(points, { ...NONE, keepLast: 10 }, NOW)), []);
  });

  it('keeps the newest point of each UTC day, for the newest N days that have points', () => {
    const points = at(
      '2026-11-22T08:00:00Z',
      '2026-11-22T00:00:00Z', // first instant of the 22nd
      '2026-11-21T23:59:59.999Z', // last instant of the 21st: the 21st's newest
      '2026-11-21T06:00:00Z',
      // nothing on the 20th and 19th: those days do not count
      '2026-11-18T12:00:00Z',
      '2026-11-17T12:00:00Z',
    );
    const plan = planRetention(points, { ...NONE, keepDaily: 3 }, NOW);
    assert.deepEqual(kept(plan), {
      '2026-11-22T08:00:00Z': ['newest', 'daily:2026-11-22'],
      '2026-11-21T23:59:59.999Z': ['daily:2026-11-21'],
      '2026-11-18T12:00:00Z': ['daily:2026-11-18'],
    });
    assert.deepEqual(expired(plan), ['2026-11-22T00:00:00Z', '2026-11-21T06:00:00Z', '2026-11-17T12:00:00Z']);
  });

  it('uses UTC days whatever the offset the time was written with', () => {
    // 23:30 at -02:00 is 01:30 UTC the next day.
    const points = [
      { id: 'late-local', committedAt: '2026-11-21T23:30:00-02:00' },
      { id: 'early-utc', committedAt: '2026-11-22T00:30:00Z' },
      { id: 'day-before', committedAt: '2026-11-21T22:00:00Z' },
    ];
    const plan = planRetention(points, { ...NONE, keepDaily: 2 }, NOW);
    assert.deepEqual(kept(plan), {
      'late-local': ['newest', 'daily:2026-11-22'],
      'day-before': ['daily:2026-11-21'],
    });
    assert.deepEqual(expired(plan), ['early-utc']);
  });

  it('does not expire more as time passes without new points', () => {
    const points = at('2026-11-01T10:00:00Z', '2026-11-02T10:00:00Z', '2026-11-03T10:00:00Z');
    const policy = { ...NONE, keepDaily: 3 };
    const soon = planRetention(points, policy, new Date('2026-11-03T11:00:00Z'));
    const muchLater = planRetention(points, policy, new Date('2027-06-01T00:00:00Z'));
    assert.deepEqual(muchLater, soon);
    assert.deepEqual(expired(muchLater), []);
  });

  it('keeps the newest point of each ISO week (Monday to Sunday, UTC)', () => {
    const points = at(
      '2026-11-16T00:00:00Z', // Monday, W47: the week's only point
      '2026-11-15T23:59:59Z', // Sunday, W46: the week's newest
      '2026-11-09T00:00:00Z', // Monday, W46
      '2026-11-08T12:00:00Z', // Sunday, W45
    );
    const plan = planRetention(points, { ...NONE, keepWeekly: 2 }, NOW);
    assert.deepEqual(kept(plan), {
      '2026-11-16T00:00:00Z': ['newest', 'weekly:2026-W47'],
      '2026-11-15T23:59:59Z': ['weekly:2026-W46'],
    });
    assert.deepEqual(expired(plan), ['2026-11-09T00:00:00Z', '2026-11-08T12:00:00Z']);
  });

  it('puts days around new year into the ISO week of their Thursday', () => {
    // 2026-12-31 is a Thursday: Mon 2026-12-28 … Sun 2027-01-03 are 2026-W53.
    assert.equal(isoWeek(Date.parse('2026-12-28T00:00:00Z')), '2026-W53');
    assert.equal(isoWeek(Date.parse('2027-01-03T23:59:59Z')), '2026-W53');
    assert.equal(isoWeek(Date.parse('2027-01-04T00:00:00Z')), '2027-W01');
    // 2025-01-01 is a Wednesday: Mon 2024-12-30 is already 2025-W01.
    assert.equal(isoWeek(Date.parse('2024-12-29T23:59:59Z')), '2024-W52');
    assert.equal(isoWeek(Date.parse('2024-12-30T00:00:00Z')), '2025-W01');
    // 2021-01-01 is a Friday: it belongs to 2020-W53.
    assert.equal(isoWeek(Date.parse('2021-01-01T12:00:00Z')), '2020-W53');
    assert.equal(isoWeek(Date.parse('2026-11-22T12:00:00Z')), '2026-W47');

    const points = at('2027-01-04T09:00:00Z', '2027-01-02T09:00:00Z', '2026-12-28T09:00:00Z');
    const plan = planRetention(points, { ...NONE, keepWeekly: 5 }, new Date('2027-01-05T00:00:00Z'));
    assert.deepEqual(kept(plan), {
      '2027-01-04T09:00:00Z': ['newest', 'weekly:2027-W01'],
      '2027-01-02T09:00:00Z': ['weekly:2026-W53'],
    });
    assert.deepEqual(expired(plan), ['2026-12-28T09:00:00Z']);
  });

  it('formats UTC days with zero padding', () => {
    assert.equal(utcDay(Date.parse('2026-01-05T23:59:59Z')), '2026-01-05');
    assert.equal(utcDay(Date.parse('0999-03-04T00:00:00Z')), '0999-03-04');
  });

  it('combines the rules and gives every reason a point is kept for', () => {
    const points = at(
      '2026-11-22T11:00:00Z',
      '2026-11-22T10:00:00Z',
      '2026-11-21T10:00:00Z',
      '2026-11-20T10:00:00Z',
      '2026-11-14T10:00:00Z',
      '2026-11-13T10:00:00Z',
      '2026-11-01T10:00:00Z',
      '2026-10-01T10:00:00Z',
    );
    const plan = planRetention(points, { keepLast: 2, keepDaily: 3, keepWeekly: 3 }, NOW);
    assert.deepEqual(kept(plan), {
      '2026-11-22T11:00:00Z': ['newest', 'last', 'daily:2026-11-22', 'weekly:2026-W47'],
      '2026-11-22T10:00:00Z': ['last'],
      '2026-11-21T10:00:00Z': ['daily:2026-11-21'],
      '2026-11-20T10:00:00Z': ['daily:2026-11-20'],
      '2026-11-14T10:00:00Z': ['weekly:2026-W46'],
      '2026-11-01T10:00:00Z': ['weekly:2026-W44'],
    });
    assert.deepEqual(expired(plan), ['2026-11-13T10:00:00Z', '2026-10-01T10:00:00Z']);
    // Every point is in exactly one of the lists.
    assert.equal(plan.keep.length + plan.expire.length, points.length);
  });

  it('orders equal times by id (greater id newer) and gives the same plan for any input order', () => {
    const t = '2026-11-22T10:00:00Z';
    const points = [
      { id: 'rp-b', committedAt: t },
      { id: 'rp-a', committedAt: t },
      { id: 'rp-c', committedAt: t },
      { id: 'rp-old', committedAt: '2026-11-22T09:00:00Z' },
    ];
    const policy = { ...NONE, keepLast: 2, keepDaily: 1 };
    const plan = planRetention(points, policy, NOW);
    assert.deepEqual(plan.keep, [
      { id: 'rp-c', reasons: ['newest', 'last', 'daily:2026-11-22'] },
      { id: 'rp-b', reasons: ['last'] },
    ]);
    assert.deepEqual(expired(plan), ['rp-a', 'rp-old']);
    for (const order of [[...points].reverse(), [points[2]!, points[0]!, points[3]!, points[1]!]]) {
      assert.deepEqual(planRetention(order, policy, NOW), plan);
    }
  });

  it('counts an id given twice once, at its newest time', () => {
    const points = [
      { id: 'rp-1', committedAt: '2026-11-20T10:00:00Z' },
      { id: 'rp-2', committedAt: '2026-11-21T10:00:00Z' },
      { id: 'rp-1', committedAt: '2026-11-22T10:00:00Z' },
    ];
    const plan = planRetention(points, { ...NONE, keepLast: 1 }, NOW);
    assert.deepEqual(plan, { keep: [{ id: 'rp-1', reasons: ['newest', 'last'] }], expire: [{ id: 'rp-2' }] });
  });

  it('never expires a point committed after now or one whose time does not parse', () => {
    const points = [
      { id: 'future', committedAt: '2026-11-22T12:00:01Z' },
      { id: 'garbled', committedAt: 'yesterday-ish' },
      { id: 'at-now', committedAt: '2026-11-22T12:00:00Z' },
      { id: 'older', committedAt: '2026-11-22T11:00:00Z' },
    ];
    const plan = planRetention(points, NONE, NOW);
    assert.deepEqual(plan.keep, [
      { id: 'future', reasons: ['after-now'] },
      { id: 'at-now', reasons: ['newest'] },
      { id: 'garbled', reasons: ['invalid-time'] },
    ]);
    assert.deepEqual(expired(plan), ['older']);
  });

  it('refuses a policy that is not whole numbers ≥ 0, and an invalid now', () => {
    assert.throws(() => planRetention([], { ...NONE, keepLast: -1 }, NOW), /keepLast/);
    assert.throws(() => planRetention([], { ...NONE, keepDaily: 1.5 }, NOW), /keepDaily/);
    assert.throws(() => planRetention([], { ...NONE, keepWeekly: Number.NaN }, NOW), /keepWeekly/);
    assert.throws(() => planRetention([], NONE, new Date('nope')), /now/);
  });

  it('does not change its input', () => {
    const points = at('2026-11-20T10:00:00Z', '2026-11-22T10:00:00Z');
    const copy = structuredClone(points);
    planRetention(points, { ...NONE, keepLast: 1 }, NOW);
    assert.deepEqual(points, copy);
  });
});
