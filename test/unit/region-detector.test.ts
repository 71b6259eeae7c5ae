import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_CROSS_SITE,
  DEFAULT_RECOVER_AFTER_SECONDS,
  DEFAULT_SAME_SITE,
  detectionBoundMs,
  monitoringSchema,
  monitorFileSchema,
  type ProbeSettings,
} from '../../infra/health/monitor-settings';
import { QuorumAggregator, UnknownReporterError } from '../../infra/health/quorum-aggregator';
import { RegionDetector, VantageVerdict, type RegionTransition } from '../../infra/health/region-detector';

/**
 * Region detection in simulated time: monitors (vantage points) probe a region at their own phase,
 * their verdict changes feed a RegionDetector, damping deadlines are ticked when due. Ten minutes
 * of probing take a few milliseconds.
 */

/** A small seeded PRNG (mulberry32): the same seed gives the same run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimVantage {
  name: string;
  settings: ProbeSettings;
  /** When its first probe starts. */
  phaseMs: number;
}

/** One probe's result as the simulated world gives it: ok or not, and how long it took. */
type World = (vantage: string, startedAt: number) => { ok: boolean; latencyMs: number };

/**
 * Runs probes from every vantage point until `untilMs`. Returns the region's transitions. The
 * region is healthy before `world` says otherwise; the vantage verdicts reach the detector the
 * moment the deciding probe ends (transport is the integration test's business).
 */
function simulate(opts: { vantages: SimVantage[]; recoverAfterMs: number; untilMs: number; world: World }): {
  transitions: RegionTransition[];
  detector: RegionDetector;
} {
  const detector = new RegionDetector({
    region: 'east',
    vantagePoints: opts.vantages.map((v) => v.name),
    recoverAfterMs: opts.recoverAfterMs,
  });
  const transitions: RegionTransition[] = [];
  const keep = (t: RegionTransition | undefined) => t && transitions.push(t);
  const probers = opts.vantages.map((v) => ({
    v,
    verdict: new VantageVerdict(v.settings),
    nextStart: v.phaseMs,
  }));
  for (;;) {
    // The next event: the earliest probe end among the vantage points, or a damping deadline.
    let best: (typeof probers)[number] | undefined;
    let bestEnd = Infinity;
    let bestResult = { ok: true, latencyMs: 0 };
    for (const p of probers) {
      const r = opts.world(p.v.name, p.nextStart);
      const latency = Math.min(r.latencyMs, p.v.settings.timeoutSeconds * 1000);
      const ok = r.ok && r.latencyMs < p.v.settings.timeoutSeconds * 1000;
      if (p.nextStart + latency < bestEnd) {
        best = p;
        bestEnd = p.nextStart + latency;
        bestResult = { ok, latencyMs: latency };
      }
    }
    const deadline = detector.nextDeadline();
    if (deadline !== undefined && deadline <= bestEnd && deadline <= opts.untilMs) {
      keep(detector.tick(deadline));
      continue;
    }
    if (!best || bestEnd > opts.untilMs) break;
    const changed = best.verdict.observe(bestResult.ok);
    if (changed) keep(detector.report(best.v.name, changed, bestEnd));
    best.nextStart += best.v.settings.intervalSeconds * 1000;
  }
  return { transitions, detector };
}

/** The production layout for region east: a monitor in east (same-site) and two elsewhere. */
function defaultVantages(rand: () => number): SimVantage[] {
  return [
    { name: 'east', settings: DEFAULT_SAME_SITE, phaseMs: rand() * 1000 },
    { name: 'west', settings: DEFAULT_CROSS_SITE, phaseMs: rand() * 2000 },
    { name: 'central', settings: DEFAULT_CROSS_SITE, phaseMs: rand() * 2000 },
  ];
}

/**
 * The bound the issue sets, interval × threshold + one interval, per vantage point; a region is
 * down once a majority is, so its bound is the majority-th smallest of theirs.
 */
function quorumBoundMs(vantages: SimVantage[], per: (s: ProbeSettings) => number): number {
  const bounds = vantages.map((v) => per(v.settings)).sort((a, b) => a - b);
  return bounds[Math.floor(vantages.length / 2)]!;
}
const issueBound = (s: ProbeSettings) => s.intervalSeconds * (s.failureThreshold + 1) * 1000;
const recoverAfterMs = DEFAULT_RECOVER_AFTER_SECONDS * 1000;

const firstTo = (ts: RegionTransition[], to: string, after = -Infinity) =>
  ts.find((t) => t.to === to && t.at >= after);

