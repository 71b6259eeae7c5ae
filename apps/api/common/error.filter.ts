import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ErrorBody } from './api-error';

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

/** Turns every error into `{ error, message, details? }`; unexpected ones become a 500 without internals. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('api');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      if (
        typeof body === 'object' &&
        body !== null &&
        'error' in body &&
        'message' in body &&
        typeof (body as ErrorBody).error === 'string' &&
        !('statusCode' in body)
      ) {
        res.status(status).json(body);
        return;
      }
      const message =
        typeof body === 'string' ? body : ((body as { message?: unknown }).message ?? exception.message);
      res.status(status).json({
        error: CODES[status] ?? (status >= 500 ? 'internal' : 'error'),
        message: Array.isArray(message) ? message.join('; ') : String(message),
      } satisfies ErrorBody);
      return;
    }
    this.log.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    res
      .status(500)
      .json({ error: 'internal', message: 'internal error; see the API log' } satisfies ErrorBody);
  }
}
