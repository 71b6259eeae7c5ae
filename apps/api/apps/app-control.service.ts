import { Inject, Injectable, Logger } from '@nestjs/common';
import { type SwitchyardConfig, softDeleteWindowSeconds } from '../../../infra/config/config.schema';
import type { ControlState } from '../../../infra/storage/control-state.store';
import { OperationsRepository } from '../../../infra/temporal/operations.repository';
import { type ControlRefusal, overrideRefusal, regionRemoveRefusal } from '../../../workflows/control-guards';
import { ApiError, orUnavailable } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { deleteApproval } from '../operations/delete-approval';
import { OperationsService } from '../operations/operations.service';
import { Metrics } from '../system/metrics';
import { CONFIG } from '../tokens';
import { AppsService } from './apps.service';
import type { OverrideRequest } from './app-control.dto';
import { ControlViewService } from './control-view.service';

export interface SoftControlStarted {
  operationId: string;
  undoableUntil: string;
  awaitingApproval: boolean;
}

export function refusalToApi(r: ControlRefusal): ApiError {
  return new ApiError(r.status, r.code, r.message, r.details);
}

/**
 * The soft operations on an app's control state (docs/soft-deletes.md): removing a region and an
 * operator's override. The guard rails are checked here first (a refusal changes nothing), then
 * again by the operation's workflow while it holds the app.
 */
@Injectable()
export class AppControlService {
  private readonly log = new Logger('app-control');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly apps: AppsService,
    private readonly controlView: ControlViewService,
    private readonly operations: OperationsRepository,
    private readonly operationsService: OperationsService,
    private readonly metrics: Metrics,
  ) {}

  private async state(app: string): Promise<ControlState> {
    try {
      return (await this.controlView.read(app)).view.state;
    } catch (err) {
      throw new ApiError(503, 'control-state-unavailable', (err as Error).message);
    }
  }

  async removeRegion(
    appName: string,
    region: string,
    reason: string,
    principal: Principal,
  ): Promise<SoftControlStarted> {
    const app = this.apps.appConfig(appName);
    const regions = app.regions.map((r) => r.name);
    if (!regions.includes(region)) {
      throw refusalToApi(regionRemoveRefusal({} as ControlState, appName, region, regions)!);
    }
    await this.operationsService.ensureSlotFree(appName, 'operation');
    const refusal = regionRemoveRefusal(await this.state(appName), appName, region, regions);
    if (refusal) throw refusalToApi(refusal);
    const windowSeconds = softDeleteWindowSeconds(app, 'region-remove');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    const approval = deleteApproval(app, 'region-remove');
    const started = await orUnavailable(
      this.operations.startRegionRemove({
        app: appName,
        spec: { region, reason, trigger: 'api' },
        requestedBy: principal.name,
        taskQueuePrefix: this.config.temporal.taskQueuePrefix,
        undoableUntil,
        windowSeconds,
        regions,
        ...(approval ? { approval } : {}),
      }),
    );
    this.metrics.operationsStarted.inc({ kind: 'region-remove', app: appName });
    this.log.log(
      `removal ${started.operationId} of region ${region} from ${appName} requested by ${principal.name}; ` +
        (approval ? `waits for approval (${approval.why})` : `undoable until ${undoableUntil}`),
    );
    return { ...started, awaitingApproval: approval !== undefined };
  }

  async override(appName: string, req: OverrideRequest, principal: Principal): Promise<SoftControlStarted> {
    const app = this.apps.appConfig(appName);
    const regions = app.regions.map((r) => r.name);
    if (!regions.includes(req.region)) {
      throw refusalToApi(overrideRefusal({} as ControlState, appName, req.action, req.region, regions)!);
    }
    await this.operationsService.ensureSlotFree(appName, 'operation');
    const refusal = overrideRefusal(await this.state(appName), appName, req.action, req.region, regions);
    if (refusal) throw refusalToApi(refusal);
    const windowSeconds = softDeleteWindowSeconds(app, 'control-override');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    // A halt only takes writes away (a fence by hand): it never waits for an approver.
    const approval = req.action === 'halt' ? undefined : deleteApproval(app, 'control-override');
    const started = await orUnavailable(
      this.operations.startControlOverride({
        app: appName,
        spec: { action: req.action, region: req.region, reason: req.reason, trigger: 'api' },
        requestedBy: principal.name,
        taskQueuePrefix: this.config.temporal.taskQueuePrefix,
        undoableUntil,
        windowSeconds,
        regions,
        writeLeaseMs: Math.round(app.fencing.writeLeaseSeconds * 1000),
        ...(approval ? { approval } : {}),
      }),
    );
    this.metrics.operationsStarted.inc({ kind: 'control-override', app: appName });
    this.log.log(
      `override ${started.operationId} of ${appName} (${req.action} ${req.region}) requested by ${principal.name}; ` +
        (approval ? `waits for approval (${approval.why})` : `undoable until ${undoableUntil}`),
    );
    return { ...started, awaitingApproval: approval !== undefined };
  }
}
