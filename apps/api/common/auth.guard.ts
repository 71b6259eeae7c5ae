import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError } from './api-error';
import { Authenticator } from './authenticator';
import type { AuthenticatedRequest, Role } from './principal';

export { type AuthenticatedRequest, type Principal, type Role, sha256Hex } from './principal';

const ROLES_KEY = 'switchyard:roles';
const PUBLIC_KEY = 'switchyard:public';

/** Any one of these roles may call the route. `admin` may call every route. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/** 401 without valid credentials (Authenticator), 403 for a known principal without the route's role. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    await this.authenticator.identify(req);
    const principal = req.principal;
    if (!principal) throw this.authenticator.failure(req);
    const needed = this.reflector.getAllAndOverride<Role[]>(ROLES_KEY, targets) ?? ['viewer'];
    const roles = principal.roles;
    // Reading needs any role but `monitor`: a monitor token reports region health and nothing else.
    if (
      roles.includes('admin') ||
      needed.some((r) => roles.includes(r)) ||
      (needed.includes('viewer') && roles.some((r) => r !== 'monitor'))
    ) {
      return true;
    }
    throw new ApiError(
      403,
      'forbidden',
      `${principal.name} lacks a role this needs: one of ${needed.join(', ')}`,
    );
  }
}
