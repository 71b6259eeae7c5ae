import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { Logger } from '../../infra/logging/logger';
import { ApiModule, type ApiModuleOptions } from './api.module';
import { completeDocument } from './common/openapi-document';

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
  app.useBodyParser('json', { limit: '256kb' });
  SwaggerModule.setup('docs', app, () => apiDocument(app, options.config), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  app.enableShutdownHooks();
  return app;
}
