/**
 * The decisions of a verification, as pure functions over what the regions reported: which
 * manifest is the reference, what is wrong where (typed findings), which copy repairs which, and
 * how a restore point ends (verified, repaired, unrecoverable). No I/O: loaded in the workflow
 * sandbox and unit-tested on its own (test/unit/verification.test.ts).
 */

/**
 * missing            an artifact, an object of an object set, or the manifest is not in a region
 * corrupt            it is there, but its size or SHA-256 is not the manifest's
 * manifest-mismatch  a region's manifest differs from the reference manifest
 * unreachable-region a region's bucket could not be read: nothing there was checked (not repaired,
 *                    and not a reason to call the restore point unrecoverable by itself)
 */
export const FINDING_TYPES = ['missing', 'corrupt', 'manifest-mismatch', 'unreachable-region'] as const;
export type FindingType = (typeof FINDING_TYPES)[number];

/**
 * verified       every copy in every reachable region matched the manifest
 * repaired       something was missing or corrupt, and every such copy was repaired and re-verified
 * degraded       not every copy is known good, but a good one may exist: a region could not be read,
 *                or a repair failed (the next verification tries again)
 * unrecoverable  some artifact has no good copy in any region (or no manifest can be trusted): the
 *                restore point is never used for a restore or a failover
 */
