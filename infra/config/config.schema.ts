import { isIP } from 'node:net';
import { z } from 'zod';
import { oidcSchema } from '../auth/jwt.verifier';
import { DEFAULT_FAILOVER_CONFIG, failoverSchema } from './custom-steps';
import { checkDnsStrategy, dnsStrategyFields, dnsStrategyProviderIssues } from '../dns/dns-settings';
import { monitoringSchema, type ProbeTarget, reportEverySeconds } from '../health/monitor-settings';
import { notificationsSchema } from '../notify/webhook.notifier';
import { checkScratch } from './scratch';
import { checkFailoverMode } from './failover-mode';

/**
 * The schema of switchyard.yaml. Every field is documented in docs/configuration.md;
 * keep the two in step. Errors name the exact path, e.g.
 * `apps.shop.regions[1].dns.target: expected an IPv4 address`.
 */

const name = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,39}$/,
    'expected a lowercase name: a letter, then letters, digits or dashes (max 40)',
  );

/**
 * A record keyed by names, without a prototype: a name from a request (`constructor`,
 * `__proto__`, `toString`) finds nothing in it, so every lookup by request name is an ordinary
 * miss (404), not an inherited method.
 */
export function nameRecord<V extends z.ZodType>(value: V) {
  return z
    .record(name, value)
    .transform((r) => Object.assign(Object.create(null) as Record<string, z.output<V>>, r));
}

const hostname = z
  .string()
  .transform((s) => s.replace(/\.$/, '').toLowerCase())
  .pipe(
    z
      .string()
      .regex(
        /^(?=.{1,253}$)([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
        'expected a DNS name such as www.example.com',
      ),
  );

const httpUrl = z
  .string()
  .url('expected a URL')
  .refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL');

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7233');

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

const secret = z.string().min(1, 'must not be empty');

const temporalSchema = z
  .object({
    address: hostPort.default('127.0.0.1:7233'),
    namespace: z.string().min(1).default('default'),
    /** Prefix of every task queue: `<prefix>.coordinator`, `<prefix>.<region>`. */
    taskQueuePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/)
      .default('switchyard'),
    tls: z.boolean().default(false),
    apiKey: secret.optional(),
    /** How long the API waits for a connection before answering 503 temporal-unavailable. */
    connectTimeoutSeconds: seconds(1, 300).default(10),
    /**
     * How long the API waits for a worker to take an Update (approve, undo, cancel, confirm) before
     * answering 503 worker-unavailable; the workflow refuses the Update if it arrives later
     * (docs/temporal-security.md).
     */
    updateTimeoutSeconds: seconds(1, 300).default(30),
    /**
     * `aes-256-gcm`: every payload (inputs, results, memo, update arguments) is encrypted with the key
     * in SWITCHYARD_PAYLOAD_KEY before it reaches Temporal, and a payload without it is refused.
     */
    payloadCodec: z.enum(['none', 'aes-256-gcm']).default('none'),
    /**
     * With the codec on, still read payloads written before it was turned on (a migration): this
     * also accepts Updates from clients without the key. Off by default.
     */
    acceptPlaintextPayloads: z.boolean().default(false),
  })
  .strict();

/** A fixed window: at most `limit` requests per `windowSeconds` (docs/security.md#rate-limits). */
const rateLimitSchema = z
  .object({
    limit: z.number().int().min(1).max(1_000_000),
    windowSeconds: seconds(1, 3600),
  })
  .strict();

export const DEFAULT_RATE_LIMITS = {
  /** Per authenticated principal: a CLI, a console, a monitor's heartbeats fit with room to spare. */
  principal: { limit: 1200, windowSeconds: 60 },
  /** Per source address without valid credentials (including wrong tokens): no brute force, no log flood. */
  anonymous: { limit: 120, windowSeconds: 60 },
};

const apiSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    rateLimits: z
      .object({
        principal: rateLimitSchema.default(DEFAULT_RATE_LIMITS.principal),
        anonymous: rateLimitSchema.default(DEFAULT_RATE_LIMITS.anonymous),
      })
      .strict()
      .default(DEFAULT_RATE_LIMITS),
    /**
     * Who may read GET /metrics: `public` (default; a scraper needs no token) or `authenticated`
     * (a bearer token of any role, e.g. a monitor or viewer token in the scraper's configuration).
     */
    metricsAccess: z.enum(['public', 'authenticated']).default('public'),
    /**
     * How far a monitor report's `at` may lie from the API's clock (either way) before it is
     * refused with 422 report-clock-skew; the quorum itself orders reports by receive time.
     */
    maxReportClockSkewSeconds: seconds(1, 3600).default(30),
  })
  .strict();

