import { AppControlController } from './apps/app-control.controller';
import { AppControlService } from './apps/app-control.service';
import {
  type DynamicModule,
  Inject,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { Client } from '@temporalio/client';
import type { NextFunction, Request, Response } from 'express';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { JwtVerifier } from '../../infra/auth/jwt.verifier';
import { openPersistence, type Persistence } from '../../infra/database/persistence';
import { ArtifactStore, BucketClients, ObjectIo } from '../../infra/backup/artifact.store';
import { RestorePointCatalog } from '../../infra/backup/catalog';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import { connectClient } from '../../infra/temporal/connection';
import { OperationsRepository } from '../../infra/temporal/operations.repository';
import { ControllerRepository } from '../../infra/temporal/controller.repository';
import { RegionHealthRepository } from '../../infra/temporal/region-health.repository';
import { CheckpointsRepository } from '../../infra/temporal/checkpoints.repository';
import { SchedulesRepository } from '../../infra/temporal/schedules.repository';
import { AppsController } from './apps/apps.controller';
import { AppsService } from './apps/apps.service';
import { ControlViewService } from './apps/control-view.service';
import { DnsRecordsController } from './apps/dns-records.controller';
import { DnsRecordsService } from './apps/dns-records.service';
import { AuditController } from './audit/audit.controller';
import { AuditInterceptor } from './common/audit.interceptor';
import { AuditTrail } from './common/audit-trail';
import { AnonymousRefusals } from './common/anonymous-refusals';
import { AuthGuard } from './common/auth.guard';
import { Authenticator } from './common/authenticator';
import { RateLimitGuard } from './common/rate-limit.guard';
import { requestId } from './common/request-id';
import { ErrorFilter } from './common/error.filter';
import { DrillsController } from './drills/drills.controller';
import { DrillsService } from './drills/drills.service';
import { RegionHealthService } from './regions/region-health.service';
import { FailoverTriggerService } from './regions/failover-trigger.service';
import { RegionsController } from './regions/regions.controller';
import { OperationsController } from './operations/operations.controller';
import { OperationsService } from './operations/operations.service';
import { CheckpointsController } from './operations/checkpoints.controller';
import { CheckpointsService } from './operations/checkpoints.service';
import { SchedulesController } from './schedules/schedules.controller';
import { SchedulesService } from './schedules/schedules.service';
import { RestorePointsController } from './restore-points/restore-points.controller';
import { RestorePointsService } from './restore-points/restore-points.service';
import { Metrics } from './system/metrics';
import { RegionMetrics } from './system/region.metrics';
import { ControlMetrics } from './system/control.metrics';
import { RpoMetrics } from './system/rpo.metrics';
import { DrillMetrics } from './system/drill.metrics';
import { SoftDeleteMetrics } from './system/soft-delete.metrics';
import { SystemController } from './system/system.controller';
import { TokensController } from './tokens/tokens.controller';
import { WebhookSink } from '../../infra/notify/webhook.sink';
import { AUDIT_STORE, CONFIG, JWT_VERIFIER, NOTIFICATION_SINK, TOKEN_STORE } from './tokens';

const PERSISTENCE = Symbol('Persistence');

export interface ApiModuleOptions {
  config: SwitchyardConfig;
  /** Tests and embedders may hand in a client; otherwise one connection is opened on first use. */
  temporalClient?: () => Promise<Client>;
}

function lazyClient(config: SwitchyardConfig): () => Promise<Client> {
  let pending: Promise<Client> | undefined;
  return () => {
    pending ??= connectClient(config.temporal).catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

@Module({})
export class ApiModule implements NestModule, OnApplicationShutdown {
  constructor(
    private readonly metrics: Metrics,
    @Inject(PERSISTENCE) private readonly persistence: Persistence,
    private readonly artifacts: ArtifactStore,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    this.artifacts.close();
    await this.persistence.close();
  }

  static forRoot(options: ApiModuleOptions): DynamicModule {
    const client = options.temporalClient ?? lazyClient(options.config);
    const limits = options.config.api.rateLimits.principal;
    return {
      module: ApiModule,
      // The limits themselves are chosen per request by RateLimitGuard (principal or anonymous).
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ name: 'default', limit: limits.limit, ttl: limits.windowSeconds * 1000 }],
        }),
      ],
      controllers: [
        SystemController,
        AppsController,
        OperationsController,
        SchedulesController,
        AuditController,
        TokensController,
        RestorePointsController,
        RegionsController,
        CheckpointsController,
        DrillsController,
        AppControlController,
        DnsRecordsController,
      ],
      providers: [
        { provide: CONFIG, useValue: options.config },
        { provide: PERSISTENCE, useFactory: () => openPersistence(options.config) },
        { provide: AUDIT_STORE, useFactory: (p: Persistence) => p.audit, inject: [PERSISTENCE] },
        { provide: TOKEN_STORE, useFactory: (p: Persistence) => p.tokens, inject: [PERSISTENCE] },
        {
          provide: JWT_VERIFIER,
          useValue: options.config.auth.oidc ? new JwtVerifier(options.config.auth.oidc) : null,
        },
        AuditTrail,
        AnonymousRefusals,
        { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
        { provide: ControlStateStore, useFactory: () => new ControlStateStore(options.config) },
        {
          provide: OperationsRepository,
          useFactory: () => new OperationsRepository(client, options.config.temporal.taskQueuePrefix),
        },
        {
          provide: CheckpointsRepository,
          useFactory: (operations: OperationsRepository) => new CheckpointsRepository(client, operations),
          inject: [OperationsRepository],
        },
        CheckpointsService,
        AppControlService,
        {
          provide: SchedulesRepository,
          useFactory: () => new SchedulesRepository(client, options.config.temporal.taskQueuePrefix),
        },
        {
          provide: ArtifactStore,
          // The catalog answers from the regions that answer: a stopped region costs seconds, not minutes.
          useFactory: () =>
            new ArtifactStore(
              options.config,
              new ObjectIo(new BucketClients({ requestTimeoutMs: 5_000, maxAttempts: 2 })),
            ),
        },
        {
          provide: RestorePointCatalog,
          useFactory: (store: ArtifactStore) => new RestorePointCatalog(store),
          inject: [ArtifactStore],
        },
        { provide: NOTIFICATION_SINK, useValue: new WebhookSink(options.config.notifications.webhooks) },
        Metrics,
        RpoMetrics,
        DrillMetrics,
        SoftDeleteMetrics,
        // The app controller's state, falling back to the buckets (docs/fencing.md).
        { provide: ControllerRepository, useFactory: () => new ControllerRepository(client) },
        ControlViewService,
        // Region health kept by each app's controller, restored after a restart (docs/health-monitoring.md).
        {
          provide: RegionHealthRepository,
          useFactory: () => new RegionHealthRepository(client, options.config),
        },
        RegionHealthService,
        // Opens an unplanned failover when the active region goes down (docs/health-monitoring.md).
        FailoverTriggerService,
        RegionMetrics,
        ControlMetrics,
        AppsService,
        OperationsService,
        SchedulesService,
        DnsRecordsService,
        RestorePointsService,
        DrillsService,
        Authenticator,
        // Rate limits first: a refused flood never reaches the route's guard or the audit log.
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(requestId, (req: Request, res: Response, next: NextFunction) => {
        const end = this.metrics.httpDuration.startTimer({ method: req.method });
        res.on('finish', () => {
          const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
          this.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
          end({ route });
        });
        next();
      })
      .forRoutes('*path');
  }
}
