import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { AnonymizationKeys } from '../../anonymization/anonymization-engine';

/**
 * The keys an anonymized export runs with, sealed for its job row (AES-256-GCM under
 * EXPORT_KEY_ENCRYPTION_KEY): a key the configuration leaves empty is made up once per job, so
 * every worker and every resumed run of the job hashes, shifts and encrypts alike, and the row
 * alone does not give the keys away.
 */

/** The keys to use: the configuration's, and fresh random ones where it has none. */
export function jobKeys(configured: Partial<AnonymizationKeys>): AnonymizationKeys {
  return {
    dateShiftKey: configured.dateShiftKey || randomBytes(16).toString('hex'),
    cryptoHashKey: configured.cryptoHashKey || randomBytes(16).toString('hex'),
    // 32 ASCII characters: an AES-256 key, as the reference derives one from a string.
    encryptKey: configured.encryptKey || randomBytes(16).toString('hex'),
  };
}

function keyOf(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
export function sealKeys(keys: AnonymizationKeys, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(keys), 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

export class SealedKeysError extends Error {}

/** The keys {@link sealKeys} sealed; throws a {@link SealedKeysError} when `secret` is not the one. */
export function openKeys(sealed: string, secret: string): AnonymizationKeys {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) {
    throw new SealedKeysError('The job holds no readable anonymization keys');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const text = Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
    return JSON.parse(text) as AnonymizationKeys;
  } catch {
    throw new SealedKeysError(
      "The job's anonymization keys were sealed under another EXPORT_KEY_ENCRYPTION_KEY: give every API and worker process the same one",
    );
  }
}
