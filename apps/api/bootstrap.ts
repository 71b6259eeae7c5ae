import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import type { Logger } from '../../infra/logging/logger';
import { ApiModule, type ApiModuleOptions } from './api.module';

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

/** Builds the HTTP API (not yet listening); used by main.ts and by the controller and e2e tests. */
export async function createApi(
  options: ApiModuleOptions & { logger?: Logger | false },
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(options), {
    logger: options.logger ? nestLogger(options.logger) : false,
    bodyParser: false,
  });
  app.useBodyParser('json', { limit: '256kb' });
  app.disable('x-powered-by');
  app.use(securityHeaders());
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