const tokenSchema = z
  .object({
    principal: z.string().min(1),
    roles: z.array(z.enum(['viewer', 'operator', 'approver', 'admin', 'monitor'])).min(1),
    /** SHA-256 (hex) of the bearer token; the token itself is never stored. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the token, 64 hex characters'),
    /** A monitor token's vantage point: it may report for this one only (docs/security.md). */
    vantage: name.optional(),
  })
  .strict()
  .refine((t) => !t.roles.includes('monitor') || t.vantage !== undefined, {
    message: 'a monitor token names its vantage point (vantage: east), so it cannot speak for the others',
    path: ['vantage'],
  })
  .refine((t) => t.vantage === undefined || t.roles.includes('monitor'), {
    message: 'only a monitor token names a vantage point',
    path: ['vantage'],
  });

const authSchema = z
  .object({
    tokens: z.array(tokenSchema).default([]),
    /** Bearer JWTs from the organisation's identity provider (docs/notifications-and-oidc.md). */
    oidc: oidcSchema.optional(),
  })
  .strict();

/**
 * Where the audit log and API tokens live: `sqlite:<file>` (default) or `postgres://...`.
 * The DATABASE_URL environment variable, when set, takes precedence.
 */
const databaseSchema = z
  .object({
    url: z
      .string()
      .regex(
        /^(sqlite:.+|postgres(ql)?:\/\/.+)$/,
        'expected sqlite:<file> or postgres://user:password@host:port/db',
      )
      .default('sqlite:.switchyard/switchyard.db'),
  })
  .strict();

const route53ProviderSchema = z
  .object({
    type: z.literal('route53'),
    /** Omit for AWS; set for a Route 53 compatible endpoint (moto in the local stack). */
    endpoint: httpUrl.optional(),
    region: z.string().default('us-east-1'),
    /** Omit both to use the standard AWS credential chain. */
    accessKeyId: secret.optional(),
    secretAccessKey: secret.optional(),
    /** How long to wait for a change to reach INSYNC. */
    syncTimeoutSeconds: seconds(1, 3600).default(300),
    maxAttempts: z.number().int().min(1).max(20).default(6),
  })
  .strict()
  .refine((p) => (p.accessKeyId === undefined) === (p.secretAccessKey === undefined), {
    message: 'set both accessKeyId and secretAccessKey, or neither',
    path: ['accessKeyId'],
  });

const powerdnsProviderSchema = z
  .object({
    type: z.literal('powerdns'),
    apiUrl: httpUrl,
    apiKey: secret,
    serverId: z.string().default('localhost'),
    syncTimeoutSeconds: seconds(1, 3600).default(60),
  })
  .strict();

export const dnsProviderSchema = z.discriminatedUnion('type', [
  route53ProviderSchema,
  powerdnsProviderSchema,
]);

const bucketSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name'),
    /** Omit for AWS S3. */
    endpoint: httpUrl.optional(),
    region: z.string().default('us-east-1'),
    accessKeyId: secret.optional(),
    secretAccessKey: secret.optional(),
    forcePathStyle: z.boolean().default(true),
    /** Key prefix under which Switchyard keeps its objects in this bucket. */
    prefix: z
      .string()
      .regex(/^([A-Za-z0-9._-]+\/)*$/, 'expected a key prefix ending in / (or empty)')
      .default('switchyard/'),
    /**
     * The S3 checksum sent with every upload (each multipart part), which the server verifies on
     * receipt; `none` for servers without S3 checksums. Switchyard's own SHA-256 of every artifact
     * is kept in the manifest either way.
     */
    checksumAlgorithm: z.enum(['CRC32', 'CRC32C', 'SHA256', 'none']).default('CRC32'),
  })
  .strict()
  .refine((b) => (b.accessKeyId === undefined) === (b.secretAccessKey === undefined), {
    message: 'set both accessKeyId and secretAccessKey, or neither',
    path: ['accessKeyId'],
  });

/**
 * Who must agree before an operation of a kind runs. `required: 0` lets it run without approval.
 * The requester never counts as an approver unless `excludeRequester` is false.
 */
const DEFAULT_APPROVAL_POLICY = {
  required: 1,
  roles: ['approver', 'admin'] as ('viewer' | 'operator' | 'approver' | 'admin')[],
  excludeRequester: true,
  expiresAfterSeconds: 1800,
};

/** Soft deletes can be undone: by default they need no approval. */
const NO_APPROVAL_POLICY = { ...DEFAULT_APPROVAL_POLICY, required: 0 };

