/**
 * Region health as the app's controller keeps it (docs/health-monitoring.md#where-the-state-lives):
 * each region's current state and its newest transitions, fed one transition at a time by the
 * API's quorum. Only transitions reach the workflow, never probes or reports. Pure: loaded in the
 * workflow sandbox.
 */

export type RegionHealthState = 'unknown' | 'healthy' | 'degraded' | 'down' | 'halted';

/** One region transition as the quorum emitted it (infra/health/region-detector.ts), time in ISO. */
export interface RegionHealthTransition {
  region: string;
  from: RegionHealthState;
  to: RegionHealthState;
  /** When the quorum decided it (the API's clock), ISO 8601. */
  at: string;
  reason: string;
  /** The votes behind it (`Votes`: counts and each vantage point's vote). */
  votes: unknown;
}

export interface RegionHealthRecord {
  state: RegionHealthState;
  /** When it entered `state` (the newest transition's `at`). */
  since: string;
  /** The newest transitions, oldest first, at most REGION_HEALTH_HISTORY. */
  history: RegionHealthTransition[];
}

/** By region. */
export type RegionHealthBook = Record<string, RegionHealthRecord>;

export interface RecordRegionTransitionRequest {
  app: string;
  transition: RegionHealthTransition;
}

export interface RecordRegionTransitionResult {
  /** False for a transition already recorded (a retry) or older than the region's newest one. */
  recorded: boolean;
  state: RegionHealthState;
}

/** Transitions kept per region: what GET /v1/regions shows. */
export const REGION_HEALTH_HISTORY = 100;

const STATES: readonly RegionHealthState[] = ['unknown', 'healthy', 'degraded', 'down', 'halted'];

/** Why a transition cannot be recorded (the update's validator refuses it), or null. */
export function regionTransitionProblem(t: RegionHealthTransition, regions: string[]): string | null {
  if (!regions.includes(t.region)) return `unknown region "${t.region}" (regions: ${regions.join(', ')})`;
  if (!STATES.includes(t.from) || !STATES.includes(t.to)) return `unknown state in ${t.from} -> ${t.to}`;
  if (Number.isNaN(Date.parse(t.at))) return `"at" is not a time: ${t.at}`;
  return null;
}

/**
 * The book with `t` recorded. Idempotent (the same region, `at` and `to` again changes nothing)
 * and ordered: a transition older than the region's newest is not recorded.
 */
export function recordRegionTransition(
  book: RegionHealthBook,
  t: RegionHealthTransition,
): { book: RegionHealthBook; recorded: boolean } {
  const current = book[t.region];
  const newest = current?.history[current.history.length - 1];
  if (
    newest &&
    (Date.parse(t.at) < Date.parse(newest.at) || current.history.some((h) => h.at === t.at && h.to === t.to))
  )
    return { book, recorded: false };
  const history = [...(current?.history ?? []), t].slice(-REGION_HEALTH_HISTORY);
  return { book: { ...book, [t.region]: { state: t.to, since: t.at, history } }, recorded: true };
}
