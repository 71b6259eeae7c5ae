import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ErrorBody } from './api-error';
import type { AuthenticatedRequest } from './auth.guard';
import { AnonymousRefusals } from './anonymous-refusals';
import { AuditTrail, isMutating } from './audit-trail';

const CODES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  422: 'unprocessable',
};

/**
 * Turns every error into `{ error, message, details? }`; unexpected ones become a 500 without
 * internals. A refused mutating call is recorded in the audit log before the answer leaves: one
 * event per refusal for a principal, a sample for refusals without one (AnonymousRefusals). A
 * refusal because the audit log is down is not recorded there (it cannot be).
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('api');

  constructor(
    private readonly trail: AuditTrail,
    private readonly anonymous: AnonymousRefusals,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<AuthenticatedRequest>();
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = this.toBody(exception);
    const send = () => res.status(status).json(body);
    // An answer that cannot be sent (the client left, headers already out) must not become an
    // unhandled rejection: that would end the process.
    const unsent = (err: unknown) =>
      this.log.error(`answer to ${req.method} ${req.path} not sent: ${String(err)}`);
    if (!req.principal) {
      // Without a principal: counted always, sampled into the audit log for mutating calls only.
      if (!isMutating(req)) {
        this.anonymous.count();
        send();
        return;
      }
      void this.anonymous.refused(req, status, body).finally(send).catch(unsent);
      return;
    }
    if (!isMutating(req) || body.error === 'audit-unavailable') {
      send();
      return;
    }
    void this.trail
      .record(req, status, 'refused', { error: body.error, message: body.message })
      .finally(send)
      .catch(unsent);
  }

  private toBody(exception: unknown): { status: number; body: ErrorBody } {
    const body = bodyParserError(exception);
    if (body) return body;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const raw = exception.getResponse();
      if (
        typeof raw === 'object' &&
        raw !== null &&
        'error' in raw &&
        'message' in raw &&
        !('statusCode' in raw)
      ) {
        return { status, body: raw as ErrorBody };
      }
      const message =
        typeof raw === 'string' ? raw : ((raw as { message?: unknown }).message ?? exception.message);
      return {
        status,
        body: {
          error: CODES[status] ?? (status >= 500 ? 'internal' : 'error'),
          message: Array.isArray(message) ? message.join('; ') : String(message),
        },
      };
    }
    this.log.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return { status: 500, body: { error: 'internal', message: 'internal error; see the API log' } };
  }
}

/**
 * The JSON body parser's refusals (body-parser sets `type` and a 4xx `status`): a body over the
 * limit is 413, one that is not JSON 400, an encoding or charset it cannot read 415.
 */
function bodyParserError(exception: unknown): { status: number; body: ErrorBody } | undefined {
  const e = exception as { type?: unknown; status?: unknown; limit?: unknown; message?: unknown };
  if (typeof e !== 'object' || e === null || typeof e.type !== 'string' || typeof e.status !== 'number') {
    return undefined;
  }
  switch (e.type) {
    case 'entity.too.large':
      return {
        status: 413,
        body: {
          error: 'payload-too-large',
          message: `the request body is larger than the limit of ${String(e.limit)} bytes`,
          details: { limitBytes: e.limit },
        },
      };
    case 'entity.parse.failed':
      return {
        status: 400,
        body: { error: 'malformed-json', message: 'the request body is not valid JSON' },
      };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, body: { error: 'unsupported-media-type', message: String(e.message) } };
    default:
      return e.status >= 400 && e.status < 500
        ? { status: e.status, body: { error: CODES[e.status] ?? 'bad-request', message: String(e.message) } }
        : undefined;
  }
}
