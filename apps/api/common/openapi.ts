import { applyDecorators } from '@nestjs/common';
import { ApiQuery, ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';

/**
 * The OpenAPI document is generated from the zod schemas the code validates and answers with, so
 * it cannot drift from them (docs/api.md#the-openapi-document). The document is OpenAPI 3.0, so
 * every schema is converted for that target.
 */
export function openApiSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'openapi-3.0',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/** Every error answer: see ApiError and docs/api.md#errors. */
export const errorBodySchema = z.object({
  error: z.string().min(1),
  message: z.string(),
  details: z.unknown().optional(),
});

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

const ERROR_MEANING: Record<ErrorStatus, string> = {
  400: 'The body, query or a path parameter is not valid (validation-failed names each field), or the body is not JSON',
  401: 'No token, a malformed Authorization header, or an unknown or revoked token',
  403: "The token's principal lacks the route's role",
  404: 'What the path names does not exist',
  409: 'Refused by the state of what the path names (the code says which rule)',
  413: 'The body is larger than the limit',
  415: 'The body is not application/json',
  422: 'Well-formed, but it names something the configuration does not have or that cannot be done',
  429: 'Too many requests from this principal or source; Retry-After says when to try again',
  503: 'A dependency (Temporal, the buckets, the audit log) did not answer; nothing changed',
};

export function errorResponse(status: ErrorStatus): { description: string; content: object } {
  return {
    description: ERROR_MEANING[status],
    content: { 'application/json': { schema: openApiSchema(errorBodySchema) } },
  };
}

/**
 * The answers of one route: its success status(es) with the zod schema of the body, and the
 * errors this route itself can give. The errors every route can give (401, 403, 429, 503, and
 * 400/413/415 where a request carries input) are added to the whole document by
 * `completeDocument` in bootstrap.ts.
 */
export function ApiAnswers(success: Partial<Record<200 | 201 | 202, z.ZodType>>, ...errors: ErrorStatus[]) {
  return applyDecorators(
    ...Object.entries(success).map(([status, schema]) =>
      ApiResponse({ status: Number(status), description: 'Success', schema: openApiSchema(schema!) }),
    ),
    ...errors.map((status) =>
      ApiResponse({ status, description: ERROR_MEANING[status], schema: openApiSchema(errorBodySchema) }),
    ),
  );
}

/** One documented query parameter per field of the zod schema the route validates its query with. */
export function ApiQueryFrom(schema: z.ZodObject) {
  return applyDecorators(
    ...Object.entries(schema.shape).map(([name, field]) =>
      ApiQuery({
        name,
        required: !(field as z.ZodType).safeParse(undefined).success,
        schema: openApiSchema(field as z.ZodType, 'input'),
      }),
    ),
  );
}
