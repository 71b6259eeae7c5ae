import { Injectable } from '@nestjs/common';
import {
  type ControlState,
  ControlStateStore,
  type ControlStateRead,
} from '../../../infra/storage/control-state.store';
import { describeS3Error } from '../../../infra/storage/s3.client';
import { ControllerRepository } from '../../../infra/temporal/controller.repository';
import type { ControlTransition } from '../../../workflows/control';

/** Where GET /v1/apps/{app} took the control state from. */
export type ControlSource = 'controller' | 'buckets' | 'config';

export interface ControlView {
  source: ControlSource;
  /** Why the controller was not asked or did not answer (only when `source` is not `controller`). */
  fallbackReason?: string;
  state: ControlState;
  currentOperation: string | null;
  /** The controller's most recent changes, newest first; empty when read from the buckets. */
  transitions: ControlTransition[];
}

export interface ControlReadOptions {
  /** Also read every region's bucket (for their per-region status), not only as a fallback. */
  buckets?: boolean;
}

/**
 * The app's control state for the API: from its controller when Temporal answers, else from the
 * buckets (the newest copy), else from the configuration; the answer says which and why.
 */
@Injectable()
export class ControlViewService {
  constructor(
    private readonly store: ControlStateStore,
    private readonly controller: ControllerRepository,
  ) {}

  async read(
    app: string,
    options: ControlReadOptions = {},
  ): Promise<{ view: ControlView; buckets: ControlStateRead | { error: string } | null }> {
    const readBuckets = () => this.store.read(app).catch((err: unknown) => ({ error: describeS3Error(err) }));
    const [fromController, early] = await Promise.all([
      this.controller.view(app).then(
        (v) => ({ v }),
        (err: unknown) => ({ err: err as Error }),
      ),
      options.buckets ? readBuckets() : Promise.resolve(null),
    ]);
    if ('v' in fromController && fromController.v) {
      const v = fromController.v;
      return {
        view: {
          source: 'controller',
          state: v.state,
          currentOperation: v.currentOperation,
          transitions: [...v.transitions].reverse(),
        },
        buckets: early,
      };
    }
    const fallbackReason =
      'v' in fromController
        ? 'the app has no controller yet (no change has gone through it)'
        : `Temporal did not answer: ${fromController.err.message}`;
    const buckets = early ?? (await readBuckets());
    if ('error' in buckets) {
      throw new Error(`${fallbackReason}; and ${buckets.error}`);
    }
    return {
      view: {
        source: buckets.source,
        fallbackReason,
        state: buckets.state,
        currentOperation: buckets.state.currentOperation ?? null,
        transitions: [],
      },
      buckets,
    };
  }
}