const approvalPolicySchema = z
  .object({
    required: z.number().int().min(0).max(10).default(DEFAULT_APPROVAL_POLICY.required),
    roles: z
      .array(z.enum(['viewer', 'operator', 'approver', 'admin']))
      .min(1, 'name at least one role that may approve')
      .default(DEFAULT_APPROVAL_POLICY.roles),
    excludeRequester: z.boolean().default(true),
    expiresAfterSeconds: seconds(1, 7 * 86400).default(DEFAULT_APPROVAL_POLICY.expiresAfterSeconds),
  })
  .strict();

// ---- Test restores and drills (docs/drills.md) ----

/**
 * The app's scratch instance in one region: a copy of the app that test restores and drills point
 * at their scratch places (scratch database, scratch prefix, scratch hooks), never the live one.
 */
const regionScratchSchema = z
  .object({
    /** Base URL of the scratch instance: HTTP checks and the health probe go there. */
    url: httpUrl,
    /** Answers 2xx once the restored app serves its data: the end of a drill's measured RTO. */
    healthPath: z.string().regex(/^\//, 'expected a path starting with /').default('/healthz'),
    /** POSTed `{operationId, restorePointId}` after the restore, to start the app on the scratch data. */
    startUrl: httpUrl.optional(),
    /** POSTed `{operationId}` at cleanup, to stop it again. */
    stopUrl: httpUrl.optional(),
    /** Sent as `Authorization: Bearer <token>` to startUrl and stopUrl. */
    token: secret.optional(),
    /** How long the app may take to answer healthy after its start. */
    startTimeoutSeconds: seconds(1, 3600).default(120),
  })
  .strict();

const checkBase = {
  name,
  timeoutSeconds: seconds(1, 600).default(30),
};

/**
 * A declared check of the restored app: a SQL query against a postgres service's (scratch)
 * database whose first column of the first row must read `expect`, or an HTTP request to the
 * scratch instance answering `expectStatus` (and containing `expectBody`).
 */
const checkSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...checkBase,
      type: z.literal('sql'),
      /** A postgres service of the app. */
      service: name,
      query: z.string().min(1, 'must not be empty'),
      expect: z.union([z.string(), z.number(), z.boolean()]).transform(String),
    })
    .strict(),
  z
    .object({
      ...checkBase,
      type: z.literal('http'),
      path: z.string().regex(/^\//, 'expected a path starting with /'),
      method: z.enum(['GET', 'HEAD']).default('GET'),
      expectStatus: z.number().int().min(100).max(599).default(200),
      /** A substring the body must contain. */
      expectBody: z.string().optional(),
    })
    .strict(),
]);

const drillsSchema = z
  .object({
    /** The region whose scratch instance drills and test restores use (default: the first standby). */
    region: name.optional(),
    /** The RTO a drill's measurement is compared with (default: none, the figure is only reported). */
    rtoSeconds: seconds(1, 7 * 86400).optional(),
  })
  .strict();

const regionSchema = z
  .object({
    name,
    /** The role this region has before Switchyard has recorded any change of active region. */
    role: z.enum(['active', 'standby']),
    healthUrl: httpUrl,
    /**
     * The region's fence hook: POST {epoch, operationId}; its instances refuse writes from then on
     * (docs/failover.md). Called on the region's own task queue, best effort in an unplanned failover.
     */
    fenceUrl: httpUrl.optional(),
    /** Lifts the fence (POST {epoch, operationId}): compensation of a fence, and a failback's unfence. */
    unfenceUrl: httpUrl.optional(),
    /**
     * HMAC-SHA256 key with which the worker signs every call of this region's hooks (fence, unfence),
     * like webhooks (docs/fencing.md#signed-hooks); write it as a ${ENV} reference.
     */
    hookSecret: z.string().min(16, 'expected at least 16 characters').optional(),
    bucket: bucketSchema,
    dns: z
      .object({
        target: z.string().refine((s) => isIP(s) === 4, 'expected an IPv4 address'),
      })
      .strict(),
    /** The app's scratch instance in this region, where drills start it (docs/drills.md). */
    scratch: regionScratchSchema.optional(),
  })
  .strict();

const dnsRecordSchema = z
  .object({
    /** A key of `dnsProviders`. */
    provider: z.string().min(1),
    zone: hostname,
    name: hostname,
    type: z.literal('A').default('A'),
  })
  .strict()
  .refine((r) => r.name === r.zone || r.name.endsWith(`.${r.zone}`), {
    message: 'the record name must lie inside its zone',
    path: ['name'],
  });

const verifySchema = z
  .object({
    /** Checked after the DNS change: resolved through `resolvers`, it must answer healthy from the target. */
    url: httpUrl,
    /** host:port of DNS servers to ask; the system resolver when empty. */
    resolvers: z.array(hostPort).default([]),
    timeoutSeconds: seconds(1, 3600).default(120),
  })
  .strict();

