import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import {
  type ApprovalDecisionRequest,
  approvalDecisionSchema,
  type CancelRequestBody,
  cancelRequestSchema,
  type FailbackRequest,
  failbackRequestSchema,
  approvalListQuerySchema,
  type FailoverRequest,
  failoverRequestSchema,
  operationListQuerySchema,
  type UndoRequestBody,
  undoRequestSchema,
} from './failover.dto';
import { OperationsService } from './operations.service';
import { operationStartedSchema } from '../common/responses';
import {
  approvalAnswerSchema,
  cancelResultSchema,
  failbackStartedSchema,
  operationListSchema,
  operationSchema,
  undoResultSchema,
} from './operations.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

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
  @ApiAnswers({ 202: operationStartedSchema }, 404, 409, 422)
  startFailover(
    @Param('app') app: string,
    @Body(new ZodPipe(failoverRequestSchema)) body: FailoverRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.operations.startFailover(app, body, req.principal!);
  }

  @Post('apps/:app/failbacks')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary:
      'Bring an app back to the region it was failed over from (reprotect, readiness, approval, switchover)',
    description:
      '202 {operationId, to}; 409 nothing-to-fail-back (no halted region) / operation-in-progress; 422 unknown-region / not-halted.',
  })
  @ApiBody({ schema: jsonSchema(failbackRequestSchema) })
  @ApiAnswers({ 202: failbackStartedSchema }, 404, 409, 422)
  startFailback(
    @Param('app') app: string,
    @Body(new ZodPipe(failbackRequestSchema)) body: FailbackRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.operations.startFailback(app, body, req.principal!);
  }

  @Post('operations/:id/cancel')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Cancel a failover or failback before its commit',
    description:
      'The running step is interrupted and every completed step is compensated; the phase ends Cancelled. 202 {operationId, cancelledAt, by, step}; 409 already-committed (details.committedAt) / operation-ended (details.endedAt) / already-cancelled / not-cancellable; 404 operation-not-found.',
  })
  @ApiBody({ schema: jsonSchema(cancelRequestSchema) })
  @ApiAnswers({ 202: cancelResultSchema }, 404, 409)
  cancel(
    @Param('id') id: string,
    @Body(new ZodPipe(cancelRequestSchema)) body: CancelRequestBody,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.operations.cancel(id, body, req.principal!, req.requestId);
  }

  @Get('operations')
  @Roles('viewer')
  @ApiOperation({ summary: 'List operations, newest first' })
  @ApiAnswers({ 200: operationListSchema }, 404)
  @ApiQueryFrom(operationListQuerySchema)
  async list(
    @Query(new ZodPipe(operationListQuerySchema, 'query')) q: z.output<typeof operationListQuerySchema>,
  ) {
    return { items: await this.operations.list(q) };
  }

  @Post('operations/:id/approvals')
  @HttpCode(200)
  @Roles('viewer')
  @ApiOperation({
    summary: 'Approve or reject an operation awaiting approval',
    description:
      "Who may decide is set by the approval policy (roles, requester excluded); the identity is the token's principal. 403 self-approval / not-eligible; 409 approval-not-requested-yet (the operation is still in its preflight: decide once it is AwaitingApproval) / approval-round-changed (`round` names another round than the open one) / already-decided / approval-expired / not-awaiting-approval.",
  })
  @ApiBody({ schema: jsonSchema(approvalDecisionSchema) })
  @ApiAnswers({ 200: approvalAnswerSchema }, 404, 409)
  decide(
    @Param('id') id: string,
    @Body(new ZodPipe(approvalDecisionSchema)) body: ApprovalDecisionRequest,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    // Which credential decided, beside who (docs/security.md#principals).
    // (`authenticatedWith`: the audit log redacts keys named like a credential; this is an id, no secret.)
    res.locals.audit = { details: { authenticatedWith: req.principal!.credential } };
    return this.operations.decideApproval(id, body, req.principal!, req.requestId);
  }

  @Post('operations/:id/undo')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({
    summary: 'Undo a soft delete before its window ends',
    description:
      'The target comes back exactly as it was (its tombstones are removed). 200 {operationId, restorePointId, undoneAt, by}; 409 undo-window-closed (details.undoableUntil) / already-undone / not-undoable; 404 operation-not-found.',
  })
  @ApiBody({ schema: jsonSchema(undoRequestSchema) })
  @ApiAnswers({ 200: undoResultSchema }, 404, 409)
  undo(
    @Param('id') id: string,
    @Body(new ZodPipe(undoRequestSchema)) body: UndoRequestBody,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.operations.undo(id, body, req.principal!, req.requestId);
  }

  @Get('approvals')
  @Roles('viewer')
  @ApiOperation({ summary: 'Operations awaiting approval, with who approved and who is still needed' })
  @ApiAnswers({ 200: operationListSchema }, 404)
  @ApiQueryFrom(approvalListQuerySchema)
  async approvals(
    @Query(new ZodPipe(approvalListQuerySchema, 'query')) q: z.output<typeof approvalListQuerySchema>,
  ) {
    return { items: await this.operations.pendingApprovals(q.app) };
  }

  @Get('operations/:id')
  @Roles('viewer')
  @ApiOperation({ summary: 'One operation: phase, each step with status and times, errors, facts' })
  @ApiAnswers({ 200: operationSchema }, 404)
  get(@Param('id') id: string) {
    return this.operations.get(id);
  }
}
