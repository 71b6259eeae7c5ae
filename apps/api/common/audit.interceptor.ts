import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { from, mergeMap, type Observable } from 'rxjs';
import type { AuthenticatedRequest } from './auth.guard';
import { AuditTrail, isMutating } from './audit-trail';

/**
 * A mutating call that passed authentication writes its request event before its handler runs
 * (none runs when that fails: 503 audit-unavailable), and its accepted outcome before the answer
 * leaves. Refusals are recorded by the error filter.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(private readonly trail: AuditTrail) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const res = ctx.switchToHttp().getResponse<Response>();
    if (!isMutating(req)) return next.handle();
    return from(this.trail.recordRequest(req)).pipe(
      mergeMap(() => next.handle()),
      mergeMap((body: unknown) =>
        from(
          (async () => {
            const extra = (res.locals.audit ?? {}) as {
              target?: string;
              details?: Record<string, unknown>;
              /** A call that changed nothing and would flood the log (a monitor's heartbeat). */
              skip?: boolean;
            };
            if (extra.skip) return body;
            await this.trail.record(req, res.statusCode, 'accepted', extra.details, extra.target);
            return body;
          })(),
        ),
      ),
    );
  }
}