/** Where a service lives in one region; keyed by region name under `services[].regions`. */
const postgresTargetSchema = z
  .object({
    /** libpq URL of the database, e.g. postgres://backup:${PG_PASSWORD}@db.east:5432/orders. */
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\/.+\/[^/?]+/, 'expected postgres://user:password@host:port/database'),
    /**
     * Scratch database for test restores and drills: created, restored into and dropped by them
     * (default: `<database>_scratch` on the same server). Never the live database.
     */
    scratch: z
      .object({
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\/.+\/[^/?]+/, 'expected postgres://user:password@host:port/database'),
      })
      .strict()
      .optional(),
  })
  .strict();

const httpTargetSchema = z
  .object({
    /** Base URL of the service's backup hooks: POST <url>/quiesce, /release, /snapshot, /restore; GET /verify. */
    url: httpUrl,
    /** Sent as `Authorization: Bearer <token>` to the hooks. */
    token: secret.optional(),
    /**
     * The hooks of the service's scratch instance (test restores and drills restore into it and
     * discard it with POST <url>/discard); required in a region that declares `regions[].scratch`.
     */
    scratch: z.object({ url: httpUrl, token: secret.optional() }).strict().optional(),
  })
  .strict();

const s3TargetSchema = z
  .object({
    bucket: bucketSchema,
    /** The objects under this key prefix are the service's data. */
    prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'expected a key prefix ending in / (or empty)'),
    /**
     * Scratch prefix for test restores and drills, emptied by them (default: the same bucket,
     * prefix `switchyard-scratch/<live prefix>`); it may not overlap the live prefix.
     */
    scratch: z
      .object({
        bucket: bucketSchema.optional(),
        prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)+$/, 'expected a non-empty key prefix ending in /'),
      })
      .strict()
      .optional(),
  })
  .strict();

const serviceBase = {
  name,
  /** Services restored before this one (restore runs in dependency order). */
  dependsOn: z.array(name).default([]),
};

/**
 * One stateful component of the app. Each knows how to quiesce, snapshot, release, restore and
 * verify itself (docs/restore-points.md); `regions` names its place in every region of the app.
 */
const serviceSchema = z.discriminatedUnion('type', [
  z
    .object({ ...serviceBase, type: z.literal('postgres'), regions: nameRecord(postgresTargetSchema) })
    .strict(),
  z.object({ ...serviceBase, type: z.literal('http'), regions: nameRecord(httpTargetSchema) }).strict(),
  z.object({ ...serviceBase, type: z.literal('s3'), regions: nameRecord(s3TargetSchema) }).strict(),
]);

