import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const IV_BYTES = 16;
const CIPHERS: Readonly<Record<number, string>> = {
  16: 'aes-128-cbc',
  24: 'aes-192-cbc',
  32: 'aes-256-cbc',
};
// Padded standard base64 only: Buffer.from(_, 'base64') would silently skip anything else.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * AES-CBC with PKCS7 padding under the raw UTF-8 bytes of `key` and a fresh random IV, as
 * base64(IV ‖ ciphertext) (FHIR Anonymizer `encrypt`, docs/anonymization.md §2.5). The empty
 * string is returned unchanged, as upstream does.
 */
export function encrypt(value: string, key: string): string {
  if (value === '') return value;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(cipherFor(key), Buffer.from(key, 'utf8'), iv);
  return Buffer.concat([iv, cipher.update(value, 'utf8'), cipher.final()]).toString('base64');
}

/**
 * The inverse of `encrypt`. Throws on malformed base64, on input shorter than the IV, and when
 * the ciphertext does not decrypt under `key`.
 */
export function decrypt(value: string, key: string): string {
  if (value === '') return value;
  if (!BASE64.test(value)) throw new Error('Encrypted value is not valid base64');
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < IV_BYTES) {
    throw new Error(`Encrypted value is shorter than the ${IV_BYTES}-byte IV`);
  }
  const decipher = createDecipheriv(
    cipherFor(key),
    Buffer.from(key, 'utf8'),
    bytes.subarray(0, IV_BYTES),
  );
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES)), decipher.final()]).toString(
    'utf8',
  );
}

/** Why `key` cannot be an AES key (upstream's message), or undefined when it can. */
export function encryptKeyProblem(key: string): string | undefined {
  const bits = Buffer.byteLength(key, 'utf8') * 8;
  return CIPHERS[bits / 8] === undefined
    ? `Invalid encrypt key size : ${bits} bits! Please provide key sizes of 128, 192 or 256 bits.`
    : undefined;
}

function cipherFor(key: string): string {
  const problem = encryptKeyProblem(key);
  if (problem !== undefined) throw new Error(problem);
  return CIPHERS[Buffer.byteLength(key, 'utf8')];
}
