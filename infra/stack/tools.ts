import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Paths of the tools installed by infra/scripts/tools.sh. It exports them when sourced; when
 * they are not in the environment, the same versioned paths in the cache are used.
 */
export const TOOL_VERSIONS = {
  temporal: '1.5.1',
  versitygw: '1.8.0',
  moto: '5.2.1',
  schemathesis: '4.32',
} as const;

export interface ToolPaths {
  temporal: string;
  versitygw: string;
  motoServer: string;
  pdnsServer: string;
  /** schemathesis's `st` (the API fuzzer). */
  schemathesis: string;
}

export function toolPaths(env: NodeJS.ProcessEnv = process.env): ToolPaths {
  const cache = env.SWITCHYARD_TOOLS_DIR || join(homedir(), '.cache', 'switchyard', 'tools');
  return {
    temporal:
      env.SWITCHYARD_TEMPORAL_BIN || join(cache, `temporal-${TOOL_VERSIONS.temporal}`, 'bin', 'temporal'),
    versitygw:
      env.SWITCHYARD_VERSITYGW_BIN || join(cache, `versitygw-${TOOL_VERSIONS.versitygw}`, 'bin', 'versitygw'),
    motoServer:
      env.SWITCHYARD_MOTO_SERVER_BIN || join(cache, `moto-${TOOL_VERSIONS.moto}`, 'bin', 'moto_server'),
    pdnsServer: env.SWITCHYARD_PDNS_SERVER_BIN || '/usr/sbin/pdns_server',
    schemathesis:
      env.SWITCHYARD_SCHEMATHESIS_BIN ||
      join(cache, `schemathesis-${TOOL_VERSIONS.schemathesis}`, 'bin', 'st'),
  };
}

/** Throws an error naming the tool and how to install it when `path` is not an executable. */
export function requireExecutable(tool: string, path: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `${tool} not found at ${path}: run \`source infra/scripts/tools.sh\` (it installs every tool)`,
    );
  }
  return path;
}
