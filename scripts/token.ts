import { CLIENT_ASSERTION_TYPE } from '../src/auth/token/token.service';
import { loadConfig } from '../src/config/app-config';
import { CliError, readArguments, runCommand } from './cli-arguments';
import { defaultKeyFile, PrivateKey, readPrivateKey, signClientAssertion } from './client-key';

const USAGE = `usage: npm run --silent token -- <client_id> [--key-file PATH] [--scope SCOPES] [--url BASE_URL] [--json]
  gets an access token by SMART Backend Services client credentials and prints it
  (--json: the whole token response), so that TOKEN=$(npm run --silent token -- my-client) works
  --key-file  the client's private JWK (default ./<client_id>.private.jwk.json)
  --scope     the space-separated scopes to ask for (default "system/*.read")
  --url       the server's base URL (default PUBLIC_BASE_URL, else http://localhost:PORT)`;

export interface TokenOptions {
  clientId: string;
  keyFile: string;
  scope: string;
  baseUrl: string;
  json: boolean;
}

/** An error whose message is all the user needs (no stack trace). */
/**
 * Reads `npm run token -- …` arguments; `undefined` for `--help`. `defaultBaseUrl` is used
 * when `--url` is not given.
 */
export function parseTokenArguments(
  argv: readonly string[],
  defaultBaseUrl: () => string,
): TokenOptions | undefined {
  if (argv.includes('--help') || argv.includes('-h')) return undefined;
  const [clientId, ...rest] = argv;
  if (clientId === undefined || clientId.startsWith('--')) {
    throw new CliError(`the client_id comes first\n${USAGE}`);
  }
  const json = rest.includes('--json');
  let args;
  try {
    args = readArguments(
      rest.filter((arg) => arg !== '--json'),
      ['--key-file', '--scope', '--url'],
      USAGE,
    );
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return {
    clientId,
    keyFile: args.text('--key-file') ?? defaultKeyFile(clientId),
    scope: args.text('--scope') ?? 'system/*.read',
    baseUrl: (args.text('--url') ?? defaultBaseUrl()).replace(/\/+$/, ''),
    json,
  };
}

async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { Accept: 'application/json', ...init?.headers } });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new CliError(`cannot reach ${url}: ${cause ?? (error as Error).message}`);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    throw new CliError(`${url} answered ${res.status} with no JSON: ${text.slice(0, 200)}`);
  }
}

/** The token endpoint, from SMART discovery (`[base]/.well-known/smart-configuration`). */
async function tokenEndpointOf(baseUrl: string): Promise<string> {
  const url = `${baseUrl}/.well-known/smart-configuration`;
  const { status, body } = await getJson(url);
  if (status !== 200 || typeof body.token_endpoint !== 'string') {
    throw new CliError(`${url} answered ${status} without a token_endpoint`);
  }
  return body.token_endpoint;
}

/**
 * SMART Backend Services "Obtaining an access token": a client_credentials request
 * authenticated by a signed client assertion. Returns the token response; throws with the
 * server's `error` and `error_description` when it refuses.
 */
export async function requestToken(
  options: Pick<TokenOptions, 'clientId' | 'scope' | 'baseUrl'>,
  key: PrivateKey,
): Promise<Record<string, unknown>> {
  const tokenEndpoint = await tokenEndpointOf(options.baseUrl);
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await signClientAssertion(options.clientId, key, tokenEndpoint),
    scope: options.scope,
  });
  const { status, body } = await getJson(tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  if (status !== 200 || typeof body.access_token !== 'string') {
    const error = typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    const description =
      typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
    throw new CliError(`${error}${description}`);
  }
  return body;
}

async function main(): Promise<void> {
  const options = parseTokenArguments(process.argv.slice(2), () => {
    const config = loadConfig();
    return config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`;
  });
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const key = await readPrivateKey(options.keyFile).catch((error: Error) => {
    throw new CliError(error.message);
  });
  const response = await requestToken(options, key);
  process.stdout.write(
    options.json ? `${JSON.stringify(response, null, 2)}\n` : `${String(response.access_token)}\n`,
  );
}

if (require.main === module) runCommand('token', main);
