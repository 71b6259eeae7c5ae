import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { ZodPipe } from '../common/zod.pipe';
import { appQuerySchema } from './app-control.dto';
import { Roles } from '../common/auth.guard';
import { AppsService, type AppView } from './apps.service';

@ApiTags('apps')
@ApiBearerAuth()
@Controller('v1/apps')
export class AppsController {
  constructor(private readonly apps: AppsService) {}

  @Get()
  @Roles('viewer')
  @ApiOperation({ summary: 'List protected apps' })
  list() {
    return { items: this.apps.list() };
  }

  @Get(':app')
  @Roles('viewer')
  @ApiOperation({
    summary: 'Topology, active region, fencing epoch and region health of one app',
    description: 'Removed regions and DNS records are listed only with `include=deleted`, marked `deleted`.',
  })
  @ApiQuery({ name: 'include', required: false, enum: ['deleted'] })
  get(
    @Param('app') app: string,
    @Query(new ZodPipe(appQuerySchema, 'query')) q: z.output<typeof appQuerySchema>,
  ): Promise<AppView> {
    return this.apps.get(app, { includeDeleted: q.include === 'deleted' });
  }
}