export const VERIFICATION_STATUSES = ['verified', 'repaired', 'degraded', 'unrecoverable'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export interface VerificationFinding {
  type: FindingType;
  region: string;
  /** Relative to the app's folder: an artifact, an object of an object set, or the manifest. */
  key?: string;
  detail: string;
  /** The region whose verified copy replaced this one (when repaired). */
  repairedFrom?: string;
  repaired?: boolean;
}

/** What is written to `verifications/<restore point id>.json` in every reachable region. */
export interface VerificationRecord {
  schema: typeof VERIFICATION_SCHEMA;
  app: string;
  restorePointId: string;
  operationId: string;
  status: VerificationStatus;
  verifiedAt: string;
  /** Regions whose copies were checked (unreachable ones are findings). */
  regions: string[];
  findings: VerificationFinding[];
}

export const VERIFICATION_SCHEMA = 'switchyard.verification/v1';

/** One region's manifest of one restore point, as read. */
export interface ManifestCopy {
  region: string;
  state: 'present' | 'missing' | 'unreachable';
  /** SHA-256 of the manifest's canonical JSON, when present. */
  sha256?: string;
  error?: string;
}

/**
 * agreed     every region holding a manifest holds the same one
 * majority   they differ, and one content is held by more regions than any other
 * tie        they differ and no content has a majority: the regions' artifacts decide
 * none       no readable region holds a manifest
 */
export type ManifestChoice =
  { kind: 'agreed' | 'majority'; sha256: string } | { kind: 'tie'; candidates: string[] } | { kind: 'none' };

export function chooseManifest(copies: ManifestCopy[]): ManifestChoice {
  const counts = new Map<string, number>();
  for (const c of copies) {
    if (c.state === 'present' && c.sha256) counts.set(c.sha256, (counts.get(c.sha256) ?? 0) + 1);
  }
  if (counts.size === 0) return { kind: 'none' };
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (ranked.length === 1) return { kind: 'agreed', sha256: ranked[0]![0] };
  if (ranked[0]![1] > ranked[1]![1]) return { kind: 'majority', sha256: ranked[0]![0] };
  const top = ranked[0]![1];
  return { kind: 'tie', candidates: ranked.filter(([, n]) => n === top).map(([sha]) => sha) };
}

/**
 * A tie is decided by the artifacts: the candidate whose holders' copies all verify against it
 * wins. None, or more than one: undecidable (null), and the restore point cannot be trusted.
 */
export function breakTie(results: { sha256: string; clean: boolean }[]): string | null {
  const clean = [...new Set(results.filter((r) => r.clean).map((r) => r.sha256))];
  const dirty = new Set(results.filter((r) => !r.clean).map((r) => r.sha256));
  const winners = clean.filter((sha) => !dirty.has(sha));
  return winners.length === 1 ? winners[0]! : null;
}

/** One object (artifact or object-set object) as a region's copy was found. */
export interface ObjectCheck {
  key: string;
  /** unchecked: its object-set listing could not be read in that region, so it was not looked at. */
  status: 'ok' | 'missing' | 'corrupt' | 'unchecked';
  expected: { size: number; sha256: string; contentType?: string };
  actual?: { size: number; sha256: string };
}

/** One region's copy of one restore point checked against the reference manifest. */
export interface CopyCheck {
  region: string;
  /** Its own manifest: the same as the reference, absent, or different. */
  manifest: 'same' | 'missing' | 'different';
  objects: ObjectCheck[];
}

export function isClean(check: CopyCheck): boolean {
  return check.manifest === 'same' && check.objects.every((o) => o.status === 'ok');
}

/** The findings a set of checks shows (unchecked objects are not findings: they are checked once their listing is repaired). */
export function findingsOf(restorePointId: string, checks: CopyCheck[]): VerificationFinding[] {
  const out: VerificationFinding[] = [];
  for (const c of checks) {
    if (c.manifest === 'missing') {
      out.push({
        type: 'missing',
        region: c.region,
        key: manifestKey(restorePointId),
        detail: `no manifest in ${c.region}`,
      });
    } else if (c.manifest === 'different') {
      out.push({
        type: 'manifest-mismatch',
        region: c.region,
        key: manifestKey(restorePointId),
        detail: `the manifest in ${c.region} differs from the reference manifest`,
      });
    }
    for (const o of c.objects) {
      if (o.status === 'missing') {
        out.push({
          type: 'missing',
          region: c.region,
          key: o.key,
          detail: `${o.key} is missing in ${c.region}`,
        });
      } else if (o.status === 'corrupt') {
        out.push({
          type: 'corrupt',
          region: c.region,
          key: o.key,
          detail:
            `${o.key} in ${c.region}: expected ${o.expected.size} bytes with SHA-256 ${o.expected.sha256.slice(0, 12)}…, ` +
            `read ${o.actual?.size ?? '?'} bytes with SHA-256 ${(o.actual?.sha256 ?? '?').slice(0, 12)}…`,
        });
      }
    }
  }
  return out;
}

export const manifestKey = (restorePointId: string) => `manifests/${restorePointId}.json`;

export interface ObjectRepair {
  region: string;
  from: string;
  key: string;
  expect: { size: number; sha256: string; contentType?: string };
}

export interface RepairPlan {
  /** Objects to copy into a region from a region whose copy verified. */
  objects: ObjectRepair[];
  /** Regions whose manifest is to be (re)written with the reference, once their objects are repaired. */
  manifests: string[];
  /** Keys with no good copy in any checked region. */
  lost: string[];
}

/**
 * For every object that is missing or corrupt somewhere, the first region (in the order given)
 * whose copy verified repairs it; with none, the key is lost. Manifests are rewritten only where
 * nothing is lost: a restore point that cannot be made whole is not made to look whole anywhere.
 */
export function planRepairs(checks: CopyCheck[]): RepairPlan {
  const byKey = new Map<string, { good: string[]; bad: string[]; expect: ObjectCheck['expected'] }>();
  for (const c of checks) {
    for (const o of c.objects) {
      const entry = byKey.get(o.key) ?? { good: [], bad: [], expect: o.expected };
      if (o.status === 'ok') entry.good.push(c.region);
      else if (o.status !== 'unchecked') entry.bad.push(c.region);
      byKey.set(o.key, entry);
    }
  }
  const objects: ObjectRepair[] = [];
  const lost: string[] = [];
  for (const [key, e] of byKey) {
    if (e.bad.length === 0) continue;
    const from = e.good[0];
    if (!from) {
      lost.push(key);
      continue;
    }
    for (const region of e.bad) objects.push({ region, from, key, expect: e.expect });
  }
  const manifests = lost.length > 0 ? [] : checks.filter((c) => c.manifest !== 'same').map((c) => c.region);
  return { objects, manifests, lost: lost.sort() };
}

/**
 * How a restore point ends. Findings that the last checks no longer show were repaired.
 * `lost`: some object (or the manifest) has no good copy in any checked region. That makes the
 * restore point unrecoverable only when every region was checked: a region that could not be read
 * may hold the good copy. A region not checked, or a repair that failed, leaves it `degraded`.
 */
export function conclude(
  findings: VerificationFinding[],
  last: VerificationFinding[],
  opts: { lost: boolean; allRegionsChecked: boolean },
): { status: VerificationStatus; findings: VerificationFinding[] } {
  const open = new Set(last.map((f) => `${f.region}|${f.key ?? ''}`));
  const marked = findings.map((f) =>
    f.type === 'unreachable-region' ? f : { ...f, repaired: !open.has(`${f.region}|${f.key ?? ''}`) },
  );
  const remaining = last.some((f) => f.type !== 'unreachable-region');
  const status: VerificationStatus =
    opts.lost && opts.allRegionsChecked
      ? 'unrecoverable'
      : opts.lost || remaining || !opts.allRegionsChecked
        ? 'degraded'
        : marked.some((f) => f.repaired)
          ? 'repaired'
          : 'verified';
  return { status, findings: marked };
}