describe('VantageVerdict', () => {
  it('turns down after failureThreshold failures in a row and up after successThreshold successes', () => {
    const v = new VantageVerdict({ failureThreshold: 3, successThreshold: 2 });
    assert.equal(v.verdict, 'unknown');
    assert.equal(v.observe(true), undefined);
    assert.equal(v.observe(true), 'up');
    assert.equal(v.observe(false), undefined);
    assert.equal(v.observe(false), undefined);
    assert.equal(v.observe(true), undefined, 'a success resets the failure count');
    assert.deepEqual([v.observe(false), v.observe(false), v.observe(false)], [undefined, undefined, 'down']);
    assert.equal(v.observe(false), undefined, 'only changes are reported');
    assert.deepEqual(
      [v.observe(true), v.observe(false), v.observe(true), v.observe(true)],
      [undefined, undefined, undefined, 'up'],
    );
  });
});

describe('RegionDetector in simulated time (default settings, 3 vantage points)', () => {
  it('detects a stopped region within interval × threshold + one interval', () => {
    const rand = prng(8);
    for (let trial = 0; trial < 200; trial++) {
      const vantages = defaultVantages(rand);
      const stoppedAt = 60_000 + rand() * 5000;
      const { transitions } = simulate({
        vantages,
        recoverAfterMs,
        untilMs: stoppedAt + 60_000,
        // Connection refused: the probe fails at once.
        world: (_v, t) => ({ ok: t < stoppedAt, latencyMs: 1 }),
      });
      const down = firstTo(transitions, 'down');
      assert.ok(down, `trial ${trial}: never down`);
      const bound = quorumBoundMs(vantages, issueBound);
      assert.ok(
        down.at - stoppedAt <= bound,
        `trial ${trial}: down after ${down.at - stoppedAt} ms > ${bound} ms`,
      );
      assert.ok(down.at - stoppedAt <= quorumBoundMs(vantages, detectionBoundMs));
      // The same-site vantage point usually sees it first: healthy → degraded → down.
      assert.ok(['healthy', 'degraded'].includes(down.from));
      assert.ok(down.votes.down >= 2);
    }
  });

  it('detects a region slowed beyond the timeout within the same bound', () => {
    const rand = prng(9);
    for (let trial = 0; trial < 200; trial++) {
      const vantages = defaultVantages(rand);
      const slowFrom = 60_000 + rand() * 5000;
      const { transitions } = simulate({
        vantages,
        recoverAfterMs,
        untilMs: slowFrom + 60_000,
        world: (_v, t) => ({ ok: true, latencyMs: t < slowFrom ? 20 : 5000 }),
      });
      const down = firstTo(transitions, 'down');
      assert.ok(down, `trial ${trial}: never down`);
      const bound = quorumBoundMs(vantages, issueBound);
      assert.ok(
        down.at - slowFrom <= bound,
        `trial ${trial}: down after ${down.at - slowFrom} ms > ${bound} ms`,
      );
    }
  });

  it('counts a recovered region healthy only after recoverAfterSeconds of healthy majority (flap damping)', () => {
    const rand = prng(10);
    for (let trial = 0; trial < 50; trial++) {
      const vantages = defaultVantages(rand);
      const stoppedAt = 30_000 + rand() * 5000;
      const backAt = stoppedAt + 20_000;
      const { transitions, detector } = simulate({
        vantages,
        recoverAfterMs,
        untilMs: backAt + 120_000,
        world: (_v, t) => ({ ok: t < stoppedAt || t >= backAt, latencyMs: 1 }),
      });
      const states = transitions.map((t) => t.to);
      assert.deepEqual(states.slice(-2), ['down', 'healthy'], states.join(' → '));
      const healthy = transitions.at(-1)!;
      // Every verdict turns up within successThreshold + 1 intervals; damping then holds for
      // recoverAfter from the moment all say up.
      const upBound = Math.max(
        ...vantages.map((v) => v.settings.intervalSeconds * (v.settings.successThreshold + 1) * 1000),
      );
      assert.ok(healthy.at - backAt >= recoverAfterMs, `healthy after ${healthy.at - backAt} ms`);
      assert.ok(healthy.at - backAt <= recoverAfterMs + upBound, `healthy after ${healthy.at - backAt} ms`);
      assert.match(healthy.reason, /healthy majority for 30 s/);
      assert.equal(detector.history.length, transitions.length);
      assert.equal(detector.state, 'healthy');
    }
  });

  it('restarts the damping clock when a recovering region fails again', () => {
    const vantages = defaultVantages(prng(11));
    const outages = [
      [30_000, 50_000],
      [65_000, 75_000], // 15 s into the recovery: not yet healthy, down again
    ] as const;
    const { transitions } = simulate({
      vantages,
      recoverAfterMs,
      untilMs: 200_000,
      world: (_v, t) => ({ ok: !outages.some(([a, b]) => t >= a && t < b), latencyMs: 1 }),
    });
    const healthyAgain = transitions.filter((t) => t.to === 'healthy' && t.at > 30_000);
    assert.equal(healthyAgain.length, 1, transitions.map((t) => t.to).join(' → '));
    assert.ok(healthyAgain[0]!.at >= 75_000 + recoverAfterMs, 'damping counts from the second recovery');
  });

  it('a vantage point whose probes fail alone (network loss on its side) makes the region degraded, never down', () => {
    for (const lossy of ['east', 'west', 'central']) {
      const { transitions, detector } = simulate({
        vantages: defaultVantages(prng(12)),
        recoverAfterMs,
        untilMs: 10 * 60_000,
        world: (v, t) => ({ ok: !(v === lossy && t >= 60_000), latencyMs: 1 }),
      });
      assert.deepEqual(
        transitions.map((t) => t.to),
        ['healthy', 'degraded'],
        lossy,
      );
      assert.equal(detector.state, 'degraded');
      assert.deepEqual(detector.votes().byVantage[lossy]!.verdict, 'down');
    }
  });

  it('probes failing at random with 20 % probability for 10 minutes never make the region down', () => {
    // Each seed is a different 10 minutes of flapping; every one must stay clear of `down`.
    for (let seed = 1; seed <= 50; seed++) {
      const rand = prng(seed);
      const vantages = defaultVantages(rand);
      const { transitions, detector } = simulate({
        vantages,
        recoverAfterMs,
        untilMs: 10 * 60_000,
        world: () => ({ ok: rand() >= 0.2, latencyMs: 1 }),
      });
      assert.equal(
        transitions.find((t) => t.to === 'down'),
        undefined,
        `seed ${seed}: ${JSON.stringify(transitions.find((t) => t.to === 'down'))}`,
      );
      assert.notEqual(detector.state, 'down');
    }
  });

  it('a fenced region is halted whatever the votes, and is not healthy before damping once lifted', () => {
    const d = new RegionDetector({ region: 'east', vantagePoints: ['a', 'b', 'c'], recoverAfterMs: 10_000 });
    d.report('a', 'up', 0);
    assert.equal(d.report('b', 'up', 0)?.to, 'healthy');
    assert.equal(d.setHalted(true, 1000, 'fenced by failover op-1')?.to, 'halted');
    assert.equal(d.report('a', 'down', 2000), undefined);
    assert.equal(d.report('b', 'down', 2000), undefined);
    assert.equal(d.state, 'halted');
    d.report('a', 'up', 3000);
    d.report('b', 'up', 3000);
    d.report('c', 'up', 3000);
    assert.equal(d.setHalted(false, 5000, 'failback op-2')?.to, 'degraded');
    assert.equal(d.nextDeadline(), 13_000);
    assert.equal(d.tick(12_999), undefined);
    assert.equal(d.tick(13_000)?.to, 'healthy');
  });

  it('a split without majority is degraded; unknown until a majority has spoken', () => {
    const d = new RegionDetector({ region: 'east', vantagePoints: ['a', 'b', 'c', 'd'], recoverAfterMs: 0 });
    assert.equal(d.report('a', 'up', 0), undefined);
    assert.equal(d.report('b', 'up', 0), undefined);
    assert.equal(d.state, 'unknown');
    assert.equal(d.report('c', 'up', 0)?.to, 'healthy');
    assert.equal(d.report('c', 'down', 1), undefined, 'd has not spoken: still healthy');
    assert.equal(d.report('d', 'down', 1)?.to, 'degraded', '2 up, 2 down: degraded, not down');
    assert.equal(d.report('b', 'down', 2)?.to, 'down');
  });
});

