import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'auth:public';

/**
 * Open to callers without an access token: the capability statement, SMART discovery, the
 * health probes and the token endpoint. Every other route needs one (see the bearer guard).
 */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
