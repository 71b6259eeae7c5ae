import { ApplicationFailure } from '@temporalio/workflow';
import { type DnsSwitchInput, type DnsSwitchOperation, switchDns } from './dns-switch';

/**
 * A DNS switch on its own, for tests (test/e2e/dns-strategies.e2e.test.ts): runs switchDns, then,
 * when asked, fails as a later step would, and runs the compensations switchDns registered.
 * Operations run switchDns inside their own `dns` step instead.
 */
export interface DnsSwitchWorkflowResult {
  facts: Record<string, unknown>;
  detail?: string;
  /** The failure that made the compensations run (the switch's own or the injected one). */
  error?: string;
  compensated: boolean;
}

export async function dnsSwitchWorkflow(
  input: DnsSwitchInput & { failAfterSwitch?: boolean },
): Promise<DnsSwitchWorkflowResult> {
  const undo: { step: string; run: () => Promise<void> }[] = [];
  const op: DnsSwitchOperation = {
    status: { facts: {} },
    onFailureUndo: (step, run) => void undo.push({ step, run }),
    publish: () => {},
    // Not an operation: nothing to audit.
    audit: async () => {},
  };
  const step: { detail?: string } = {};
  try {
    await switchDns(op, step, input);
    if (input.failAfterSwitch) {
      throw ApplicationFailure.nonRetryable('failure injected after the dns step', 'injected');
    }
    return { facts: op.status.facts, detail: step.detail, compensated: false };
  } catch (err) {
    for (const u of [...undo].reverse()) await u.run();
    return {
      facts: op.status.facts,
      detail: step.detail,
      error: err instanceof Error ? err.message : String(err),
      compensated: true,
    };
  }
}
