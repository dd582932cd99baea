/** Where the token endpoint is, under the service base URL. */
export const TOKEN_PATH = 'auth/token';

/** The token endpoint's absolute URL for a service base URL (no trailing slash). */
export function tokenUrlOf(baseUrl: string): string {
  return `${baseUrl}/${TOKEN_PATH}`;
}
