import 'reflect-metadata';
import { rm } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { AuthClientEntity } from '../src/auth/clients/auth-client.entity';
import { ClientMetadataError, parseClientMetadata } from '../src/auth/clients/client-metadata';
import { ClientRegistry, RegisteredClient } from '../src/auth/clients/client-registry.service';
import { AppConfig, loadConfig } from '../src/config/app-config';
import { dataSourceOptions } from '../src/database/data-source-options';
import { migrate } from '../src/database/migrate';
import { FhirDefinitions } from '../src/fhir/fhir-definitions.service';
import { CliError, readArguments, runCommand } from './cli-arguments';
import { defaultKeyFile, generateClientKey, writePrivateKey } from './client-key';

const USAGE = `usage: npm run client -- <command>
  register <client_id> --scope "system/*.read" [--containers a,b] [--max-concurrent-exports N] [--key-file PATH]
      generates an ES384 key pair, writes its private JWK to PATH (default ./<client_id>.private.jwk.json,
      mode 0600, never overwritten) and registers the client with the public key
  list                  every client, one per line
  revoke <client_id>    refuses the client's assertions and access tokens from now on
The registry is the database at DATABASE_URL.`;

export type ClientCommand =
  | { command: 'help' }
  | { command: 'list' }
  | { command: 'revoke'; clientId: string }
  | {
      command: 'register';
      clientId: string;
      scope: string;
      containers?: string[];
      maxConcurrentExports: number | null;
      keyFile: string;
    };

/** An error whose message is all the operator needs (no stack trace). */
/** Reads `npm run client -- …` arguments; throws a {@link CliError} with the usage when they do not fit. */
export function parseClientArguments(argv: readonly string[]): ClientCommand {
  if (argv.includes('--help') || argv.includes('-h')) return { command: 'help' };
  const [command, ...rest] = argv;
  const clientId = rest[0] !== undefined && !rest[0].startsWith('--') ? rest.shift() : undefined;
  const noClientId = (): void => {
    if (clientId !== undefined) throw new CliError(`unexpected argument "${clientId}"\n${USAGE}`);
  };
  const needClientId = (): string => {
    if (clientId === undefined) throw new CliError(`${command} needs a client_id\n${USAGE}`);
    return clientId;
  };
  try {
    switch (command) {
      case 'list':
        noClientId();
        readArguments(rest, [], USAGE);
        return { command };
      case 'revoke':
        readArguments(rest, [], USAGE);
        return { command, clientId: needClientId() };
      case 'register': {
        const id = needClientId();
        const options = ['--scope', '--containers', '--max-concurrent-exports', '--key-file'];
        const args = readArguments(rest, options, USAGE);
        const scope = args.text('--scope');
        if (scope === undefined) throw new CliError(`--scope is required\n${USAGE}`);
        const containers = args.text('--containers');
        return {
          command,
          clientId: id,
          scope,
          containers: containers?.split(',').map((name) => name.trim()),
          maxConcurrentExports:
            args.text('--max-concurrent-exports') === undefined
              ? null
              : args.integer('--max-concurrent-exports'),
          keyFile: args.text('--key-file') ?? defaultKeyFile(id),
        };
      }
      default:
        throw new CliError(
          command === undefined
            ? `a command is needed\n${USAGE}`
            : `unknown command "${command}"\n${USAGE}`,
        );
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError((error as Error).message);
  }
}

/** Opens the client registry on the configured database for the length of `use`. */
async function withRegistry<T>(
  config: AppConfig,
  use: (registry: ClientRegistry) => Promise<T>,
): Promise<T> {
  await migrate(config);
  const dataSource = new DataSource({ ...dataSourceOptions(config), entities: [AuthClientEntity] });
  await dataSource.initialize();
  try {
    return await use(new ClientRegistry(dataSource.getRepository(AuthClientEntity)));
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Registers a SMART Backend Services client with a new ES384 key, as the admin API's
 * `POST /admin/clients` would (same validation, same registry); the private key stays in
 * `keyFile` only, which is removed again when the registration fails.
 */
async function register(
  options: Extract<ClientCommand, { command: 'register' }>,
  config: AppConfig,
): Promise<string> {
  const { privateJwk, publicJwk } = await generateClientKey();
  let metadata;
  try {
    metadata = parseClientMetadata(
      {
        client_id: options.clientId,
        jwks: { keys: [publicJwk] },
        scope: options.scope,
        ...(options.containers ? { containers: options.containers } : {}),
        max_concurrent_exports: options.maxConcurrentExports,
      },
      {
        isResourceType: (type) => new FhirDefinitions().isResourceType(type),
        allowLoopbackJwks: config.AUTH_ALLOW_LOOPBACK_JWKS,
      },
    );
  } catch (error) {
    if (error instanceof ClientMetadataError) throw new CliError(error.message);
    throw error;
  }
  try {
    await writePrivateKey(options.keyFile, privateJwk);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
    throw new CliError(`${options.keyFile} already exists; refusing to overwrite a private key`);
  }
  try {
    const result = await withRegistry(config, (registry) => registry.register(metadata));
    if ('conflict' in result) {
      throw new CliError(
        `client_id ${options.clientId} ${result.conflict === 'revoked' ? 'was revoked and cannot be reused' : 'is already registered'}`,
      );
    }
    const client = result.created;
    return [
      `registered client ${client.client_id}`,
      `  scope: ${client.scope}`,
      `  containers: ${client.containers.join(', ') || '(none)'}`,
      `  max concurrent exports: ${client.max_concurrent_exports ?? '(server default)'}`,
      `  key: ES384, kid ${String(publicJwk.kid)}`,
      `  private key: ${options.keyFile} (the only copy; keep it secret)`,
    ].join('\n');
  } catch (error) {
    await rm(options.keyFile, { force: true });
    throw error;
  }
}

/** One line of `list`. */
export function describeClient(client: RegisteredClient): string {
  return [
    client.client_id,
    client.revoked_at ? `revoked ${client.revoked_at}` : 'active',
    `scope="${client.scope}"`,
    `containers=${client.containers.join(',') || '-'}`,
    `max_concurrent_exports=${client.max_concurrent_exports ?? '-'}`,
  ].join('  ');
}

async function main(): Promise<void> {
  const options = parseClientArguments(process.argv.slice(2));
  if (options.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig();
  switch (options.command) {
    case 'register':
      process.stdout.write(`${await register(options, config)}\n`);
      return;
    case 'list': {
      const clients = await withRegistry(config, (registry) => registry.list());
      for (const client of clients) process.stdout.write(`${describeClient(client)}\n`);
      return;
    }
    case 'revoke':
      if (!(await withRegistry(config, (registry) => registry.revoke(options.clientId)))) {
        throw new CliError(`no active client ${options.clientId}`);
      }
      process.stdout.write(`revoked client ${options.clientId}\n`);
      return;
  }
}

if (require.main === module) runCommand('client', main);
