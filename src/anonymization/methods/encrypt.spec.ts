import { createDecipheriv } from 'node:crypto';
import { decrypt, encrypt, encryptKeyProblem } from './encrypt';

const KEY = '704ab12c8e3e46d4bea600ef62a6bec7';

describe('decrypt (upstream EncryptUtilityTests, AES-256)', () => {
  it.each([
    ['qpxGp6T9DP7wB0EYPQwOYVrScQ/pq3c0D+JQ+hjnfkY=', 'abc'],
    ['GI99peR2SpPfcqEgzr7/z7gxYym6qyVPPzvmGc8o8SSwqMpCsW0CRj3v6ZsxFCef', 'This is for test'],
    ['JxNRbbxL6pYYpbrtHWZ+1gPTPcIVrLWmrugPiUR9d6k=', '!@)(*&%^!@#$%@'],
    ['nQTtB/efLGpEqzOh/Pt4ZRlqZynO7gjePdu7LbLxH2LoqYJXAq6SQWkFeQ1SiqRM', 'ͶΆΈΞξτϡϿῧῄᾴѶѾ'],
    ['zrFYnZ2cIwcfmjCVybP1ZC+LaD7gwGXBHR2bZjuutzA=', '测试'],
  ])('decrypts %s to %j', (cipherText, plainText) => {
    expect(decrypt(cipherText, KEY)).toBe(plainText);
  });

  it.each([
    ['shorter than the IV', 'YWJj', /shorter than the 16-byte IV/],
    [
      'with padding that does not fit its length',
      'U29mdHdhcmUgdGVzdGluZyBpcyBhbiBpbnZlc3RpZ2F0aW9uIGNvbmR1Y3RlZCB0byBwcm92aWRlIGNvbmZpZGVuY2Uu=',
      /not valid base64/,
    ],
    [
      'with characters outside the alphabet',
      'QXMgdGhlIG51bWJlciBvZiBwb3NzaWJsZSB0ZXN0cyBmb3IgZXZlbiBzaW1wbGUgc29m**&&^^',
      /not valid base64/,
    ],
    ['without its padding', 'qpxGp6T9DP7wB0EYPQwOYVrScQ/pq3c0D+JQ+hjnfkY', /not valid base64/],
    ['with whitespace', 'qpxGp6T9DP7wB0EYPQwOYVrScQ/pq3c0 D+JQ+hjnfkY=', /not valid base64/],
    [
      'in the URL-safe alphabet',
      'qpxGp6T9DP7wB0EYPQwOYVrScQ_pq3c0D-JQ-hjnfkY=',
      /not valid base64/,
    ],
    ['with only an IV', 'AAAAAAAAAAAAAAAAAAAAAA==', /./],
    ['with a partial block', 'qpxGp6T9DP7wB0EYPQwOYVrScQ/pq3c0D+JQ+hjn', /./],
  ])('throws on input %s', (_label, cipherText, message) => {
    expect(() => decrypt(cipherText, KEY)).toThrow(message);
  });

  it('throws when the padding does not check out under another key', () => {
    expect(() => decrypt('qpxGp6T9DP7wB0EYPQwOYVrScQ/pq3c0D+JQ+hjnfkY=', 'x'.repeat(32))).toThrow();
  });

  it('leaves the empty string unchanged', () => {
    expect(decrypt('', KEY)).toBe('');
  });
});

describe('encrypt', () => {
  it.each([
    ['AES-128', '1234567890123456', 'aes-128-cbc'],
    ['AES-192', '123456789012345678901234', 'aes-192-cbc'],
    ['AES-256', KEY, 'aes-256-cbc'],
    ['AES-128 from multi-byte characters', 'ééééééćć', 'aes-128-cbc'],
  ])('round-trips under %s', (_label, key, algorithm) => {
    for (const plainText of ['abc', 'This is for test', 'ͶΆΈΞξτϡϿῧῄᾴѶѾ', '测试', 'x'.repeat(100)]) {
      const cipherText = encrypt(plainText, key);
      expect(decrypt(cipherText, key)).toBe(plainText);
      const bytes = Buffer.from(cipherText, 'base64');
      const decipher = createDecipheriv(algorithm, Buffer.from(key, 'utf8'), bytes.subarray(0, 16));
      const independent = Buffer.concat([decipher.update(bytes.subarray(16)), decipher.final()]);
      expect(independent.toString('utf8')).toBe(plainText);
    }
  });

  it('writes base64 of a 16-byte IV and whole PKCS7 blocks', () => {
    const bytes = Buffer.from(encrypt('This is for test', KEY), 'base64');
    // 16 plaintext bytes pad to two blocks.
    expect(bytes.length).toBe(16 + 32);
  });

  it('uses a fresh IV for every value', () => {
    expect(encrypt('abc', KEY)).not.toBe(encrypt('abc', KEY));
  });

  it('leaves the empty string unchanged', () => {
    expect(encrypt('', KEY)).toBe('');
  });

  it('refuses a key of the wrong size', () => {
    expect(() => encrypt('abc', 'short')).toThrow('Invalid encrypt key size : 40 bits!');
  });
});

describe('encryptKeyProblem', () => {
  it.each(['1234567890123456', '123456789012345678901234', KEY, 'ééééééćć'])(
    'accepts %j',
    (key) => {
      expect(encryptKeyProblem(key)).toBeUndefined();
    },
  );

  it.each([
    ['', 0],
    ['123456789012345', 120],
    ['12345678901234567', 136],
    ['é'.repeat(10), 160],
    ['x'.repeat(33), 264],
  ])('reports %j as %i bits of UTF-8', (key, bits) => {
    expect(encryptKeyProblem(key)).toBe(
      `Invalid encrypt key size : ${bits} bits! Please provide key sizes of 128, 192 or 256 bits.`,
    );
  });
});
