import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { z } from 'zod';
import { appQuerySchema } from '../apps/app-control.dto';
import { withoutRemovedRegions } from '../apps/removed-regions';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { type MonitorReport, monitorReportSchema } from './region-health.dto';
import { RegionHealthService } from './region-health.service';
import { monitorReportAnswerSchema, regionsListSchema } from './regions.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

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
  @ApiAnswers({ 200: regionsListSchema })
  @ApiQueryFrom(appQuerySchema)
  async list(@Query(new ZodPipe(appQuerySchema, 'query')) q: z.output<typeof appQuerySchema>) {
    // Halted comes from the control state (at most a second old), not from the probes.
    await this.health.refreshHalted();
    // Removed regions (region-remove) only with include=deleted (docs/soft-deletes.md).
    const items = this.health.list();
    return { items: withoutRemovedRegions(items, this.health.controlStates(), q.include === 'deleted') };
  }

  @Post('monitor/reports')
  @HttpCode(200)
  // Only monitor tokens report, each for the one vantage point it names: a report moves the quorum,
  // and in automatic mode a quorum's `down` fails over, so no token may speak for several
  // (docs/security.md). Not an operator's tool (docs/health-monitoring.md).
  @Roles('monitor')
  @ApiOperation({
    summary: "A monitor's verdict on one region of an app: a change, or the current one again (heartbeat)",
    description:
      "200 {state, transition, changed}: the region's state after the report, the transition it caused or null, and whether it changed the vantage point's verdict (a heartbeat does not, and is not audited). 403 vantage-not-bound (the token names no vantage point) or vantage-mismatch (it names another); 422 report-clock-skew (`at` too far from the API's clock, api.maxReportClockSkewSeconds), unknown-app, unknown-region or unknown-vantage-point.",
  })
  @ApiBody({ schema: jsonSchema(monitorReportSchema) })
  @ApiAnswers({ 200: monitorReportAnswerSchema }, 422)
  async report(
    @Body(new ZodPipe(monitorReportSchema)) body: MonitorReport,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    this.health.checkReporter(body, req.principal!);
    const out = await this.health.receive(body);
    // Heartbeats (the same verdict again) arrive every reportEverySeconds from every monitor for
    // every region: only changes are audited (silence and its end are, by the service).
    res.locals.audit = out.changed
      ? {
          details: {
            vantage: body.vantage,
            verdict: body.verdict,
            state: out.state,
            transition: !!out.transition,
          },
        }
      : { skip: true };
    return out;
  }
}
