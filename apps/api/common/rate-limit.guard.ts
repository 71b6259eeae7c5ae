import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerRequest,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { CONFIG } from '../tokens';
import { ApiError } from './api-error';
import { Authenticator } from './authenticator';
import type { AuthenticatedRequest } from './principal';

/**
 * Rate limits (docs/security.md#rate-limits), before any other guard: each authenticated
 * principal has its own budget (`api.rateLimits.principal`), and each source address without
 * valid credentials one more (`api.rateLimits.anonymous`), so a flood of anonymous or wrong-token
 * requests is refused with 429 before the route runs, and a token cannot be guessed at speed.
 * (A refused mutating request is still audited by the ErrorFilter, 429 included.)
 * Budgets are per API process (in memory): with N replicas a client may get N times the limit.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly authenticator: Authenticator,
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
  ) {
    super(options, storage, reflector);
  }

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const req = props.context.switchToHttp().getRequest<AuthenticatedRequest>();
    await this.authenticator.identify(req);
    const { limit, windowSeconds } = this.config.api.rateLimits[req.principal ? 'principal' : 'anonymous'];
    const ms = windowSeconds * 1000;
    return super.handleRequest({ ...props, limit, ttl: ms, blockDuration: ms });
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    const r = req as unknown as AuthenticatedRequest;
    return Promise.resolve(r.principal ? `principal:${r.principal.name}` : `anonymous:${r.ip ?? 'unknown'}`);
  }

  /** One budget per principal or source across every route (the library's default is per route). */
  protected override generateKey(_ctx: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override throwThrottlingException(
    _ctx: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const who = detail.tracker.startsWith('principal:')
      ? detail.tracker.slice('principal:'.length)
      : 'this source (no valid credentials)';
    throw new ApiError(
      429,
      'rate-limited',
      `too many requests from ${who}: at most ${detail.limit} per ${detail.ttl / 1000} s; retry after ${detail.timeToBlockExpire} s`,
      { limit: detail.limit, windowSeconds: detail.ttl / 1000, retryAfterSeconds: detail.timeToBlockExpire },
    );
  }
}
