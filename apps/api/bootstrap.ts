import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
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

/** Builds the HTTP API (not yet listening); used by main.ts and by the controller and e2e tests. */
export async function createApi(
  options: ApiModuleOptions & { logger?: Logger | false },
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(options), {
    logger: options.logger ? nestLogger(options.logger) : false,
    bodyParser: false,
  });
  app.useBodyParser('json', { limit: '256kb' });
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
