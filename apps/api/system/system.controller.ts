import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiExcludeController } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { type AuthenticatedRequest, Public } from '../common/auth.guard';
import { Authenticator } from '../common/authenticator';
import { CONFIG } from '../tokens';
import { Metrics } from './metrics';

@ApiExcludeController()
@Controller()
export class SystemController {
  constructor(
    private readonly metrics: Metrics,
    private readonly authenticator: Authenticator,
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
  ) {}

  /**
   * Liveness of the API process itself; it does not call Temporal or the regions. Not
   * rate-limited: a load balancer must not see a flood of others' requests as the API being down.
   */
  @Get('healthz')
  @Public()
  @SkipThrottle()
  healthz() {
    return { status: 'ok' };
  }

  /** Public unless `api.metricsAccess: authenticated`: then any valid bearer token (docs/security.md). */
  @Get('metrics')
  @Public()
  async metricsText(
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    if (this.config.api.metricsAccess === 'authenticated') {
      await this.authenticator.identify(req);
      if (!req.principal) throw this.authenticator.failure(req);
    }
    // Set here, not with @Header: a refusal above must stay JSON.
    res.setHeader('Content-Type', 'text/plain; version=0.0.4');
    return this.metrics.registry.metrics();
  }
}