const restorePointsSchema = z
  .object({
    /**
     * The bounded quiesce window: every service must quiesce within it, and the services are
     * released when it ends whatever happens (the hooks get it as their lease).
     */
    quiesceTimeoutSeconds: seconds(1, 3600).default(30),
    /** How long one service's snapshot may run; it heartbeats while it streams. */
    snapshotTimeoutSeconds: seconds(10, 7 * 86400).default(6 * 3600),
    /**
     * How long copying the artifacts into the other regions may take, retries included. A region
     * unreachable for longer fails the restore point cleanly (no manifest anywhere).
     */
    replicateTimeoutSeconds: seconds(10, 7 * 86400).default(6 * 3600),
    schedule: z
      .object({
        /** Take restore points on a Temporal Schedule. Off by default; turn on, or create one through the API. */
        enabled: z.boolean().default(false),
        /** Interval; by default half the RPO, so one missed run still meets it. */
        everySeconds: seconds(60, 30 * 86400).optional(),
        /** How late a missed run may still start (after an outage of the scheduler). */
        catchupWindowSeconds: seconds(60, 7 * 86400).default(600),
      })
      .strict()
      .default({ enabled: false, catchupWindowSeconds: 600 }),
    retention: z
      .object({
        /** Keep the newest N restore points. */
        keepLast: z.number().int().min(1).max(10_000).default(10),
        /** And the newest restore point of each of the last N days (UTC). */
        keepDaily: z.number().int().min(0).max(3650).default(7),
        /** And the newest restore point of each of the last N ISO weeks. */
        keepWeekly: z.number().int().min(0).max(520).default(4),
      })
      .strict()
      .default({ keepLast: 10, keepDaily: 7, keepWeekly: 4 }),
    verification: z
      .object({
        /** How many restore points, newest first, one verification checks in every region. */
        depth: z.number().int().min(1).max(1000).default(3),
        /** Interval of a verification schedule created without a timing (default: daily). */
        everySeconds: seconds(60, 30 * 86400).optional(),
        /** A coordinator worker creates the app's `verification` schedule at start when it has none. */
        enabled: z.boolean().default(false),
        /**
         * Every verification ends with a test restore: the newest restore point restored into the
         * scratch places of `drills.region`, the app's `checks` run, the scratch places cleaned up.
         */
        testRestore: z.boolean().default(false),
      })
      .strict()
      .default({ depth: 3, enabled: false, testRestore: false }),
    /**
     * S3 Object Lock (docs/soft-deletes.md#object-lock): after each commit the newest `keepNewest`
     * restore points (not soft-deleted) are locked in compliance mode in every region whose bucket
     * has Object Lock enabled, each version until now + `retainSeconds` (extended at every commit,
     * never shortened). Absent: nothing is locked.
     */
    objectLock: z
      .object({
        keepNewest: z.number().int().min(1).max(1000).default(3),
        /** Default: the restore-point-delete undo window plus rpoSeconds (objectLockRetainSeconds). */
        retainSeconds: seconds(1, 366 * 86400).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const SOFT_DELETE_DEFAULT_WINDOW = 7 * 86400;

/**
 * Soft deletes (docs/soft-deletes.md): how long a deleted thing can be brought back before it is
 * purged, for every kind, and per kind of soft-delete operation.
 */
const SOFT_DELETE_DEFAULT_BULK_THRESHOLD = 10;

const softDeleteSchema = z
  .object({
    windowSeconds: seconds(1, 90 * 86400).default(SOFT_DELETE_DEFAULT_WINDOW),
    /**
     * A bulk delete of more restore points than this waits for approval under
     * policies.approvals.restore-point-delete (at least one approver, whatever that policy requires).
     */
    bulkApprovalThreshold: z.number().int().min(1).max(10_000).default(SOFT_DELETE_DEFAULT_BULK_THRESHOLD),
    kinds: z
      .object({
        'restore-point-delete': z
          .object({ windowSeconds: seconds(1, 90 * 86400) })
          .strict()
          .optional(),
        'schedule-delete': z
          .object({ windowSeconds: seconds(1, 90 * 86400) })
          .strict()
          .optional(),
        'dns-record-delete': z
          .object({ windowSeconds: seconds(1, 90 * 86400) })
          .strict()
          .optional(),
        'dns-override': z
          .object({ windowSeconds: seconds(1, 90 * 86400) })
          .strict()
          .optional(),
        'region-remove': z
          .object({ windowSeconds: seconds(1, 90 * 86400) })
          .strict()
          .optional(),
        'control-override': z
          .object({ windowSeconds: seconds(1, 90 * 86400) })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

/**
 * Fencing (docs/fencing.md): the app's instances accept writes only while a fresh read of the
 * control state names their region the writer. `writeLeaseSeconds` is how long a read stays fresh;
 * a failover waits it between the fence and the promote. Defaults: WRITE_LEASE_MS, LEASE_REFRESH_MS.
 */
/** What the fencing witness is called wherever regions are listed (mirror and lease results). */
export const WITNESS = 'witness';

const fencingSchema = z
  .object({
    writeLeaseSeconds: z.number().min(0.1).max(300).default(2),
    /** How often an instance reads the control state from every region's bucket; below the lease. */
    leaseRefreshSeconds: z.number().min(0.05).max(60).default(0.5),
    /**
     * A third place for the control state, outside the app's regions (cf. a cluster's file-share
     * witness): mirrored and read like a region's bucket and counted in every quorum, so that two
     * regions can lose one and still fence it and name a new writer.
     */
    witness: z.object({ bucket: bucketSchema }).strict().optional(),
  })
  .strict()
  .refine((f) => f.leaseRefreshSeconds < f.writeLeaseSeconds, {
    path: ['leaseRefreshSeconds'],
    message: 'must be below writeLeaseSeconds (an instance must refresh its lease before it runs out)',
  });

const appSchema = z
  .object({
    description: z.string().optional(),
    regions: z.array(regionSchema).min(2, 'an app needs at least two regions'),
    dns: z
      .object({
        ttl: seconds(1, 86400).default(60),
        /** Wait one TTL after the change before verifying, so cached answers have expired. */
        waitForTtl: z.boolean().default(true),
        records: z.array(dnsRecordSchema).min(1, 'an app needs at least one DNS record'),
        /** How a failover moves the records: docs/dns-strategies.md. */
        ...dnsStrategyFields,
      })
      .strict(),
    verify: verifySchema,
    /** The app's stateful services, whose data a restore point captures together. */
    services: z.array(serviceSchema).default([]),
    restorePoints: restorePointsSchema.default(restorePointsSchema.parse({})),
    softDelete: softDeleteSchema.default({
      windowSeconds: SOFT_DELETE_DEFAULT_WINDOW,
      bulkApprovalThreshold: SOFT_DELETE_DEFAULT_BULK_THRESHOLD,
      kinds: {},
    }),
    policies: z
      .object({
        rpoSeconds: seconds(1, 30 * 86400).default(3600),
        /** Upper bound on one preflight health probe. */
        healthTimeoutSeconds: seconds(1, 300).default(5),
        approvals: z
          .object({
            failover: approvalPolicySchema.default(DEFAULT_APPROVAL_POLICY),
            /** Applies to restores into the app's active region; restores into a standby need none. */
            restore: approvalPolicySchema.default(DEFAULT_APPROVAL_POLICY),
            /**
             * Destructive kinds (docs/soft-deletes.md#approvals): none needed by default, as a soft
             * delete can be undone; `required` ≥ 1 makes every delete of that kind wait for approval.
             */
            'restore-point-delete': approvalPolicySchema.default(NO_APPROVAL_POLICY),
            'schedule-delete': approvalPolicySchema.default(NO_APPROVAL_POLICY),
            /**
             * Removing a DNS record from an app, and overriding where one points: live traffic moves,
             * so one approver other than the requester by default (docs/soft-deletes.md).
             */
            'dns-record-delete': approvalPolicySchema.default(DEFAULT_APPROVAL_POLICY),
            'dns-override': approvalPolicySchema.default(DEFAULT_APPROVAL_POLICY),
            'region-remove': approvalPolicySchema.default(NO_APPROVAL_POLICY),
            /**
             * Overrides that can give a region writes (unhalt, set-active) wait for one approval by
             * default; a halt never waits (docs/fencing.md#overrides).
             */
            'control-override': approvalPolicySchema.default(DEFAULT_APPROVAL_POLICY),
            /** Failbacks (POST /v1/apps/{app}/failbacks); the failover policy when absent. */
            failback: approvalPolicySchema.optional(),
          })
          .strict()
          .default({
            failover: DEFAULT_APPROVAL_POLICY,
            restore: DEFAULT_APPROVAL_POLICY,
            'restore-point-delete': NO_APPROVAL_POLICY,
            'schedule-delete': NO_APPROVAL_POLICY,
            'dns-record-delete': DEFAULT_APPROVAL_POLICY,
            'dns-override': DEFAULT_APPROVAL_POLICY,
            'region-remove': NO_APPROVAL_POLICY,
            'control-override': DEFAULT_APPROVAL_POLICY,
          }),
      })
      .strict()
      .default({
        rpoSeconds: 3600,
        healthTimeoutSeconds: 5,
        approvals: {
          failover: DEFAULT_APPROVAL_POLICY,
          restore: DEFAULT_APPROVAL_POLICY,
          'restore-point-delete': NO_APPROVAL_POLICY,
          'schedule-delete': NO_APPROVAL_POLICY,
          'dns-record-delete': DEFAULT_APPROVAL_POLICY,
          'dns-override': DEFAULT_APPROVAL_POLICY,
          'region-remove': NO_APPROVAL_POLICY,
          'control-override': DEFAULT_APPROVAL_POLICY,
        },
      }),
    /** Region health monitoring (docs/health-monitoring.md); targets default to regions[].healthUrl. */
    monitoring: monitoringSchema.default(monitoringSchema.parse({})),
    /** Custom steps of the failover plans (docs/custom-steps.md). */
    failover: failoverSchema.default(DEFAULT_FAILOVER_CONFIG),
    fencing: fencingSchema.default({ writeLeaseSeconds: 2, leaseRefreshSeconds: 0.5 }),
    /** What a test restore or a drill checks in the restored scratch copy (docs/drills.md). */
    checks: z.array(checkSchema).default([]),
    /** Drills (docs/drills.md): which region, the RTO they are measured against. */
    drills: drillsSchema.default(drillsSchema.parse({})),
  })
  .strict()
  .superRefine((app, ctx) => {
    const seen = new Map<string, number>();
    app.regions.forEach((r, i) => {
      const first = seen.get(r.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['regions', i, 'name'],
          message: `duplicate region name "${r.name}" (also regions[${first}])`,
        });
      }
      seen.set(r.name, i);
    });
    const witness = app.fencing.witness?.bucket;
    if (witness) {
      // The witness counts as a vote of its own: it must be neither a region nor a region's bucket.
      const place = (b: typeof witness) => `${b.endpoint ?? 'aws'}|${b.name}|${b.prefix}`;
      app.regions.forEach((r, i) => {
        if (r.name === WITNESS) {
          ctx.addIssue({
            code: 'custom',
            path: ['regions', i, 'name'],
            message: `"${WITNESS}" names the fencing witness; choose another region name`,
          });
        }
        if (place(r.bucket) === place(witness)) {
          ctx.addIssue({
            code: 'custom',
            path: ['fencing', 'witness', 'bucket'],
            message: `the witness must be a bucket of its own, not regions[${i}]'s (${r.name}): it is a separate vote`,
          });
        }
      });
    }
    const active = app.regions.filter((r) => r.role === 'active').length;
    if (active !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['regions'],
        message: `exactly one region must have role "active" (found ${active})`,
      });
    }
    const targets = new Map<string, number>();
    app.regions.forEach((r, i) => {
      const first = targets.get(r.dns.target);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['regions', i, 'dns', 'target'],
          message: `same DNS target as regions[${first}]`,
        });
      }
      targets.set(r.dns.target, i);
    });
    checkServices(app, ctx);
    checkDnsStrategy(app.dns, ctx);
    checkScratch(app, ctx);
    checkFailoverMode(app, ctx);
    checkObjectLock(app, ctx);
    const regionNames = app.regions.map((r) => r.name);
    for (const region of Object.keys(app.monitoring.targets ?? {})) {
      if (!regionNames.includes(region)) {
        ctx.addIssue({
          code: 'custom',
          path: ['monitoring', 'targets', region],
          message: `unknown region "${region}" (regions: ${regionNames.join(', ')})`,
        });
      }
    }
  });

/**
 * A compliance lock shorter than the restore-point-delete undo window would let an admin credential
 * remove a soft-deleted restore point's data while its delete can still be undone.
 */
function checkObjectLock(
  app: {
    restorePoints: z.output<typeof restorePointsSchema>;
    softDelete: z.output<typeof softDeleteSchema>;
  },
  ctx: z.RefinementCtx,
): void {
  const lock = app.restorePoints.objectLock;
  if (!lock || lock.retainSeconds === undefined) return;
  const window = softDeleteWindowSeconds(app, 'restore-point-delete');
  if (lock.retainSeconds < window) {
    ctx.addIssue({
      code: 'custom',
      path: ['restorePoints', 'objectLock', 'retainSeconds'],
      message: `must be at least the restore-point-delete undo window (${window} s): a deleted restore point must stay locked while its delete can be undone`,
    });
  }
}

/** Service names unique, dependencies known and acyclic, a place in every region and no other. */
function checkServices(
  app: { regions: { name: string }[]; services: z.output<typeof serviceSchema>[] },
  ctx: z.RefinementCtx,
): void {
  const regionNames = app.regions.map((r) => r.name);
  const index = new Map<string, number>();
  app.services.forEach((svc, i) => {
    const first = index.get(svc.name);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['services', i, 'name'],
        message: `duplicate service name "${svc.name}" (also services[${first}])`,
      });
    }
    index.set(svc.name, i);
    for (const region of regionNames) {
      if (!(region in svc.regions)) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', i, 'regions'],
          message: `missing region "${region}": a service needs a place in every region of the app`,
        });
      }
    }
    for (const region of Object.keys(svc.regions)) {
      if (!regionNames.includes(region)) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', i, 'regions', region],
          message: `unknown region "${region}" (regions: ${regionNames.join(', ')})`,
        });
      }
    }
  });
  app.services.forEach((svc, i) => {
    svc.dependsOn.forEach((dep, j) => {
      if (!index.has(dep)) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', i, 'dependsOn', j],
          message: `unknown service "${dep}" (services: ${[...index.keys()].join(', ')})`,
        });
      }
    });
  });
  const cycle = findDependencyCycle(app.services);
  if (cycle) {
    ctx.addIssue({
      code: 'custom',
      path: ['services'],
      message: `services depend on each other in a cycle: ${cycle.join(' -> ')}`,
    });
  }
}

