import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import type { Logger } from '../../infra/logging/logger';
import { ApiModule, type ApiModuleOptions } from './api.module';
import { ApiError } from './common/api-error';
import { completeDocument } from './common/openapi-document';
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

/**
 * Security headers (helmet) on every answer. The API answers JSON and never needs a script, a
 * style or a frame, so its CSP forbids all; the Swagger UI under /docs runs its own scripts and
 * inline styles from this origin, so only there the CSP allows 'self' and inline code.
 */
function securityHeaders() {
  const common = {
    frameguard: { action: 'deny' as const },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  };
  const api = helmet({
    ...common,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
      },
    },
  });
  const docs = helmet({
    ...common,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        objectSrc: ["'none'"],
      },
    },
  });
  return (req: Request, res: Response, next: NextFunction) =>
    (req.path === '/docs' || req.path.startsWith('/docs/') ? docs : api)(req, res, next);
}

/** The OpenAPI document of the API: generated from the controllers' decorators and zod schemas. */
export function apiDocument(app: NestExpressApplication, config: ApiModuleOptions['config']): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Switchyard API')
    .setDescription('Multi-region active/passive disaster-recovery coordinator')
    .setVersion('v1')
    .addBearerAuth()
    .build();
  return completeDocument(SwaggerModule.createDocument(app, builder), {
    exampleApp: Object.keys(config.apps)[0],
  });
}

/** Builds the HTTP API (not yet listening); used by main.ts and by the controller and e2e tests. */
export async function createApi(
  options: ApiModuleOptions & { logger?: Logger | false },
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(options), {
    logger: options.logger ? nestLogger(options.logger) : false,
    bodyParser: false,
  });
  app.disable('x-powered-by');
  app.use(securityHeaders());
  app.use(requireJsonBody);
  app.useBodyParser('json', { limit: BODY_LIMIT });
  app.useGlobalPipes(new SafeParamsPipe());
  SwaggerModule.setup('docs', app, () => apiDocument(app, options.config), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  app.enableShutdownHooks();
  return app;
}
