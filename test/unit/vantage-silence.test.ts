import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitoringSchema, reportEverySeconds, staleAfterSeconds } from '../../infra/health/monitor-settings';
import { QuorumAggregator, type VantageSilence } from '../../infra/health/quorum-aggregator';
import { RegionDetector, type RegionTransition } from '../../infra/health/region-detector';

/**
 * Silent vantage points and restored state, in simulated time: the aggregator's clock and timers
 * are faked, so minutes pass in microseconds. A monitor re-sends its verdicts every
 * REPORT_EVERY_MS (heartbeat); one with no report for STALE_MS is silent.
 */

const REPORT_EVERY_MS = 10_000;
const STALE_MS = 30_000;
const RECOVER_MS = 5_000;

function fakeClock() {
  let now = 0;
  const timers: { at: number; fn: () => void; cleared: boolean }[] = [];
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      const t = { at: now + ms, fn, cleared: false };
      timers.push(t);
      return { clear: () => (t.cleared = true) };
    },
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = timers.filter((t) => !t.cleared && t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        due.cleared = true;
        now = due.at;
        due.fn();
      }
      now = until;
    },
  };
}

function setup(vantagePoints = ['a', 'b', 'c']) {
  const clock = fakeClock();
  const agg = new QuorumAggregator({
    regions: ['east', 'west'],
    vantagePoints,
    recoverAfterSeconds: RECOVER_MS / 1000,
    staleAfterSeconds: STALE_MS / 1000,
    ...clock,
  });
  agg.startSilenceClock();
  const transitions: RegionTransition[] = [];
  const silences: VantageSilence[] = [];
  agg.onTransition((t) => transitions.push(t));
  agg.onSilence((s) => silences.push(s));
  const verdicts = new Map<string, 'up' | 'down'>();
  const report = (vantage: string, region: string, verdict: 'up' | 'down') => {
    verdicts.set(`${vantage}/${region}`, verdict);
    return agg.receiveReport({
      vantage,
      region,
      verdict,
      at: new Date(clock.now()).toISOString(),
      latencyMs: 1,
      reason: verdict === 'up' ? 'ok' : 'ECONNREFUSED',
    });
  };
  /** Every live vantage point re-sends its current verdicts every REPORT_EVERY_MS for `ms`. */
  const heartbeats = (live: string[], ms: number) => {
    const until = clock.now() + ms;
    while (clock.now() + REPORT_EVERY_MS <= until) {
      clock.advance(REPORT_EVERY_MS);
      for (const [key, verdict] of verdicts) {
        const [vantage, region] = key.split('/') as [string, string];
        if (live.includes(vantage)) report(vantage, region, verdict);
      }
    }
    clock.advance(until - clock.now());
  };
  return { clock, agg, transitions, silences, report, heartbeats };
}

describe('silent vantage points (simulated time)', () => {
  it('heartbeats keep a vantage point alive and change nothing; one that stops is silent after staleAfter, healthy → degraded, never down', () => {
    const { clock, agg, transitions, silences, report, heartbeats } = setup();
    for (const v of ['a', 'b', 'c']) for (const r of ['east', 'west']) report(v, r, 'up');
    assert.equal(agg.state('east'), 'healthy');

    // Ten minutes of heartbeats: no transition, no silence, no change counted.
    const before = transitions.length;
    const beat = report('a', 'east', 'up');
    assert.deepEqual([beat.changed, beat.transition, beat.resumed], [false, undefined, undefined]);
    heartbeats(['a', 'b', 'c'], 600_000);
    assert.equal(transitions.length, before);
    assert.deepEqual(silences, []);

    // c stops (killed). Its last report was at `lastAt`; silent exactly STALE_MS later.
    const lastAt = clock.now();
    heartbeats(['a', 'b'], STALE_MS - 1);
    assert.deepEqual(silences, []);
    assert.equal(agg.state('east'), 'healthy');
    heartbeats(['a', 'b'], 1);
    assert.deepEqual(silences, [{ vantage: 'c', silent: true, at: lastAt + STALE_MS, lastReportAt: lastAt }]);
    assert.equal(agg.state('east'), 'degraded');
    assert.equal(agg.state('west'), 'degraded');
    const votes = agg.votes('east');
    assert.deepEqual(votes.byVantage.c, {
      verdict: 'unknown',
      silentSince: new Date(lastAt + STALE_MS).toISOString(),
    });
    assert.deepEqual([votes.up, votes.unknown, votes.silent], [2, 1, 1]);
    assert.equal(transitions.at(-1)!.reason, 'c is silent');

    // Silent for an hour while a says down about east: a minority, still degraded, never down.
    report('a', 'east', 'down');
    heartbeats(['a', 'b'], 3_600_000);
    assert.equal(agg.state('east'), 'degraded');
    assert.ok(!transitions.some((t) => t.to === 'down'));
    assert.equal(silences.length, 1, 'silence is reported once, not per heartbeat');

    // c comes back: resumed once, its first report counts as a change, damping before healthy.
    report('a', 'east', 'up');
    const back = report('c', 'east', 'up');
    assert.equal(back.changed, true);
    assert.deepEqual(back.resumed?.silent, false);
    assert.equal(back.resumed?.silentSince, lastAt + STALE_MS);
    assert.equal(silences.length, 2);
    // Until c reports west too, c stays silent there (its old verdict is not trusted).
    assert.notEqual(agg.votes('west').byVantage.c!.silentSince, null);
    report('c', 'west', 'up');
    assert.equal(agg.votes('west').byVantage.c!.silentSince, null);
    clock.advance(RECOVER_MS - 1);
    assert.equal(agg.state('east'), 'degraded');
    clock.advance(1);
    assert.equal(agg.state('east'), 'healthy');
    agg.close();
  });

  it('silence alone never makes a region down nor lets a down region recover', () => {
    const { agg, report, heartbeats, transitions } = setup();
    for (const v of ['a', 'b', 'c']) report(v, 'east', 'up');
    // Two of three silent: only c is heard, and it says up: degraded (blind), not down.
    heartbeats(['c'], STALE_MS + REPORT_EVERY_MS);
    assert.equal(agg.state('east'), 'degraded');
    assert.equal(agg.votes('east').silent, 2);
    heartbeats(['c'], 600_000);
    assert.equal(agg.state('east'), 'degraded');
    assert.ok(!transitions.some((t) => t.to === 'down'));

    // A real outage: a and b back, all three say down → down. Then a and b fall silent: still
    // down (no majority says up), for as long as they are silent.
    for (const v of ['a', 'b', 'c']) report(v, 'east', 'down');
    assert.equal(agg.state('east'), 'down');
    heartbeats(['c'], 600_000);
    assert.equal(agg.state('east'), 'down');
    agg.close();
  });

  it('a vantage point that never reports after the start is silent once staleAfter has passed', () => {
    const { clock, agg, silences, report } = setup();
    report('a', 'east', 'up');
    report('b', 'east', 'up');
    assert.equal(agg.state('east'), 'healthy');
    clock.advance(STALE_MS - 1);
    report('a', 'east', 'up');
    report('b', 'east', 'up');
    clock.advance(1);
    assert.deepEqual(
      silences.map((s) => [s.vantage, s.silent, s.lastReportAt]),
      [['c', true, undefined]],
    );
    assert.equal(agg.state('east'), 'degraded');
    // West, of which nobody said anything: silence alone tells nothing, it stays unknown.
    assert.equal(agg.state('west'), 'unknown');
    clock.advance(STALE_MS);
    assert.equal(agg.state('west'), 'unknown');
    assert.equal(agg.votes('west').silent, 3);
    agg.close();
  });

  it('a one-vantage quorum whose monitor is silent is degraded, not down', () => {
    const { agg, report, heartbeats } = setup(['solo']);
    report('solo', 'east', 'up');
    assert.equal(agg.state('east'), 'healthy');
    heartbeats([], STALE_MS);
    assert.equal(agg.state('east'), 'degraded');
    agg.close();
  });
});

