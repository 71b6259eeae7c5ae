import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Logger } from '../../infra/logging/logger';
import type { NextFunction, Request, Response } from 'express';
import { ApiModule, type ApiModuleOptions } from './api.module';
import { ApiError } from './common/api-error';
import { SafeParamsPipe } from './common/param.pipe';

function nestLogger(log: Logger): LoggerService {
  const fmt = (m: unknown) => (typeof m === 'string' ? m : JSON.stringify(m));
  return {
    log: (m, ctx?: string) => log.info({ context: ctx }, fmt(m)),
    error: (m, trace?: string, ctx?: string) => log.error({ context: ctx, trace }, fmt(m)),
    warn: (m, ctx?: string) => log.warn({ context: ctx }, fmt(m)),
    debug: (m, ctx?: string) => log.debug({ context: ctx }, fmt(m)),
    verbose: (m, ctx?: string) => log.trace({ context: ctx }, fmt(m)),
  };
}

const BODY_LIMIT = '256kb';
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** As body-parser decides: a body is there when it is chunked or has a non-zero length. */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Every route that takes a body takes JSON: a body of another type is refused with 415 before it
 * is read, rather than ignored (which would answer 400 for fields the client did send).
 */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  if (BODY_METHODS.has(req.method) && hasBody(req) && !req.is('application/json')) {
    next(
      new ApiError(
        415,
        'unsupported-media-type',
        `expected a JSON body (Content-Type: application/json), got ${req.headers['content-type'] ?? 'no Content-Type'}`,
      ),
    );
    return;
  }
  next();
}

/** Builds the HTTP API (not yet listening); used by main.ts and by the controller and e2e tests. */
export async function createApi(
  options: ApiModuleOptions & { logger?: Logger | false },
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(options), {
    logger: options.logger ? nestLogger(options.logger) : false,
    bodyParser: false,
  });
  app.use(requireJsonBody);
  app.useBodyParser('json', { limit: BODY_LIMIT });
  app.useGlobalPipes(new SafeParamsPipe());
  const doc = new DocumentBuilder()
    .setTitle('Switchyard API')
    .setDescription('Multi-region active/passive disaster-recovery coordinator')
    .setVersion('v1')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, doc), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  app.enableShutdownHooks();
  return app;
}
