import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
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
  @ApiOperation({ summary: 'Topology, active region, fencing epoch and region health of one app' })
  get(@Param('app') app: string): Promise<AppView> {
    return this.apps.get(app);
  }
}
