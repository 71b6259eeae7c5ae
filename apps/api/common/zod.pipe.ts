import { type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { formatPath } from '../../../infra/config/config.loader';
import { ApiError } from './api-error';
import { openApiSchema } from './openapi';

/** Validates a request part against a zod schema: 400 naming each bad field, nothing changed. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly part: 'body' | 'query' | 'params' = 'body',
  ) {}

  transform(value: unknown): z.output<S> {
    const parsed = this.schema.safeParse(value ?? {});
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues.map((i) => {
      const path = formatPath([this.part, ...i.path]);
      const message =
        i.code === 'unrecognized_keys'
          ? `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`
          : i.message;
      // A refused character (workflows/safe-text.ts) also names its position for scripts.
      const where =
        i.code === 'custom' ? (i.params as { position?: number; codePoint?: string } | undefined) : undefined;
      return where?.position === undefined
        ? { path, message }
        : { path, message, position: where.position, codePoint: where.codePoint };
    });
    throw ApiError.badRequest('validation-failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
      issues,
    });
  }
}

/** The request schema as OpenAPI's JSON Schema (for @ApiBody): the same zod schema that validates. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  return openApiSchema(schema, 'input');
}
