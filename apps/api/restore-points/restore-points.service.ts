import { removedRegionRefusal } from '../../../workflows/control-guards';
import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { CatalogUnavailableError, RestorePointCatalog } from '../../../infra/backup/catalog';
import { parseRestorePointId, restorePointIdOf } from '../../../workflows/definitions';
import type { RestorePointInput } from '../../../workflows/operation';
import type { RestoreInput } from '../../../workflows/restore.workflow';
import { AppsService } from '../apps/apps.service';
import { ApiError } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { OperationsService } from '../operations/operations.service';
import { CONFIG } from '../tokens';
import type { VerificationInput } from '../../../workflows/verification.workflow';
import { softDeleteWindowSeconds } from '../../../infra/config/config.schema';
import { bulkDeleteRefusals, DELETE_REFUSALS } from '../../../workflows/soft-delete';
import { deleteApproval } from '../operations/delete-approval';
import type {
  BulkDeleteRestorePointsQuery,
  DeleteRestorePointQuery,
  RestoreRequest,
  TakeRestorePointRequest,
  VerifyRequest,
} from './restore-points.dto';

/** Restore points (the catalog, from the buckets) and the operations that take and restore them. */
@Injectable()
export class RestorePointsService {
  private readonly log = new Logger('restore-points');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly apps: AppsService,
    private readonly operations: OperationsService,
    private readonly catalog: RestorePointCatalog,
  ) {}

  private async read<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof CatalogUnavailableError) {
        throw new ApiError(503, 'catalog-unavailable', err.message, { regions: err.regions });
      }
      throw err;
    }
  }

  async list(app: string, opts: { includeDeleted?: boolean } = {}) {
    this.apps.appConfig(app);
    return this.read(this.catalog.list(app, Date.now(), opts));
  }

  /**
   * Soft-deletes a restore point: the guard rails first (a refusal changes nothing), then a
   * soft-delete operation that tombstones it at once and purges it when the window ends.
   */
  async softDelete(id: string, q: DeleteRestorePointQuery, principal: Principal) {
    const parsed = parseRestorePointId(id);
    if (!parsed || !this.config.apps[parsed.app]) {
      throw ApiError.notFound('restore-point-not-found', `no restore point with id "${id}"`);
    }
    return this.startDelete(parsed.app, [id], q.reason, principal);
  }

  /**
   * Soft-deletes several restore points in one operation: those cut before `olderThan` (not
   * deleted already), or the `ids` given. Every guard rail applies to each; any refusal refuses all.
   */
  async bulkSoftDelete(appName: string, q: BulkDeleteRestorePointsQuery, principal: Principal) {
    this.apps.appConfig(appName);
    let ids = q.ids;
    if (q.olderThan) {
      const before = Date.parse(q.olderThan);
      const listing = await this.read(this.catalog.list(appName, Date.now()));
      ids = listing.items.filter((i) => Date.parse(i.cutAt) < before).map((i) => i.id);
      if (ids.length === 0) {
        throw ApiError.unprocessable(
          'nothing-to-delete',
          `app "${appName}" has no restore point cut before ${new Date(before).toISOString()} that is not deleted already`,
        );
      }
    }
    return this.startDelete(appName, [...new Set(ids)], q.reason, principal, { bulk: true });
  }

  private async startDelete(
    appName: string,
    ids: string[],
    reason: string,
    principal: Principal,
    opts: { bulk?: boolean } = {},
  ) {
    const app = this.apps.appConfig(appName);
    const listing = await this.read(this.catalog.list(appName, Date.now(), { includeDeleted: true }));
    const running = await this.operations.activeOperation(appName, 'operation');
    const inUse =
      running?.kind === 'restore' ? (running.spec as { restorePointId?: string }).restorePointId : undefined;
    const points = listing.items.map((i) => ({
      id: i.id,
      cutAt: i.cutAt,
      verification: i.verification?.status,
      deletedBy: i.deleted?.operationId,
    }));
    const cut = new Map(points.map((p) => [p.id, p.cutAt]));
    const oldestFirst = [...ids].sort((a, b) => ((cut.get(a) ?? '') < (cut.get(b) ?? '') ? -1 : 1));
    const refused = bulkDeleteRefusals(oldestFirst, points, {
      now: new Date(),
      rpoSeconds: app.policies.rpoSeconds,
      inUseBy: (id) => (id === inUse ? running!.operationId : undefined),
    });
    if (refused.length > 0) {
      const first = refused[0]!.refusal;
      const status = first.code === DELETE_REFUSALS.notFound ? 404 : 409;
      if (!opts.bulk) throw new ApiError(status, first.code, first.message, first.details);
      throw new ApiError(
        status,
        first.code,
        `${refused.length} of ${ids.length} restore points may not be deleted, so none is: ${refused.map((r) => r.refusal.message).join('; ')}`,
        {
          refusals: refused.map((r) => ({
            restorePointId: r.id,
            error: r.refusal.code,
            message: r.refusal.message,
            ...r.refusal.details,
          })),
        },
      );
    }
    const windowSeconds = softDeleteWindowSeconds(app, 'restore-point-delete');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    const approval = deleteApproval(app, 'restore-point-delete', opts.bulk ? ids.length : undefined);
    const started = await this.operations.startRestorePointDelete({
      app: appName,
      spec: {
        restorePointId: oldestFirst[0]!,
        ...(opts.bulk ? { restorePointIds: oldestFirst } : {}),
        reason,
        trigger: 'api',
      },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      undoableUntil,
      windowSeconds,
      ...(approval ? { approval } : {}),
    });
    this.log.log(
      `soft delete ${started.operationId} of ${ids.join(', ')} requested by ${principal.name}; ` +
        (approval ? `waits for approval (${approval.why})` : `undoable until ${undoableUntil}`),
    );
    return {
      ...started,
      ...(opts.bulk ? { restorePointIds: oldestFirst } : {}),
      awaitingApproval: approval !== undefined,
    };
  }

  async get(id: string) {
    const found = await this.read(this.catalog.get(id));
    if (!found) throw ApiError.notFound('restore-point-not-found', `no restore point with id "${id}"`);
    return found.view;
  }

  async take(appName: string, req: TakeRestorePointRequest, principal: Principal) {
    const app = this.apps.appConfig(appName);
    if (app.services.length === 0) {
      throw ApiError.unprocessable(
        'no-services',
        `app "${appName}" declares no services: nothing to take a restore point of (apps.${appName}.services)`,
      );
    }
    await this.operations.ensureSlotFree(appName, 'restore-point');
    const restorePointId = restorePointIdOf(appName, new Date(), randomBytes(4).toString('hex'));
    const input: RestorePointInput & { restorePointId: string } = {
      app: appName,
      spec: { reason: req.reason, trigger: 'api' },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      restorePointId,
    };
    const operationId = await this.operations.start('restore-point', appName, input.spec, principal, input);
    this.log.log(
      `restore point ${restorePointId} of ${appName} (${operationId}) requested by ${principal.name}`,
    );
    return { operationId, restorePointId };
  }

  async restore(appName: string, req: RestoreRequest, principal: Principal) {
    const app = this.apps.appConfig(appName);
    if (!app.regions.some((r) => r.name === req.region)) {
      throw ApiError.unprocessable('unknown-region', `app "${appName}" has no region "${req.region}"`, {
        regions: app.regions.map((r) => r.name),
      });
    }
    const removed = removedRegionRefusal(
      (await this.apps.readControlState(appName)).state,
      appName,
      req.region,
      'restored into',
    );
    if (removed) throw new ApiError(removed.status, removed.code, removed.message, removed.details);
    const parsed = parseRestorePointId(req.restorePointId);
    if (!parsed) {
      throw ApiError.unprocessable(
        'invalid-restore-point-id',
        `"${req.restorePointId}" is not a restore point id (<app>-<yyyymmddThhmmssZ>-<8 hex>)`,
      );
    }
    if (parsed.app !== appName) {
      throw ApiError.unprocessable(
        'restore-point-of-another-app',
        `restore point ${req.restorePointId} belongs to app "${parsed.app}", not "${appName}"`,
      );
    }
    const found = await this.read(this.catalog.get(req.restorePointId));
    if (!found) {
      throw ApiError.notFound('restore-point-not-found', `no restore point with id "${req.restorePointId}"`);
    }
    const copy = found.view.copies.find((c) => c.region === req.region);
    if (!copy?.present) {
      throw ApiError.unprocessable(
        'restore-point-not-in-region',
        `restore point ${req.restorePointId} has no manifest in region ${req.region}` +
          (copy?.present === undefined ? ' (its bucket could not be read)' : ''),
        { copies: found.view.copies },
      );
    }
    if (found.view.deleted) {
      throw ApiError.conflict(
        'restore-point-deleted',
        `restore point ${req.restorePointId} is deleted (operation ${found.view.deleted.operationId}, purged at ${found.view.deleted.undoableUntil} unless undone): it is never restored from`,
        { deleted: found.view.deleted },
      );
    }
    if (found.view.verification?.status === 'unrecoverable') {
      throw ApiError.conflict(
        'restore-point-unrecoverable',
        `restore point ${req.restorePointId} is unrecoverable (verification ${found.view.verification.operationId} at ${found.view.verification.verifiedAt}): it is never restored from`,
        { verification: found.view.verification },
      );
    }
    await this.operations.ensureSlotFree(appName, 'operation');
    const input: RestoreInput = {
      app: appName,
      spec: req,
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      plan: { approval: app.policies.approvals.restore },
    };
    const operationId = await this.operations.start('restore', appName, req, principal, input);
    this.log.log(
      `restore ${operationId} of ${appName} from ${req.restorePointId} into ${req.region} requested by ${principal.name}`,
    );
    return { operationId };
  }

  async verify(appName: string, req: VerifyRequest, principal: Principal) {
    const app = this.apps.appConfig(appName);
    if (app.services.length === 0) {
      throw ApiError.unprocessable(
        'no-services',
        `app "${appName}" declares no services: it has no restore points to verify (apps.${appName}.services)`,
      );
    }
    await this.operations.ensureSlotFree(appName, 'verification');
    const spec = {
      reason: req.reason,
      trigger: 'api' as const,
      ...(req.depth ? { depth: req.depth } : {}),
      ...(req.testRestore !== undefined ? { testRestore: req.testRestore } : {}),
    };
    const input: VerificationInput = {
      app: appName,
      spec,
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
    };
    const operationId = await this.operations.start('verification', appName, spec, principal, input);
    this.log.log(`verification ${operationId} of ${appName} requested by ${principal.name}`);
    return { operationId };
  }
}