describe('QuorumAggregator', () => {
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
  const report = (vantage: string, region: string, verdict: 'up' | 'down', at: string) => ({
    vantage,
    region,
    verdict,
    at,
    latencyMs: 1,
    reason: verdict === 'up' ? 'ok' : 'ECONNREFUSED',
  });

  it('emits transitions, arms the damping timer, refuses strangers', () => {
    const clock = fakeClock();
    const agg = new QuorumAggregator({
      regions: ['east', 'west'],
      vantagePoints: ['a', 'b', 'c'],
      recoverAfterSeconds: 5,
      ...clock,
    });
    const seen: string[] = [];
    agg.onTransition((t) => seen.push(`${t.region}:${t.from}->${t.to}`));
    for (const v of ['a', 'b', 'c']) agg.receive(report(v, 'east', 'up', '2026-01-01T00:00:00.000Z'));
    agg.receive(report('a', 'east', 'down', '2026-01-01T00:00:10.000Z'));
    agg.receive(report('b', 'east', 'down', '2026-01-01T00:00:10.000Z'));
    assert.equal(agg.state('east'), 'down');

    clock.advance(1000);
    agg.receive(report('a', 'east', 'up', '2026-01-01T00:00:20.000Z'));
    agg.receive(report('b', 'east', 'up', '2026-01-01T00:00:20.000Z'));
    clock.advance(4999);
    assert.equal(agg.state('east'), 'down');
    clock.advance(1);
    assert.equal(agg.state('east'), 'healthy');
    assert.deepEqual(seen, [
      'east:unknown->healthy',
      'east:healthy->degraded',
      'east:degraded->down',
      'east:down->healthy',
    ]);
    assert.equal(agg.states().west, 'unknown');

    assert.throws(
      () => agg.receive(report('x', 'east', 'up', '2026-01-01T00:00:30.000Z')),
      UnknownReporterError,
    );
    assert.throws(
      () => agg.receive(report('a', 'north', 'up', '2026-01-01T00:00:30.000Z')),
      UnknownReporterError,
    );
    agg.close();
  });

  it("orders reports by receive time: a report's own `at`, even far ahead, hides no later report", () => {
    const clock = fakeClock();
    const agg = new QuorumAggregator({
      regions: ['east'],
      vantagePoints: ['a', 'b', 'c'],
      recoverAfterSeconds: 0,
      ...clock,
    });
    for (const v of ['a', 'b', 'c']) agg.receive(report(v, 'east', 'up', '2026-01-01T00:00:00.000Z'));
    agg.receive(report('a', 'east', 'down', '2099-01-01T00:00:00.000Z'));
    agg.receive(report('b', 'east', 'down', '2099-01-01T00:00:00.000Z'));
    assert.equal(agg.state('east'), 'down');
    clock.advance(1000);
    // The monitors' clocks are back (or the dates were forged): their next reports still count.
    agg.receive(report('a', 'east', 'up', '2026-01-01T00:00:01.000Z'));
    agg.receive(report('b', 'east', 'up', '2026-01-01T00:00:01.000Z'));
    assert.deepEqual(
      [agg.votes('east').byVantage.a!.verdict, agg.votes('east').byVantage.b!.verdict],
      ['up', 'up'],
    );
    clock.advance(1);
    assert.equal(agg.state('east'), 'healthy');
    agg.close();
  });
});

