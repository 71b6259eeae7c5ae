import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../common/auth.guard';
import { Metrics } from './metrics';

@ApiExcludeController()
@Controller()
export class SystemController {
  constructor(private readonly metrics: Metrics) {}

  /** Liveness of the API process itself; it does not call Temporal or the regions. */
  @Get('healthz')
  @Public()
  healthz() {
    return { status: 'ok' };
  }

  @Get('metrics')
  @Public()
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
