/**
 * What a running local stack (or the test harness's servers) exposes: addresses, credentials
 * and names. The stack writes it as JSON; tests read it from $SWITCHYARD_TEST_STACK.
 */
export interface S3RegionInfo {
  region: string;
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  dataDir: string;
}

export interface StackInfo {
  /** Directory holding every server's data and log files. */
  runDir: string;
  temporal: { address: string; namespace: string; uiUrl: string };
  s3: S3RegionInfo[];
  /** A third, small S3 server outside both regions: the apps' fencing witness (docs/fencing.md). */
  witness?: S3RegionInfo;
  moto: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  powerdns: { apiUrl: string; apiKey: string; serverId: string; dnsHost: string; dnsPort: number };
  /** A PostgreSQL database (`switchyard_test`) for the SQL stores' tests; the test harness starts it. */
  postgres?: { url: string };
  /** Present when the stack also started them (the demo stack, not the test harness). */
  demo?: DemoInfo;
  api?: { url: string; pid?: number };
  worker?: { pid: number };
  /** Every process the stack started, e.g. to stop one region's S3 server in a test. */
  processes?: { name: string; pid: number; logFile: string }[];
  /** The pid of the process that owns the stack (the harness or `main.js up`). */
  ownerPid?: number;
}

export interface DemoInfo {
  regions: { name: string; ip: string; url: string; pid: number }[];
  /** The app name in the generated switchyard.yaml. */
  app?: string;
  /** The generated switchyard.yaml the worker and API run with. */
  configFile?: string;
  dns?: { zone: string; record: string; ttl: number };
  /** Demo bearer tokens in clear (the yaml holds only their SHA-256). */
  /** `vantage`: a monitor token's vantage point, the only one it may report for. */
  tokens?: { principal: string; role: string; token: string; vantage?: string }[];
}

export function readStackInfoFromEnv(): StackInfo {
  const file = process.env.SWITCHYARD_TEST_STACK;
  if (!file) {
    throw new Error(
      'SWITCHYARD_TEST_STACK is not set: run the tests through `npm test`, which starts the servers',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
}
