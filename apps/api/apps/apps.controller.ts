import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { ZodPipe } from '../common/zod.pipe';
import { appQuerySchema } from './app-control.dto';
import { Roles } from '../common/auth.guard';
import { AppsService, type AppView } from './apps.service';
import { appListSchema, appViewSchema } from './apps.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

@ApiTags('apps')
@ApiBearerAuth()
@Controller('v1/apps')
export class AppsController {
  constructor(private readonly apps: AppsService) {}

  @Get()
  @Roles('viewer')
  @ApiOperation({ summary: 'List protected apps' })
  @ApiAnswers({ 200: appListSchema })
  list() {
    return { items: this.apps.list() };
  }

  @Get(':app')
  @Roles('viewer')
  @ApiOperation({
    summary: 'Topology, active region, fencing epoch and region health of one app',
    description: 'Removed regions and DNS records are listed only with `include=deleted`, marked `deleted`.',
  })
  @ApiAnswers({ 200: appViewSchema }, 404)
  @ApiQueryFrom(appQuerySchema)
  get(
    @Param('app') app: string,
    @Query(new ZodPipe(appQuerySchema, 'query')) q: z.output<typeof appQuerySchema>,
  ): Promise<AppView> {
    return this.apps.get(app, { includeDeleted: q.include === 'deleted' });
  }
}
