import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import {
  type BackfillScheduleRequest,
  backfillScheduleSchema,
  type CreateScheduleRequest,
  createScheduleSchema,
  deleteScheduleQuerySchema,
  listSchedulesQuerySchema,
  type ScheduleActionRequest,
  scheduleActionSchema,
  type UpdateScheduleRequest,
  updateScheduleSchema,
} from './schedules.dto';
import { SchedulesService } from './schedules.service';
import { softChangeStartedSchema } from '../common/responses';
import { scheduleListSchema, scheduleSchema, scheduleTriggeredSchema } from './schedules.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

/** The audit event of a mutating call names the schedule it acted on (docs/schedules.md). */
function audited(res: Response, app: string, name: string, details: Record<string, unknown> = {}): void {
  res.locals.audit = { target: `schedule:${app}/${name}`, details: { app, name, ...details } };
}

/**
 * An app's schedules: Temporal Schedules that take restore points (later also verifications and
 * drills) without anyone asking. Every change says why; the reason is the schedule's note on
 * create, pause and unpause, and is kept in the audit log for every call.
 */
@ApiTags('schedules')
@ApiBearerAuth()
@Controller('v1/apps/:app/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Get()
  @Roles('viewer')
  @ApiOperation({
    summary: "The app's schedules with their timing, next run, last run and last result",
    description: 'Soft-deleted schedules are listed only with `include=deleted`, marked `deleted`.',
  })
  @ApiAnswers({ 200: scheduleListSchema }, 404)
  @ApiQueryFrom(listSchedulesQuerySchema)
  async list(
    @Param('app') app: string,
    @Query(new ZodPipe(listSchedulesQuerySchema, 'query')) q: z.output<typeof listSchedulesQuerySchema>,
  ) {
    return { items: await this.schedules.list(app, { includeDeleted: q.include === 'deleted' }) };
  }

  @Post()
  @HttpCode(201)
  @Roles('operator')
  @ApiOperation({
    summary: 'Create a schedule',
    description:
      'kind restore-point, verification or drill; name defaults to the kind; everySeconds (≥ 60) or cron; without either, restore-point: restorePoints.schedule.everySeconds or half the RPO, verification: restorePoints.verification.everySeconds or daily, drill: weekly. Overlap: skip. 409 schedule-exists.',
  })
  @ApiBody({ schema: jsonSchema(createScheduleSchema) })
  @ApiAnswers({ 201: scheduleSchema }, 404, 409, 422)
  create(
    @Param('app') app: string,
    @Body(new ZodPipe(createScheduleSchema)) body: CreateScheduleRequest,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, body.name ?? body.kind, { kind: body.kind });
    return this.schedules.create(app, body, req.principal!);
  }

  @Get(':name')
  @Roles('viewer')
  @ApiOperation({ summary: 'One schedule' })
  @ApiAnswers({ 200: scheduleSchema }, 404)
  get(@Param('app') app: string, @Param('name') name: string) {
    return this.schedules.get(app, name);
  }

  @Patch(':name')
  @Roles('operator')
  @ApiOperation({ summary: "Change a schedule's timing (everySeconds or cron)" })
  @ApiBody({ schema: jsonSchema(updateScheduleSchema) })
  @ApiAnswers({ 200: scheduleSchema }, 404, 409, 422)
  update(
    @Param('app') app: string,
    @Param('name') name: string,
    @Body(new ZodPipe(updateScheduleSchema)) body: UpdateScheduleRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name, body.cron ? { cron: body.cron } : { everySeconds: body.everySeconds });
    return this.schedules.update(app, name, body);
  }

  @Delete(':name')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Soft-delete a schedule: paused and hidden at once, deleted when the undo window ends',
    description:
      'Starts a `schedule-delete` operation; answers `{operationId, undoableUntil}`. Undo with POST /v1/operations/{id}/undo. A run in progress and its operation go on. 409 schedule-already-deleted.',
  })
  @ApiAnswers({ 202: softChangeStartedSchema }, 404, 409)
  @ApiQueryFrom(deleteScheduleQuerySchema)
  delete(
    @Param('app') app: string,
    @Param('name') name: string,
    @Query(new ZodPipe(deleteScheduleQuerySchema, 'query')) q: z.output<typeof deleteScheduleQuerySchema>,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name);
    return this.schedules.softDelete(app, name, q.reason, req.principal!);
  }

  @Post(':name/trigger')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Run the schedule now (also when paused); 409 operation-in-progress while one of its kind runs',
  })
  @ApiBody({ schema: jsonSchema(scheduleActionSchema) })
  @ApiAnswers({ 202: scheduleTriggeredSchema }, 404, 409, 422)
  trigger(
    @Param('app') app: string,
    @Param('name') name: string,
    @Body(new ZodPipe(scheduleActionSchema)) _body: ScheduleActionRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name);
    return this.schedules.trigger(app, name);
  }

  @Post(':name/pause')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Pause a schedule; the reason becomes its note' })
  @ApiBody({ schema: jsonSchema(scheduleActionSchema) })
  @ApiAnswers({ 200: scheduleSchema }, 404, 409)
  pause(
    @Param('app') app: string,
    @Param('name') name: string,
    @Body(new ZodPipe(scheduleActionSchema)) body: ScheduleActionRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name);
    return this.schedules.pause(app, name, body.reason);
  }

  @Post(':name/unpause')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Unpause a schedule; the reason becomes its note' })
  @ApiBody({ schema: jsonSchema(scheduleActionSchema) })
  @ApiAnswers({ 200: scheduleSchema }, 404, 409)
  unpause(
    @Param('app') app: string,
    @Param('name') name: string,
    @Body(new ZodPipe(scheduleActionSchema)) body: ScheduleActionRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name);
    return this.schedules.unpause(app, name, body.reason);
  }

  @Post(':name/backfill')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Take now the runs the schedule would have taken between from and to (overlap: skip)',
  })
  @ApiBody({ schema: jsonSchema(backfillScheduleSchema) })
  @ApiAnswers({ 202: scheduleSchema }, 404, 409, 422)
  backfill(
    @Param('app') app: string,
    @Param('name') name: string,
    @Body(new ZodPipe(backfillScheduleSchema)) body: BackfillScheduleRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name, { from: body.from.toISOString(), to: body.to.toISOString() });
    return this.schedules.backfill(app, name, body);
  }
}
