import type * as Jose from 'jose';

/**
 * The `jose` library. It ships only as ES modules; Node (>= 22.12) loads those through
 * `require`, but Jest's CommonJS module registry cannot, so it is loaded through Node's own
 * `require`, which Jest does not intercept. Import jose from here, never from 'jose' directly.
 */
const nodeModule = process.getBuiltinModule('node:module');
const jose = nodeModule.createRequire(__filename)('jose') as typeof Jose;

export default jose;
export type {
  JWK,
  JSONWebKeySet,
  JWTPayload,
  JWSHeaderParameters,
  CryptoKey,
  KeyObject,
} from 'jose';
