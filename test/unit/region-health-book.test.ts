import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  recordRegionTransition,
  REGION_HEALTH_HISTORY,
  regionTransitionProblem,
  type RegionHealthBook,
  type RegionHealthTransition,
} from '../../workflows/region-health';

/** What the app's controller keeps of region health: pure rules of recordRegionTransition. */

const t = (to: RegionHealthTransition['to'], seconds: number, region = 'east'): RegionHealthTransition => ({
  region,
  from: 'healthy',
  to,
  at: new Date(Date.UTC(2026, 10, 22, 12, 0, seconds)).toISOString(),
  reason: `${to} at ${seconds}`,
  votes: { up: 0, down: 0, unknown: 3, silent: 0, total: 3, byVantage: {} },
});

describe('region health in the controller', () => {
  it('keeps each region’s state, since and history; a retry changes nothing; an older transition is not taken', () => {
    let book: RegionHealthBook = {};
    const record = (x: RegionHealthTransition) => {
      const out = recordRegionTransition(book, x);
      book = out.book;
      return out.recorded;
    };
    assert.equal(record(t('healthy', 1)), true);
    assert.equal(record(t('down', 5)), true);
    assert.equal(record(t('healthy', 1, 'west')), true);
    assert.deepEqual(
      [book.east!.state, book.east!.since, book.east!.history.map((h) => h.to)],
      ['down', t('down', 5).at, ['healthy', 'down']],
    );
    assert.equal(record(t('down', 5)), false, 'the same transition again (a retried update)');
    assert.equal(record(t('degraded', 3)), false, 'older than the newest');
    assert.equal(book.east!.history.length, 2);
    assert.equal(book.west!.state, 'healthy');
  });

  it(`keeps the newest ${REGION_HEALTH_HISTORY} transitions per region`, () => {
    let book: RegionHealthBook = {};
    for (let i = 0; i < REGION_HEALTH_HISTORY + 20; i++)
      book = recordRegionTransition(book, t(i % 2 ? 'down' : 'healthy', i)).book;
    assert.equal(book.east!.history.length, REGION_HEALTH_HISTORY);
    assert.equal(book.east!.history[0]!.at, t('healthy', 20).at);
    assert.equal(book.east!.state, 'down');
  });

  it('refuses a region outside the app, an unknown state and a time that is not one', () => {
    assert.equal(regionTransitionProblem(t('down', 1), ['east', 'west']), null);
    assert.match(regionTransitionProblem(t('down', 1, 'north'), ['east', 'west'])!, /unknown region "north"/);
    assert.match(
      regionTransitionProblem({ ...t('down', 1), to: 'sideways' as 'down' }, ['east'])!,
      /unknown state/,
    );
    assert.match(regionTransitionProblem({ ...t('down', 1), at: 'yesterday' }, ['east'])!, /not a time/);
  });
});