describe('monitoring settings', () => {
  it('has the documented defaults, cross-site more tolerant than same-site', () => {
    const m = monitoringSchema.parse({});
    assert.deepEqual(m.sameSite, {
      intervalSeconds: 1,
      timeoutSeconds: 0.8,
      failureThreshold: 4,
      successThreshold: 2,
    });
    assert.deepEqual(m.crossSite, {
      intervalSeconds: 2,
      timeoutSeconds: 1.5,
      failureThreshold: 6,
      successThreshold: 2,
    });
    assert.equal(m.recoverAfterSeconds, 30);
    assert.ok(detectionBoundMs(m.crossSite) > detectionBoundMs(m.sameSite));
  });

  it('refuses a timeout longer than the interval, bad targets and a file without targets', () => {
    const bad = monitoringSchema.safeParse({
      sameSite: { intervalSeconds: 1, timeoutSeconds: 2, failureThreshold: 3, successThreshold: 2 },
    });
    assert.equal(bad.success, false);
    assert.match(JSON.stringify(bad.error?.issues), /timeoutSeconds must not exceed intervalSeconds/);
    assert.equal(monitoringSchema.safeParse({ targets: { east: { tcp: 'no-port' } } }).success, false);
    assert.equal(monitoringSchema.safeParse({ targets: { east: { http: 'ftp://x' } } }).success, false);
    assert.equal(monitorFileSchema.safeParse({ monitoring: {} }).success, false);
    assert.equal(
      monitorFileSchema.safeParse({
        monitoring: { targets: { east: { http: 'http://127.0.0.1:8080/healthz' } } },
      }).success,
      true,
    );
  });
});
