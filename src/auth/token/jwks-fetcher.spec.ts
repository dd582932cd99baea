import { isLoopback, jwksUrlProblem } from '../clients/client-metadata';
import { cacheSeconds } from './jwks-fetcher.service';

describe('cacheSeconds', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('follows max-age, capped at a day', () => {
    expect(cacheSeconds('public, max-age=120', null, now)).toBe(120);
    expect(cacheSeconds('max-age=999999', null, now)).toBe(86_400);
  });

  it('does not cache no-store or no-cache responses', () => {
    expect(cacheSeconds('no-store', null, now)).toBe(0);
    expect(cacheSeconds('no-cache, max-age=60', null, now)).toBe(0);
  });

  it('falls back to Expires, then to five minutes', () => {
    expect(cacheSeconds(null, 'Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60);
    expect(cacheSeconds(null, 'Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(cacheSeconds(null, null, now)).toBe(300);
  });
});

describe('jwksUrlProblem', () => {
  it('takes https URLs', () => {
    expect(jwksUrlProblem('https://client.example/jwks', false)).toBeUndefined();
  });

  it('takes http on loopback only when allowed', () => {
    expect(jwksUrlProblem('http://127.0.0.1:8080/jwks', true)).toBeUndefined();
    expect(jwksUrlProblem('http://[::1]/jwks', true)).toBeUndefined();
    expect(jwksUrlProblem('http://localhost/jwks', true)).toBeUndefined();
    expect(jwksUrlProblem('http://127.0.0.1:8080/jwks', false)).toMatch(/https/);
    expect(jwksUrlProblem('http://10.0.0.1/jwks', true)).toMatch(/loopback/);
  });

  it('refuses other schemes, credentials and non-URLs', () => {
    expect(jwksUrlProblem('file:///etc/passwd', true)).toMatch(/https/);
    expect(jwksUrlProblem('https://u:p@client.example/jwks', false)).toMatch(/credentials/);
    expect(jwksUrlProblem('jwks.json', false)).toMatch(/not an absolute URL/);
  });

  it('knows loopback hosts', () => {
    expect(isLoopback('127.1.2.3')).toBe(true);
    expect(isLoopback('128.0.0.1')).toBe(false);
    expect(isLoopback('localhost.evil.test')).toBe(false);
  });
});
