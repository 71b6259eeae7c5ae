import type { OpenAPIObject } from '@nestjs/swagger';
import { type ErrorStatus, errorResponse } from './openapi';

type Operation = {
  parameters?: { name: string; in: string; example?: unknown }[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
  security?: unknown[];
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * Adds to every operation the errors any route can give, so that no controller has to repeat
 * them: 401 and 403 (the auth guard), 429 (rate limits) and 503 (Temporal or the audit log did
 * not answer) on every authenticated route; 400 where the request carries parameters or a body;
 * 413 and 415 where it carries a body. A route's own errors (404, 409, 422) come from its
 * ApiAnswers decorator. And 431 on every route: Node's HTTP server refuses headers over its limit
 * (16 KiB) before any of the API's code runs, with no body (found by the fuzzer).
 */
export function completeDocument(doc: OpenAPIObject, opts: { exampleApp?: string } = {}): OpenAPIObject {
  for (const item of Object.values(doc.paths)) {
    for (const method of METHODS) {
      const op = (item as Record<string, Operation | undefined>)[method];
      if (!op) continue;
      // A configured app as the example of `{app}`: readers (and fuzzers) get a name that exists.
      for (const p of op.parameters ?? []) {
        if (p.in === 'path' && p.name === 'app' && opts.exampleApp) p.example = opts.exampleApp;
      }
      const statuses: ErrorStatus[] = [];
      if ((op.parameters?.length ?? 0) > 0 || op.requestBody) statuses.push(400);
      if (op.requestBody) statuses.push(413, 415);
      if (op.security?.length) statuses.push(401, 403, 429, 503);
      for (const status of statuses) op.responses[String(status)] ??= errorResponse(status);
      op.responses['431'] ??= {
        description:
          "Request headers larger than Node's limit (16 KiB): refused before the API reads them, no body",
      };
    }
  }
  return doc;
}
