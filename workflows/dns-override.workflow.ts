import { ApplicationFailure } from '@temporalio/workflow';
import { dnsRecordTarget, regionTarget, tombstoneOf } from './control';
import {
  describeSnapshots,
  DNS_RECORD_SOFT_REFUSALS,
  type DnsRecordSnapshot,
  type DnsOverrideInput,
  normalizeRecordName,
} from './dns-record-soft';
import { dnsRecords, readControl, whileClaimed } from './dns-record-steps';
import type { OperationStatus } from './operation';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * An operator's override of where one of an app's DNS records points (docs/soft-deletes.md,
 * Overriding a DNS record), along runSoftDelete's steps: preflight keeps the record's exact record
 * sets (facts.previous); the override writes the region's address as one simple record set on
 * every provider of the record at once (facts.written); undo writes the previous sets back exactly,
 * only where the record still holds what the override wrote; the purge drops the saved copy (the
 * override stays).
 */
export async function dnsOverrideWorkflow(input: DnsOverrideInput): Promise<OperationStatus> {
  const { app, spec, operationId } = input;
  const recordName = normalizeRecordName(spec.recordName);
  const start = { ...input, kind: 'dns-override' as const };
  const status = softDeleteStatus(start, { recordName, region: spec.region });
  let previous: DnsRecordSnapshot[] = [];
  let written: DnsRecordSnapshot[] = [];
  let undoAttempt = 0;

  const refuse = (type: string, message: string, details?: Record<string, unknown>) =>
    ApplicationFailure.create({
      type,
      nonRetryable: true,
      message,
      details: details ? [details] : undefined,
    });

  return runSoftDelete(start, status, {
    noun: 'dns-record',
    events: {
      tombstoned: 'dns-record.overridden',
      undone: 'dns-record.override-undone',
      purged: 'dns-record.override-purged',
    },
    tombstoneStep: 'override',
    what: `the override of DNS record ${recordName}`,
    names: { recordName, region: spec.region },
    deleting: [`DNS record ${recordName} (pointed at ${spec.region})`],
    undoRefusals: [
      DNS_RECORD_SOFT_REFUSALS.changed,
      DNS_RECORD_SOFT_REFUSALS.operationInProgress,
      DNS_RECORD_SOFT_REFUSALS.appMoved,
    ],

    async preflight(step) {
      const state = await readControl(app);
      const removed = tombstoneOf(state, dnsRecordTarget(recordName));
      if (removed) {
        throw refuse(
          DNS_RECORD_SOFT_REFUSALS.deleted,
          `DNS record ${recordName} of app "${app}" is removed (operation ${removed.operationId}): undo that operation first`,
          { operationId: removed.operationId },
        );
      }
      if (state.halted.includes(spec.region)) {
        throw refuse(
          DNS_RECORD_SOFT_REFUSALS.regionHalted,
          `region "${spec.region}" of app "${app}" is halted (fenced by an earlier failover): no record may point at it`,
          { halted: state.halted },
        );
      }
      const regionGone = tombstoneOf(state, regionTarget(spec.region));
      if (regionGone) {
        throw refuse(
          DNS_RECORD_SOFT_REFUSALS.regionRemoved,
          `region "${spec.region}" of app "${app}" is removed (operation ${regionGone.operationId}): no record may point at it`,
          { operationId: regionGone.operationId },
        );
      }
      previous = await dnsRecords.readDnsRecord({ app, name: recordName });
      written = previous.map((p) => ({ ...p, state: { simple: input.set, routed: [] } }));
      status.facts.previous = previous;
      status.facts.written = written;
      status.facts.activeRegion = state.activeRegion;
      step.detail = `${recordName} holds ${describeSnapshots(previous)}; the override writes ${spec.region} (${input.set.values.join(', ')})`;
    },

    async tombstone(step) {
      await whileClaimed(app, operationId, 'override', () =>
        dnsRecords.writeDnsRecord({
          app,
          name: recordName,
          from: previous,
          to: written,
          since: 'read at preflight',
        }),
      );
      step.detail = `${recordName} points at ${spec.region} (${input.set.values.join(', ')}, ttl ${input.set.ttl}) on ${written.map((w) => w.provider).join(', ')}`;
      return { region: spec.region, values: input.set.values };
    },

    async undo(step) {
      const key = `undo${++undoAttempt}`;
      await whileClaimed(app, operationId, key, async () => {
        const state = await readControl(app);
        const then = status.facts.activeRegion as string;
        if (state.activeRegion !== then) {
          // The failover's dns step rewrote the record for its target (the override's value may even
          // be what it wrote); the saved sets point at the region the app left.
          throw refuse(
            DNS_RECORD_SOFT_REFUSALS.appMoved,
            `app "${app}" moved from ${then} to ${state.activeRegion} since the override of ${recordName}: the failover rewrote the record, and its previous sets point at ${then}; nothing was changed`,
            { activeRegionAtOverride: then, activeRegion: state.activeRegion },
          );
        }
        await dnsRecords.writeDnsRecord({ app, name: recordName, from: written, to: previous, since: 'set' });
      });
      step.detail = `${recordName} is back as it was: ${describeSnapshots(previous)}`;
    },

    async purge(step) {
      // The override stays; what an undo would have written back is dropped.
      delete status.facts.previous;
      status.facts.previousDropped = true;
      step.detail = `the override of ${recordName} to ${spec.region} is final; the previous record sets are no longer kept`;
      return { region: spec.region };
    },
  });
}
