import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { z } from 'zod';
import { appQuerySchema } from '../apps/app-control.dto';
import { withoutRemovedRegions } from '../apps/removed-regions';
import { Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { type MonitorReport, monitorReportSchema } from './region-health.dto';
import { RegionHealthService } from './region-health.service';

@ApiTags('regions')
@ApiBearerAuth()
@Controller('v1')
export class RegionsController {
  constructor(private readonly health: RegionHealthService) {}

  @Get('regions')
  @Roles('viewer')
  @ApiOperation({
    summary: "Every app's regions with their health state from the monitors' quorum",
    description:
      "For each region: state (unknown, healthy, degraded, down, halted), since when, the last reason, each vantage point's verdict and the transitions, newest first (docs/health-monitoring.md).",
  })
  @ApiQuery({ name: 'include', required: false, enum: ['deleted'] })
  async list(@Query(new ZodPipe(appQuerySchema, 'query')) q: z.output<typeof appQuerySchema>) {
    // Halted comes from the control state (at most a second old), not from the probes.
    await this.health.refreshHalted();
    // Removed regions (region-remove) only with include=deleted (docs/soft-deletes.md).
    const items = this.health.list();
    return { items: withoutRemovedRegions(items, this.health.controlStates(), q.include === 'deleted') };
  }

  @Post('monitor/reports')
  @HttpCode(200)
  // Monitors report with an operator token until a dedicated role exists (docs/health-monitoring.md).
  @Roles('operator')
  @ApiOperation({
    summary: "A monitor's verdict change on one region of an app",
    description:
      "200 {state, transition}: the region's state after the report and the transition it caused, or null. 422 unknown-app, unknown-region or unknown-vantage-point.",
  })
  @ApiBody({ schema: jsonSchema(monitorReportSchema) })
  async report(
    @Body(new ZodPipe(monitorReportSchema)) body: MonitorReport,
    @Res({ passthrough: true }) res: Response,
  ) {
    const out = await this.health.receive(body);
    res.locals.audit = {
      details: { vantage: body.vantage, verdict: body.verdict, state: out.state, changed: !!out.transition },
    };
    return out;
  }
}
