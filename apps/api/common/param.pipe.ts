import { type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { safeName } from '../../../workflows/safe-text';
import { ZodPipe } from './zod.pipe';

const nameSchema = safeName();

/**
 * Every path parameter (an app, a region, an id, a record or schedule name) is a name taken from
 * a request: safe text of at most NAME_TEXT_MAX characters, else 400 naming it (`params.app`).
 * Routes with a stricter pattern check it again after this.
 */
export class SafeParamsPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const key = metadata.data;
    if (metadata.type !== 'param' || typeof value !== 'string' || !key) return value;
    const parsed = new ZodPipe(z.object({ [key]: nameSchema }), 'params').transform({ [key]: value });
    return parsed[key];
  }
}
