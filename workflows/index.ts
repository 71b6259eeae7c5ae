// The worker bundles this file: every workflow Switchyard runs is exported from here.
export { failoverWorkflow } from './failover.workflow';
export { deliverNotificationWorkflow, sealAuditWorkflow } from './recording.workflows';
export { restorePointWorkflow } from './restore-point.workflow';
export { restoreWorkflow } from './restore.workflow';
export { scheduledOperationWorkflow } from './scheduled.workflow';
export { verificationWorkflow } from './verification.workflow';
export { restorePointDeleteWorkflow } from './restore-point-delete.workflow';
export { appControllerWorkflow } from './app-controller.workflow';
export { drillWorkflow } from './drill.workflow';
// Test-only: a DNS switch on its own (test/e2e/dns-strategies.e2e.test.ts).
export { dnsSwitchWorkflow } from './dns-switch.workflow';
export { scheduleDeleteWorkflow } from './schedule-delete.workflow';
export { failbackWorkflow } from './failback.workflow';
export { regionRemoveWorkflow } from './region-remove.workflow';
export { controlOverrideWorkflow } from './control-override.workflow';
export { dnsRecordDeleteWorkflow } from './dns-record-delete.workflow';
export { dnsOverrideWorkflow } from './dns-override.workflow';
