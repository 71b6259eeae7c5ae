import { HttpException } from '@nestjs/common';

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
