import { removedRegionRefusal } from '../../../workflows/control-guards';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { scratchPlaceOf, scratchRegionOf } from '../../../infra/config/scratch';
import type { DrillInput } from '../../../workflows/drill.workflow';
import type { DrillSpec } from '../../../workflows/operation';
import { AppsService } from '../apps/apps.service';
import { ApiError } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { OperationsService } from '../operations/operations.service';
import { CONFIG } from '../tokens';
import type { DrillRequest } from './drills.dto';

/** Drills (docs/drills.md): what can be refused before anything starts, then the drill operation. */
@Injectable()
export class DrillsService {
  private readonly log = new Logger('drills');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly apps: AppsService,
    private readonly operations: OperationsService,
  ) {}

  async start(appName: string, req: DrillRequest, principal: Principal): Promise<{ operationId: string }> {
    const app = this.apps.appConfig(appName);
    if (app.services.length === 0) {
      throw ApiError.unprocessable(
        'no-services',
        `app "${appName}" declares no services: a drill has nothing to restore (apps.${appName}.services)`,
      );
    }
    const region = scratchRegionOf(app);
    const missing = app.services.filter((s) => !scratchPlaceOf(s, region)).map((s) => s.name);
    if (missing.length > 0) {
      throw ApiError.unprocessable(
        'no-scratch-place',
        `service(s) ${missing.join(', ')} have no scratch place in region ${region}: declare apps.${appName}.services[].regions.${region}.scratch`,
        { region, services: missing },
      );
    }
    const control = await this.apps.readControlState(appName);
    const removed = removedRegionRefusal(control.state, appName, region, 'a drill target');
    if (removed) throw new ApiError(removed.status, removed.code, removed.message, removed.details);
    if (control.state.activeRegion === region) {
      throw ApiError.conflict(
        'scratch-region-is-active',
        `region ${region} is the active region of app "${appName}": a drill never touches it (set apps.${appName}.drills.region to a standby region)`,
        { activeRegion: region },
      );
    }
    await this.operations.ensureSlotFree(appName, 'drill');
    const spec: DrillSpec = { reason: req.reason, trigger: 'api' };
    const input: DrillInput = {
      app: appName,
      spec,
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
    };
    const operationId = await this.operations.start('drill', appName, spec, principal, input);
    this.log.log(`drill ${operationId} of ${appName} in ${region} requested by ${principal.name}`);
    return { operationId };
  }
}
