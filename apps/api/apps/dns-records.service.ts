import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  type AppConfig,
  softDeleteWindowSeconds,
  type SwitchyardConfig,
} from '../../../infra/config/config.schema';
import type { ControlState } from '../../../infra/storage/control-state.store';
import { dnsRecordTarget, regionTarget, tombstoneOf } from '../../../workflows/control';
import { DNS_RECORD_SOFT_REFUSALS, normalizeRecordName } from '../../../workflows/dns-record-soft';
import { ApiError } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { deleteApproval } from '../operations/delete-approval';
import { OperationsService } from '../operations/operations.service';
import { CONFIG } from '../tokens';
import { AppsService } from './apps.service';
import { ControlViewService } from './control-view.service';
import type { OverrideDnsRecordRequest } from './dns-records.dto';

export interface SoftDnsChangeStarted {
  operationId: string;
  undoableUntil: string;
  awaitingApproval: boolean;
}

/**
 * Soft DNS changes (docs/soft-deletes.md, DNS records): removing one of an app's DNS records
 * (`dns-record-delete`) and overriding where one points (`dns-override`). The guard rails are
 * checked here first (a refusal changes nothing) and again by the workflow.
 */
@Injectable()
export class DnsRecordsService {
  private readonly log = new Logger('dns-records');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly apps: AppsService,
    private readonly controlView: ControlViewService,
    private readonly operations: OperationsService,
  ) {}

  /** The record's name as configured; 404 dns-record-not-found naming the app's records. */
  private recordOf(appName: string, app: AppConfig, name: string): string {
    const wanted = normalizeRecordName(name);
    if (!app.dns.records.some((r) => normalizeRecordName(r.name) === wanted)) {
      const records = [...new Set(app.dns.records.map((r) => normalizeRecordName(r.name)))];
      throw ApiError.notFound(
        DNS_RECORD_SOFT_REFUSALS.notFound,
        `app "${appName}" has no DNS record "${wanted}" (records: ${records.join(', ')})`,
        { records },
      );
    }
    return wanted;
  }

  /** The control state; 409 operation-in-progress while an operation holds the app. */
  private async freeControl(appName: string): Promise<ControlState> {
    const { view } = await this.controlView.read(appName).catch((err: unknown) => {
      throw new ApiError(503, 'control-state-unavailable', (err as Error).message);
    });
    const holder = view.state.currentOperation ?? null;
    if (holder) {
      throw ApiError.conflict(
        DNS_RECORD_SOFT_REFUSALS.operationInProgress,
        `operation ${holder} holds app "${appName}": its DNS records cannot change until it ends`,
        { operationId: holder },
      );
    }
    await this.operations.ensureSlotFree(appName, 'operation');
    return view.state;
  }

  /** 409 when the record is removed already (or for good), naming the operation to undo. */
  private refuseRemoved(appName: string, state: ControlState, name: string, code: string): void {
    const t = tombstoneOf(state, dnsRecordTarget(name));
    if (!t) return;
    throw ApiError.conflict(
      code,
      t.purgedAt
        ? `DNS record ${name} of app "${appName}" was removed for good by operation ${t.operationId} (purged at ${t.purgedAt}): drop it from switchyard.yaml`
        : `DNS record ${name} of app "${appName}" is removed (operation ${t.operationId}, undoable until ${t.undoableUntil}); undo that operation to bring it back`,
      {
        operationId: t.operationId,
        undoableUntil: t.undoableUntil,
        ...(t.purgedAt ? { purgedAt: t.purgedAt } : {}),
      },
    );
  }

  async remove(
    appName: string,
    name: string,
    reason: string,
    principal: Principal,
  ): Promise<SoftDnsChangeStarted> {
    const app = this.apps.appConfig(appName);
    const recordName = this.recordOf(appName, app, name);
    const state = await this.freeControl(appName);
    this.refuseRemoved(appName, state, recordName, DNS_RECORD_SOFT_REFUSALS.alreadyDeleted);
    const windowSeconds = softDeleteWindowSeconds(app, 'dns-record-delete');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    const approval = deleteApproval(app, 'dns-record-delete');
    const started = await this.operations.startDnsRecordDelete({
      app: appName,
      spec: { recordName, reason, trigger: 'api' },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      undoableUntil,
      windowSeconds,
      ...(approval ? { approval } : {}),
    });
    this.log.log(
      `removal ${started.operationId} of DNS record ${recordName} of ${appName} requested by ${principal.name}; ` +
        (approval ? `waits for approval (${approval.why})` : `undoable until ${undoableUntil}`),
    );
    return { ...started, awaitingApproval: approval !== undefined };
  }

  async override(
    appName: string,
    name: string,
    req: OverrideDnsRecordRequest,
    principal: Principal,
  ): Promise<SoftDnsChangeStarted> {
    const app = this.apps.appConfig(appName);
    const recordName = this.recordOf(appName, app, name);
    const region = app.regions.find((r) => r.name === req.region);
    if (!region) {
      throw ApiError.unprocessable('unknown-region', `app "${appName}" has no region "${req.region}"`, {
        regions: app.regions.map((r) => r.name),
      });
    }
    const state = await this.freeControl(appName);
    this.refuseRemoved(appName, state, recordName, DNS_RECORD_SOFT_REFUSALS.deleted);
    if (state.halted.includes(region.name)) {
      throw ApiError.conflict(
        DNS_RECORD_SOFT_REFUSALS.regionHalted,
        `region "${region.name}" of app "${appName}" is halted (fenced by an earlier failover): no record may point at it`,
        { halted: state.halted },
      );
    }
    const gone = tombstoneOf(state, regionTarget(region.name));
    if (gone) {
      throw ApiError.conflict(
        DNS_RECORD_SOFT_REFUSALS.regionRemoved,
        `region "${region.name}" of app "${appName}" is removed (operation ${gone.operationId}): no record may point at it`,
        { operationId: gone.operationId },
      );
    }
    const windowSeconds = softDeleteWindowSeconds(app, 'dns-override');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    const approval = deleteApproval(app, 'dns-override');
    const started = await this.operations.startDnsOverride({
      app: appName,
      spec: { recordName, region: region.name, reason: req.reason, trigger: 'api' },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      undoableUntil,
      windowSeconds,
      set: { ttl: app.dns.ttl, values: [region.dns.target] },
      ...(approval ? { approval } : {}),
    });
    this.log.log(
      `override ${started.operationId} of DNS record ${recordName} of ${appName} to ${region.name} requested by ${principal.name}; ` +
        (approval ? `waits for approval (${approval.why})` : `undoable until ${undoableUntil}`),
    );
    return { ...started, awaitingApproval: approval !== undefined };
  }
}
