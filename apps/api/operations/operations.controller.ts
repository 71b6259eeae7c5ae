import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { ZodPipe } from '../common/zod.pipe';
import { type FailoverRequest, failoverRequestSchema, operationListQuerySchema } from './failover.dto';
import { OperationsService } from './operations.service';

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return rest;
}

@ApiTags('operations')
@ApiBearerAuth()
@Controller('v1')
export class OperationsController {
  constructor(private readonly operations: OperationsService) {}

  @Post('apps/:app/failovers')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Start a failover (planned switchover or unplanned failover) of an app to a region',
  })
  @ApiBody({ schema: jsonSchema(failoverRequestSchema) })
  startFailover(
    @Param('app') app: string,
    @Body(new ZodPipe(failoverRequestSchema)) body: FailoverRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.operations.startFailover(app, body, req.principal!);
  }

  @Get('operations')
  @Roles('viewer')
  @ApiOperation({ summary: 'List operations, newest first' })
  @ApiQuery({ name: 'app', required: false })
  @ApiQuery({ name: 'kind', required: false })
  @ApiQuery({ name: 'phase', required: false })
  async list(
    @Query(new ZodPipe(operationListQuerySchema, 'query')) q: z.output<typeof operationListQuerySchema>,
  ) {
    return { items: await this.operations.list(q) };
  }

  @Get('operations/:id')
  @Roles('viewer')
  @ApiOperation({ summary: 'One operation: phase, each step with status and times, errors, facts' })
  get(@Param('id') id: string) {
    return this.operations.get(id);
  }
}