/** The first dependency cycle among services, as a path of names, or null. */
export function findDependencyCycle(services: { name: string; dependsOn: string[] }[]): string[] | null {
  const deps = new Map(services.map((s) => [s.name, s.dependsOn]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done' || !deps.has(n)) return null;
    if (state.get(n) === 'visiting') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'visiting');
    path.push(n);
    for (const d of deps.get(n)!) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(n, 'done');
    return null;
  };
  for (const s of services) {
    const c = visit(s.name);
    if (c) return c;
  }
  return null;
}

export const configSchema = z
  .object({
    temporal: temporalSchema.default(temporalSchema.parse({})),
    api: apiSchema.default(apiSchema.parse({})),
    auth: authSchema.default({ tokens: [] }),
    database: databaseSchema.default({ url: 'sqlite:.switchyard/switchyard.db' }),
    notifications: notificationsSchema.default({ webhooks: [] }),
    dnsProviders: nameRecord(dnsProviderSchema).prefault({}),
    apps: nameRecord(appSchema).refine((a) => Object.keys(a).length > 0, 'define at least one app'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    for (const [appName, app] of Object.entries(cfg.apps)) {
      app.dns.records.forEach((rec, i) => {
        if (!(rec.provider in cfg.dnsProviders)) {
          const known = Object.keys(cfg.dnsProviders).join(', ') || 'none';
          ctx.addIssue({
            code: 'custom',
            path: ['apps', appName, 'dns', 'records', i, 'provider'],
            message: `unknown DNS provider "${rec.provider}" (defined: ${known})`,
          });
        }
      });
      const providerTypes = Object.fromEntries(
        Object.entries(cfg.dnsProviders).map(([n, p]) => [n, p.type as string]),
      );
      for (const [path, message] of dnsStrategyProviderIssues(app.dns, providerTypes)) {
        ctx.addIssue({ code: 'custom', path: ['apps', appName, ...path], message });
      }
      // A monitor's heartbeats (one per region every reportEverySeconds) must fit its rate limit
      // with room for changes and retries, or the API would refuse the monitors' own reports.
      const limit = cfg.api.rateLimits.principal;
      const heartbeats = (app.regions.length * limit.windowSeconds) / reportEverySeconds(app.monitoring);
      if (heartbeats * 2 > limit.limit) {
        ctx.addIssue({
          code: 'custom',
          path: ['api', 'rateLimits', 'principal', 'limit'],
          message: `a monitor of app ${appName} sends ${Math.ceil(heartbeats)} heartbeats per ${limit.windowSeconds} s (${app.regions.length} regions every ${reportEverySeconds(app.monitoring)} s): the limit must be at least twice that (${Math.ceil(heartbeats * 2)})`,
        });
      }
    }
  });

export type SwitchyardConfig = z.output<typeof configSchema>;
export type AppConfig = SwitchyardConfig['apps'][string];
export type RegionConfig = AppConfig['regions'][number];
export type BucketConfig = RegionConfig['bucket'];
export type DnsRecordConfig = AppConfig['dns']['records'][number];
export type DnsProviderConfig = SwitchyardConfig['dnsProviders'][string];
export type ServiceConfig = AppConfig['services'][number];
export type RestorePointsConfig = AppConfig['restorePoints'];
export type CheckConfig = AppConfig['checks'][number];
export type RegionScratchConfig = NonNullable<RegionConfig['scratch']>;

/** What the monitors probe in each region: `monitoring.targets.<region>`, else its healthUrl. */
export function monitoringTargets(
  app: Pick<AppConfig, 'regions' | 'monitoring'>,
): Record<string, ProbeTarget> {
  return Object.fromEntries(
    app.regions.map((r) => [r.name, app.monitoring.targets?.[r.name] ?? { http: r.healthUrl }]),
  );
}

/**
 * The quorum of an app's region health: `monitoring.vantagePoints`, else one vantage point per
 * region named after it (a monitor in each region).
 */
export function monitoringVantagePoints(app: Pick<AppConfig, 'regions' | 'monitoring'>): string[] {
  return app.monitoring.vantagePoints ?? app.regions.map((r) => r.name);
}

/** The undo window of a kind of soft delete for an app: the kind's own, else the app's. */
export function softDeleteWindowSeconds(
  app: Pick<AppConfig, 'softDelete'>,
  kind: keyof AppConfig['softDelete']['kinds'],
): number {
  return app.softDelete.kinds[kind]?.windowSeconds ?? app.softDelete.windowSeconds;
}
export type ApprovalPolicyConfig = z.output<typeof approvalPolicySchema>;
export type Route53ProviderConfig = Extract<DnsProviderConfig, { type: 'route53' }>;
export type PowerDnsProviderConfig = Extract<DnsProviderConfig, { type: 'powerdns' }>;

/**
 * How far past each commit the newest restore points are locked: `restorePoints.objectLock.retainSeconds`,
 * else the restore-point-delete undo window plus the RPO (a restore point deleted up to one RPO after
 * the last commit that locked it stays locked for its whole undo window).
 */
export function objectLockRetainSeconds(
  app: Pick<AppConfig, 'restorePoints' | 'softDelete' | 'policies'>,
): number {
  return (
    app.restorePoints.objectLock?.retainSeconds ??
    softDeleteWindowSeconds(app, 'restore-point-delete') + app.policies.rpoSeconds
  );
}
