import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { configSchema, type SwitchyardConfig } from './config.schema';

/** One thing wrong with a configuration file, located by its path (`apps.shop.regions[1].dns.target`). */
export interface ConfigIssue {
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `invalid configuration ${source}:\n` +
        issues
          .map((i) => `  ${i.path || '(root)'}: ${i.message}${i.line ? ` (line ${i.line})` : ''}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (or `${NAME:-default}`) in every string value with the environment's value.
 * Secrets are meant to arrive this way; values never appear in error messages.
 */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, varName: string, fallback: string | undefined) => {
      const v = env[varName];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      issues.push({ path: formatPath(path), message: `environment variable ${varName} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, issues, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, issues, [...path, k])]),
    );
  }
  return value;
}

function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, path: readonly PropertyKey[]) {
  let node: YamlNode | null | undefined = doc.contents as YamlNode | null;
  let last: YamlNode | null | undefined = node;
  for (const seg of path) {
    if (isMap(node)) node = node.get(seg as string, true) as YamlNode | undefined;
    else if (isSeq(node) && typeof seg === 'number') node = node.get(seg, true) as YamlNode | undefined;
    else break;
    if (!node) break;
    last = node;
  }
  const range = (isScalar(last) || isMap(last) || isSeq(last)) && last.range ? last.range[0] : undefined;
  return range === undefined ? undefined : counter.linePos(range).line;
}

/** Parses and validates configuration text. Throws ConfigError listing every issue. */
export function parseConfig(
  text: string,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
): SwitchyardConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({
        path: '',
        message: `YAML: ${e.message.split('\n')[0]}`,
        line: e.linePos?.[0]?.line,
      })),
    );
  }
  const issues: ConfigIssue[] = [];
  const raw = interpolateEnv(doc.toJS() ?? {}, env, issues);
  if (issues.length > 0) throw new ConfigError(source, issues);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      toIssues(parsed.error, (p) => lineOf(doc, counter, p)),
    );
  }
  return parsed.data;
}

export function toIssues(
  error: z.ZodError,
  line?: (path: readonly PropertyKey[]) => number | undefined,
): ConfigIssue[] {
  return error.issues.map((issue) => {
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
        : issue.message;
    return { path: formatPath(issue.path), message, line: line?.(issue.path) };
  });
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): SwitchyardConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [
      { path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read: ${code}` },
    ]);
  }
  return parseConfig(text, file, env);
}

/** The configuration file to use: $SWITCHYARD_CONFIG, else ./switchyard.yaml. */
export function configPathFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWITCHYARD_CONFIG ?? 'switchyard.yaml';
}
