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
import { DELETE_REFUSALS, deleteRefusal } from '../../../workflows/soft-delete';
import type {
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
    const appName = parsed.app;
    const app = this.apps.appConfig(appName);
    const listing = await this.read(this.catalog.list(appName, Date.now(), { includeDeleted: true }));
    const running = await this.operations.activeOperation(appName, 'operation');
    const inUseBy =
      running?.kind === 'restore' && (running.spec as { restorePointId?: string }).restorePointId === id
        ? running.operationId
        : undefined;
    const refusal = deleteRefusal(
      id,
      listing.items.map((i) => ({
        id: i.id,
        cutAt: i.cutAt,
        verification: i.verification?.status,
        deletedBy: i.deleted?.operationId,
      })),
      { now: new Date(), rpoSeconds: app.policies.rpoSeconds, inUseBy },
    );
    if (refusal) {
      const status = refusal.code === DELETE_REFUSALS.notFound ? 404 : 409;
      throw new ApiError(status, refusal.code, refusal.message, refusal.details);
    }
    const windowSeconds = softDeleteWindowSeconds(app, 'restore-point-delete');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    const started = await this.operations.startRestorePointDelete({
      app: appName,
      spec: { restorePointId: id, reason: q.reason, trigger: 'api' },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      undoableUntil,
    });
    this.log.log(
      `soft delete ${started.operationId} of ${id} requested by ${principal.name}; undoable until ${undoableUntil}`,
    );
    return started;
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
