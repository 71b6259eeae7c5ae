import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApprovalState, DecisionRequest } from './approval';
import type { OperationKind, OperationStatus } from './operation';

/**
 * Names shared by the API, the worker and the workflows: task queues, workflow ids,
 * operation ids, queries, search attributes. Pure: loaded in the workflow sandbox too.
 */

/** Workflows and region-independent activities (DNS, catalogue). */
export function coordinatorTaskQueue(prefix: string): string {
  return `${prefix}.coordinator`;
}

/** Activities that act on one region run there, so a failover survives the loss of another region's workers. */
export function regionTaskQueue(prefix: string, region: string): string {
  return `${prefix}.${region}`;
}

/**
 * Operations that change where an app runs hold the app's single operation slot: one workflow id
 * per app, started with WorkflowIdConflictPolicy FAIL, so a second request while one runs is refused
 * by Temporal itself rather than by a lock in some process's memory.
 */
export function appOperationWorkflowId(app: string): string {
  return `switchyard.app.${app}.operation`;
}

const RUN_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An operation id is `<app>-<run id of its workflow>`: stable, unique, and enough to find the workflow. */
export function operationIdOf(app: string, runId: string): string {
  return `${app}-${runId}`;
}

export function parseOperationId(id: string): { app: string; workflowId: string; runId: string } | null {
  const m = RUN_ID.exec(id);
  if (!m || m.index < 2 || id[m.index - 1] !== '-') return null;
  const app = id.slice(0, m.index - 1);
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(app)) return null;
  return { app, workflowId: appOperationWorkflowId(app), runId: m[0] };
}

export const WORKFLOW_TYPES: Record<OperationKind, string> = {
  failover: 'failoverWorkflow',
};

export const searchAttributes = {
  app: defineSearchAttributeKey('SwitchyardApp', 'KEYWORD'),
  kind: defineSearchAttributeKey('SwitchyardKind', 'KEYWORD'),
  phase: defineSearchAttributeKey('SwitchyardPhase', 'KEYWORD'),
};

/** The names the dev server must be started with (`--search-attribute Name=Keyword`). */
export const SEARCH_ATTRIBUTE_NAMES = Object.values(searchAttributes).map((k) => k.name);

/** Memo key holding the latest OperationStatus, readable from describe() without a worker. */
export const STATUS_MEMO_KEY = 'status';

export const operationStatusQuery = defineQuery<OperationStatus>('operationStatus');

/** An approver's decision, sent by the API with the identity it authenticated. */
export const decideApprovalUpdate = defineUpdate<ApprovalState, [DecisionRequest]>('decideApproval');
