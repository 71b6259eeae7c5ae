import type { ControlState, ControlTombstone } from '../../../infra/storage/control-state.store';
import { regionTarget, tombstoneOf } from '../../../workflows/control';

/**
 * GET /v1/regions without the regions a region-remove operation removed (docs/soft-deletes.md);
 * with `include=deleted` they are listed, marked `deleted`. `states` is the newest control state
 * the API has read of each app.
 */
export function withoutRemovedRegions<R extends { region: string }, A extends { app: string; regions: R[] }>(
  items: A[],
  states: ReadonlyMap<string, ControlState>,
  includeDeleted: boolean,
): (A & { regions: (R & { deleted?: ControlTombstone })[] })[] {
  return items.map((a) => {
    const state = states.get(a.app);
    return {
      ...a,
      regions: a.regions.flatMap((r) => {
        const deleted = state ? tombstoneOf(state, regionTarget(r.region)) : undefined;
        if (!deleted) return [r];
        return includeDeleted ? [{ ...r, deleted }] : [];
      }),
    };
  });
}