describe('restored region state (after a coordinator restart)', () => {
  const history = (region: string): RegionTransition[] => [
    { region, from: 'unknown', to: 'healthy', at: 1_000, reason: 'a says up', votes: votesOf('up') },
    { region, from: 'healthy', to: 'down', at: 2_000, reason: 'b says down', votes: votesOf('down') },
  ];
  const votesOf = (verdict: 'up' | 'down') => ({
    up: verdict === 'up' ? 3 : 0,
    down: verdict === 'down' ? 3 : 0,
    unknown: 0,
    silent: 0,
    total: 3,
    byVantage: Object.fromEntries(['a', 'b', 'c'].map((v) => [v, { verdict, silentSince: null }])),
  });

  it('takes the state and history, starts with unknown votes, and damps a recovery from the restart', () => {
    const { clock, agg, report, transitions } = setup();
    clock.advance(10_000);
    assert.equal(agg.restore('east', { state: 'down', history: history('east') }), true);
    assert.equal(agg.state('east'), 'down');
    assert.deepEqual(
      agg.history('east').map((t) => t.to),
      ['healthy', 'down'],
    );
    assert.deepEqual(agg.votes('east').unknown, 3);
    // The heartbeats rebuild the votes: still down until a majority says up for the damping.
    report('a', 'east', 'down');
    report('b', 'east', 'up');
    report('c', 'east', 'up');
    assert.equal(agg.state('east'), 'down');
    report('a', 'east', 'up');
    clock.advance(RECOVER_MS);
    assert.equal(agg.state('east'), 'healthy');
    assert.deepEqual(
      agg.history('east').map((t) => t.to),
      ['healthy', 'down', 'healthy'],
    );
    assert.equal(transitions.length, 1);
    agg.close();
  });

  it('is ignored once the region has a state of its own; halted is restored as halted', () => {
    const { agg, report } = setup();
    for (const v of ['a', 'b']) report(v, 'east', 'up');
    assert.equal(agg.restore('east', { state: 'down', history: history('east') }), false);
    assert.equal(agg.state('east'), 'healthy');

    const d = new RegionDetector({ region: 'west', vantagePoints: ['a', 'b', 'c'], recoverAfterMs: 1 });
    assert.equal(d.restore({ state: 'halted', history: history('west') }), true);
    for (const v of ['a', 'b', 'c']) d.report(v, 'up', 5_000);
    assert.equal(d.state, 'halted');
    d.setHalted(false, 6_000, 'unfenced');
    assert.equal(d.state, 'degraded');
    agg.close();
  });
});

describe('heartbeat settings', () => {
  it('default to a report every 10 s and silence after three missed ones; refuse staleAfter ≤ reportEvery', () => {
    const m = monitoringSchema.parse({});
    assert.deepEqual([reportEverySeconds(m), staleAfterSeconds(m)], [10, 30]);
    const custom = monitoringSchema.parse({ reportEverySeconds: 2 });
    assert.equal(staleAfterSeconds(custom), 6);
    assert.equal(staleAfterSeconds(monitoringSchema.parse({ staleAfterSeconds: 45 })), 45);
    const bad = monitoringSchema.safeParse({ reportEverySeconds: 5, staleAfterSeconds: 5 });
    assert.equal(bad.success, false);
    assert.match(JSON.stringify(bad.error?.issues), /staleAfterSeconds must exceed reportEverySeconds/);
  });
});
