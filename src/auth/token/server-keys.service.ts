import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  JsonWebKey,
  KeyObject,
} from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import jose from '../jose';

/** One of the server's own keys for access tokens. */
export interface ServerKey {
  kid: string;
  alg: 'ES384' | 'RS384';
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function algOf(key: KeyObject): 'ES384' | 'RS384' {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1') {
    return 'ES384';
  }
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) {
    return 'RS384';
  }
  throw new Error(
    'AUTH_SIGNING_KEY: use an EC P-384 key (ES384) or an RSA key of at least 2048 bits (RS384)',
  );
}

/** The private keys AUTH_SIGNING_KEY holds: a private JWK, a JWK Set of them, or a PKCS#8 PEM. */
export function parseSigningKeys(text: string): KeyObject[] {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('-----BEGIN')) return [createPrivateKey(trimmed)];
    const parsed = JSON.parse(trimmed) as JsonWebKey | { keys: JsonWebKey[] };
    const jwks = 'keys' in parsed && Array.isArray(parsed.keys) ? parsed.keys : [parsed];
    if (jwks.length === 0) throw new Error('the JWK Set has no keys');
    return jwks.map((jwk: JsonWebKey) => {
      if (!('d' in jwk)) throw new Error('a key is public; a private key ("d") is required');
      return createPrivateKey({ key: jwk, format: 'jwk' });
    });
  } catch (error) {
    throw new Error(
      `AUTH_SIGNING_KEY is not a private JWK, JWK Set or PKCS#8 PEM: ${(error as Error).message}`,
    );
  }
}

/**
 * The server's access-token keys from AUTH_SIGNING_KEY: the first signs, all verify (so a key
 * can be rotated in without invalidating the tokens of the previous one). Each key's `kid` is
 * its RFC 7638 thumbprint. Without AUTH_SIGNING_KEY an ES384 key is generated at start.
 */
@Injectable()
export class ServerKeys implements OnModuleInit {
  private readonly logger = new Logger(ServerKeys.name);
  private keys: ServerKey[] = [];

  constructor(private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    let privateKeys: KeyObject[];
    if (this.config.AUTH_SIGNING_KEY) {
      privateKeys = parseSigningKeys(this.config.AUTH_SIGNING_KEY);
    } else {
      this.logger.warn(
        'AUTH_SIGNING_KEY unset: signing access tokens with a key generated at start; ' +
          'tokens do not survive a restart and are not accepted by other API processes',
      );
      privateKeys = [generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey];
    }
    this.keys = await Promise.all(
      privateKeys.map(async (privateKey) => {
        const alg = algOf(privateKey);
        const publicKey = createPublicKey(privateKey);
        const jwk = publicKey.export({ format: 'jwk' });
        const kid = await jose.calculateJwkThumbprint(jwk);
        return { kid, alg, privateKey, publicKey };
      }),
    );
  }

  /** The key new tokens are signed with. */
  signingKey(): ServerKey {
    if (this.keys.length === 0) throw new Error('ServerKeys used before the module initialised');
    return this.keys[0];
  }

  /** The key of that kid, if the server holds it. */
  verificationKey(kid: string | undefined): ServerKey | undefined {
    return this.keys.find((k) => k.kid === kid);
  }
}
