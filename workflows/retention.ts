/**
 * Which restore points a retention policy keeps. Pure and deterministic (no I/O, no clock: `now`
 * is given), so the same plan comes out in a workflow, in the API and in a test. Documented in
 * docs/schedules.md#retention.
 *
 * Rules, applied to the points committed at or before `now`, newest first:
 * - `newest`: the newest point is always kept, whatever the policy says.
 * - `last`: the newest `keepLast` points.
 * - `daily:<YYYY-MM-DD>`: the newest point of each UTC day, for the newest `keepDaily` days that
 *   have points (restic's and borg's reading, not calendar days back from `now`: when points stop
 *   arriving, the passing of time alone never expires one).
 * - `weekly:<YYYY-Www>`: the newest point of each ISO 8601 week (Monday to Sunday, UTC; the week
 *   belongs to the year of its Thursday), for the newest `keepWeekly` weeks that have points.
 * A point may be kept for several reasons; every other point expires.
 *
 * Points this plan cannot place are kept, never expired: one committed after `now` (clock skew
 * between regions; reason `after-now`) and one whose time does not parse (reason `invalid-time`).
 * Equal times are ordered by id, the greater id counting as the newer. An id given twice is one
 * point (its newest time counts).
 */

export interface RetentionPolicy {
  keepLast: number;
  keepDaily: number;
  keepWeekly: number;
}

export interface RetainablePoint {
  id: string;
  /** ISO 8601 time the point's manifest was committed. */
  committedAt: string;
}

export interface RetentionPlan {
  /** Newest first, each with why it is kept. */
  keep: { id: string; reasons: string[] }[];
  /** Newest first. */
  expire: { id: string }[];
}

export function planRetention(
  points: readonly RetainablePoint[],
  policy: RetentionPolicy,
  now: Date,
): RetentionPlan {
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`retention policy ${name} must be a whole number ≥ 0 (got ${String(value)})`);
    }
  }
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new RangeError('retention: `now` is not a valid date');

  const byId = new Map<string, { id: string; at: number }>();
  for (const p of points) {
    const at = Date.parse(p.committedAt);
    const seen = byId.get(p.id);
    if (!seen || newer({ id: p.id, at }, seen)) byId.set(p.id, { id: p.id, at });
  }
  const ordered = [...byId.values()].sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0));

  const reasons = new Map<string, string[]>(ordered.map((p) => [p.id, []]));
  const because = (id: string, reason: string) => reasons.get(id)!.push(reason);
  const dated: { id: string; at: number }[] = [];
  for (const p of ordered) {
    if (Number.isNaN(p.at)) because(p.id, 'invalid-time');
    else if (p.at > nowMs) because(p.id, 'after-now');
    else dated.push(p);
  }

  if (dated.length > 0) because(dated[0]!.id, 'newest');
  dated.slice(0, policy.keepLast).forEach((p) => because(p.id, 'last'));
  keepNewestPerPeriod(dated, policy.keepDaily, utcDay, 'daily', because);
  keepNewestPerPeriod(dated, policy.keepWeekly, isoWeek, 'weekly', because);

  const plan: RetentionPlan = { keep: [], expire: [] };
  for (const p of ordered) {
    const r = reasons.get(p.id)!;
    if (r.length > 0) plan.keep.push({ id: p.id, reasons: r });
    else plan.expire.push({ id: p.id });
  }
  return plan;
}

/** Newer: later time; for equal times, the greater id. Unparseable times sort after everything. */
function newer(a: { id: string; at: number }, b: { id: string; at: number }): boolean {
  const an = Number.isNaN(a.at);
  const bn = Number.isNaN(b.at);
  if (an !== bn) return bn;
  if (!an && a.at !== b.at) return a.at > b.at;
  return a.id > b.id;
}

/** `dated` is newest first, so the first point met in a period is that period's newest. */
function keepNewestPerPeriod(
  dated: readonly { id: string; at: number }[],
  periods: number,
  periodOf: (ms: number) => string,
  label: string,
  because: (id: string, reason: string) => void,
): void {
  const seen = new Set<string>();
  for (const p of dated) {
    if (seen.size >= periods) return;
    const period = periodOf(p.at);
    if (seen.has(period)) continue;
    seen.add(period);
    because(p.id, `${label}:${period}`);
  }
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The UTC day, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The ISO 8601 week, `YYYY-Www`: weeks start on Monday and belong to the year of their Thursday. */
export function isoWeek(ms: number): string {
  const d = new Date(ms);
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = day.getUTCDay() || 7; // Monday 1 … Sunday 7
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week
  const year = day.getUTCFullYear();
  const week = Math.floor((day.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return `${pad(year, 4)}-W${pad(week)}`;
}
