import { HttpException } from '@nestjs/common';
import { UpdateNotTakenError } from '../../../infra/temporal/update-deadline';

/**
 * Every error the API returns has this body: a stable code, a sentence for a person, and details
 * a script can act on. Codes are listed in docs/api.md.
 */
export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

export class ApiError extends HttpException {
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(
      { error: code, message, ...(details === undefined ? {} : { details }) } satisfies ErrorBody,
      status,
    );
  }

  static badRequest(code: string, message: string, details?: unknown) {
    return new ApiError(400, code, message, details);
  }
  static notFound(code: string, message: string, details?: unknown) {
    return new ApiError(404, code, message, details);
  }
  static conflict(code: string, message: string, details?: unknown) {
    return new ApiError(409, code, message, details);
  }
  static unprocessable(code: string, message: string, details?: unknown) {
    return new ApiError(422, code, message, details);
  }
}

/** Temporal could not be reached: say so plainly instead of a 500. */
export function temporalUnavailable(err: unknown): ApiError | undefined {
  // An Update no worker took in time: the error says whether it was applied (docs/temporal-security.md).
  if (err instanceof UpdateNotTakenError) return new ApiError(503, err.code, err.message, err.details);
  const e = err as { name?: string; message?: string; code?: number };
  const text = `${e.name ?? ''} ${e.message ?? ''}`;
  if (
    /Failed to connect|UNAVAILABLE|ECONNREFUSED|TransportError|DEADLINE_EXCEEDED/i.test(text) ||
    e.code === 14
  ) {
    return new ApiError(503, 'temporal-unavailable', `Temporal is unreachable: ${e.message ?? 'no answer'}`);
  }
  return undefined;
}

export async function orUnavailable<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw temporalUnavailable(err) ?? err;
  }
}
