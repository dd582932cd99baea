import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';

export const ROLES = ['api', 'worker', 'all'] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const EXPORT_STORAGE_KINDS = ['azure', 'filesystem'] as const;
export type ExportStorageKind = (typeof EXPORT_STORAGE_KINDS)[number];

export const EXPORT_FILE_URL_MODES = ['proxy', 'sas'] as const;
export type ExportFileUrlMode = (typeof EXPORT_FILE_URL_MODES)[number];

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

const toNumber = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))
    ? Number(value)
    : value;

const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value;

/**
 * Every setting the server reads from the environment, with its default.
 * Read once at start by {@link loadConfig}; nothing else reads `process.env`.
 */
export class AppConfig {
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'must be a postgres:// URL' })
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/fhir';

  @Matches(/^rediss?:\/\/.+/, { message: 'must be a redis:// URL' })
  REDIS_URL = 'redis://127.0.0.1:6379';

  /**
   * How long a request waits for PostgreSQL to give it a connection, or for Redis to take an
   * export job, before it answers 503 with Retry-After instead of hanging through an outage.
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  DEPENDENCY_TIMEOUT_MS = 5000;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 8080;

  @IsIn(ROLES)
  ROLE: Role = 'all';

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  /** Unset: the server starts an embedded Azurite from its own dependencies (laptops, demos). */
  @IsOptional()
  @IsString()
  @Matches(/(UseDevelopmentStorage=true|AccountName=|BlobEndpoint=)/, {
    message: 'must be an Azure Storage connection string',
  })
  AZURE_STORAGE_CONNECTION_STRING?: string;

  /**
   * The storage account's blob endpoint (`https://<account>.blob.core.windows.net`), reached with
   * Microsoft Entra ID credentials (DefaultAzureCredential: managed identity, workload identity,
   * environment, Azure CLI) instead of a connection string.
   */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['https', 'http'] })
  AZURE_STORAGE_ACCOUNT_URL?: string;

  /** Where the embedded Azurite keeps its data when it is used. */
  @IsString()
  AZURITE_LOCATION = '.azurite';

  @IsIn(EXPORT_STORAGE_KINDS)
  EXPORT_STORAGE: ExportStorageKind = 'azure';

  /** Attempts per storage request (exponential backoff between them) before the run retries. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  STORAGE_MAX_TRIES = 6;

  /** First backoff delay between storage attempts, doubling on each retry. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  STORAGE_RETRY_DELAY_MS = 500;

  /**
   * Limit of one storage write (its STORAGE_MAX_TRIES attempts included); one that has not
   * finished by then fails and the export retries from its checkpoint, so a storage that
   * accepts connections but never answers cannot hold an export.
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  STORAGE_REQUEST_TIMEOUT_MS = 120_000;

  /** Root directory of the filesystem export sink. */
  @IsString()
  EXPORT_FILESYSTEM_ROOT = '.export-data';

  @Transform(toNumber)
  @Min(0.001)
  @Max(4096)
  EXPORT_FILE_MAX_MB = 64;

  /** Resources read from PostgreSQL per keyset page of an export, at most. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  EXPORT_PAGE_SIZE = 2000;

  /**
   * About how much NDJSON (MB) one page of an export holds: each type's next page asks for as
   * many resources as fit at the sizes seen so far (never more than EXPORT_PAGE_SIZE). A worker
   * holds a few pages at once, so this, not the resource count, bounds its memory: 2000
   * Provenance resources are ~50 MB, 2000 Observations ~2 MB. (With `_elements` the size is
   * the subset's, so the rows read for a page may be larger.)
   */
  @Transform(toNumber)
  @Min(0.001)
  @Max(1024)
  EXPORT_PAGE_MB = 4;

  /**
   * How much output (MB) an export writes between two durable checkpoints: what a resumed run
   * may write again. Each checkpoint waits for storage to make its bytes durable (an fsync,
   * a block-list commit), so small values slow every export down.
   */
  @Transform(toNumber)
  @Min(0.001)
  @Max(1024)
  EXPORT_CHECKPOINT_MB = 64;

  /** How long an export waits for transactions open at its kick-off before it fails. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  EXPORT_MAX_WRITE_WAIT_MS = 600_000;

  /** Export jobs one worker process runs at once. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  EXPORT_WORKER_CONCURRENCY = 1;

  /**
   * How long a worker's lock on a job lasts without renewal; a killed worker's job is
   * handed to another worker (and resumed from its checkpoint) this long after it died.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  EXPORT_LOCK_MS = 30_000;

  /**
   * How often each worker looks for unfinished exports that have no queue entry (an API that
   * died between the insert and the enqueue, a flushed Redis) and enqueues them again, so no
   * export waits at 202 for a worker restart.
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  EXPORT_REQUEUE_INTERVAL_MS = 60_000;

  /**
   * How long a run keeps retrying, from its last checkpoint, when PostgreSQL or storage
   * fails in a way that can pass (a dropped connection, a 503, a timeout). The clock restarts
   * whenever a retry makes durable progress; when it runs out the export fails, naming what
   * failed.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  EXPORT_RETRY_FOR_MS = 600_000;

  /** First wait before a retry; each next one doubles, up to EXPORT_RETRY_MAX_DELAY_MS. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  EXPORT_RETRY_DELAY_MS = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(10)
  EXPORT_RETRY_MAX_DELAY_MS = 30_000;

  /**
   * A running export whose worker holds its lock but has not touched its row for this long (a
   * worker hung in a call that never returns) is failed with the reason. Runs touch their row
   * at least every few seconds, and retry windows (EXPORT_RETRY_FOR_MS) should stay below it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  EXPORT_STALE_MS = 900_000;

  /**
   * On SIGTERM a worker checkpoints and releases the exports it runs, for another worker to
   * resume at once; what has not released within this bound is left to the lock to expire.
   * The API gives in-flight requests the same bound. Keep it below the platform's grace period
   * (Kubernetes: 30 s).
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  SHUTDOWN_TIMEOUT_MS = 20_000;

  /**
   * How long a finished, failed or cancelled export's files and status stay; then they are
   * purged and its status answers 404. The manifest's `Expires` says when. Fractions allowed.
   */
  @Transform(toNumber)
  @Min(0.0001)
  @Max(1_000_000)
  EXPORT_RETENTION_HOURS = 24;

  /** How often the purge of expired exports runs (once per interval across all workers). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  EXPORT_RETENTION_SWEEP_MS = 600_000;

  @IsIn(EXPORT_FILE_URL_MODES)
  EXPORT_FILE_URLS: ExportFileUrlMode = 'proxy';

  /** Public base URL of the server (no trailing slash); else derived from each request. */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true })
  PUBLIC_BASE_URL?: string;

  /**
   * Which proxies may set X-Forwarded-* (Express `trust proxy`): `loopback` by default, so a
   * client cannot choose the host of Content-Location and manifest URLs; `true`, a hop count
   * or a list of addresses behind a load balancer. PUBLIC_BASE_URL overrides both.
   */
  @IsString()
  @Matches(/^[A-Za-z0-9.:/,\s_-]+$/)
  TRUST_PROXY = 'loopback';

  /** Largest accepted request body. */
  @IsString()
  @Matches(/^\d+(b|kb|mb|gb)$/i, { message: 'must look like 50mb' })
  MAX_BODY_SIZE = '50mb';

  /** Prefix of BullMQ keys in Redis, so several deployments (or test runs) can share one Redis. */
  @IsString()
  @Matches(/^[A-Za-z0-9:_-]+$/)
  QUEUE_PREFIX = 'fhir';

  /** Operator credentials for Bull Board at /admin/queues ("user:password"). Unset: board disabled. */
  @IsOptional()
  @Matches(/^[^:]+:.+$/, { message: 'must be user:password' })
  ADMIN_CREDENTIALS?: string;

  /**
   * The key the server signs its access tokens with: a private JWK (EC P-384 for ES384, RSA for
   * RS384), a JWK Set of them (the first signs, all verify: add the next key first, drop the
   * old one once its tokens have expired), or a PKCS#8 PEM. Unset: a key is generated at start
   * with a warning, and tokens do not survive a restart or work across API processes.
   */
  @IsOptional()
  @IsString()
  AUTH_SIGNING_KEY?: string;

  /** Lifetime of an access token, in seconds (SMART Backend Services: at most five minutes). */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(300)
  AUTH_TOKEN_LIFETIME_S = 300;

  /** Lets clients register an http JWKS URL on a loopback address (local testing only). */
  @Transform(toBoolean)
  @IsBoolean()
  AUTH_ALLOW_LOOPBACK_JWKS = false;

  /**
   * Whether every FHIR, search and export call needs a bearer token (SMART Backend Services).
   * `false` is for local experiments only: every caller acts with full access, the server warns
   * at start and the CapabilityStatement says so.
   */
  @Transform(toBoolean)
  @IsBoolean()
  AUTH_REQUIRED = true;

  /**
   * Seals the keys an anonymized export makes up for itself into its job row (any string of
   * 16 characters or more; the same on every API and worker process). Unset: a secret made up
   * at start, with a warning, so anonymized exports do not survive a restart or move between
   * processes.
   */
  @IsOptional()
  @IsString()
  @MinLength(16)
  EXPORT_KEY_ENCRYPTION_KEY?: string;

  /** Unfinished exports a client may have at once unless its registration says otherwise. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  EXPORT_MAX_CONCURRENT_PER_CLIENT = 5;

  /**
   * Status polls one client may make of one export per second (twice that in a burst); beyond
   * it a poll answers 429 with Retry-After. A client honouring Retry-After polls far less.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  EXPORT_STATUS_POLLS_PER_SECOND = 20;

  /** How long fetching a client's JWKS URL may take before the token request fails. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  AUTH_JWKS_TIMEOUT_MS = 5000;
}

export class ConfigError extends Error {}

/** Builds the validated configuration from an environment; throws naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const known = Object.keys(new AppConfig());
  const optional = [
    'AZURE_STORAGE_CONNECTION_STRING',
    'AZURE_STORAGE_ACCOUNT_URL',
    'PUBLIC_BASE_URL',
    'ADMIN_CREDENTIALS',
    'AUTH_SIGNING_KEY',
    'EXPORT_KEY_ENCRYPTION_KEY',
  ] as const;
  const raw: Record<string, string> = {};
  for (const key of [...known, ...optional]) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(AppConfig, raw);
  const errors = validateSync(config, { skipMissingProperties: false });
  const problems = errors.map((e) => {
    const value = JSON.stringify(e.value);
    const reasons = Object.values(e.constraints ?? {}).join('; ');
    return `${e.property}=${value}: ${reasons}`;
  });
  if (config.EXPORT_FILE_URLS === 'sas' && config.EXPORT_STORAGE !== 'azure') {
    problems.push('EXPORT_FILE_URLS=sas: SAS links need EXPORT_STORAGE=azure');
  }
  if (
    config.EXPORT_STORAGE === 'azure' &&
    config.ROLE !== 'all' &&
    !config.AZURE_STORAGE_CONNECTION_STRING &&
    !config.AZURE_STORAGE_ACCOUNT_URL
  ) {
    problems.push(
      `AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL: required when ROLE=${config.ROLE}, so that api and worker processes share one storage account (only ROLE=all starts an embedded Azurite)`,
    );
  }
  if (config.AZURE_STORAGE_CONNECTION_STRING && config.AZURE_STORAGE_ACCOUNT_URL) {
    problems.push(
      'AZURE_STORAGE_ACCOUNT_URL: give it or AZURE_STORAGE_CONNECTION_STRING, not both',
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  if (config.PUBLIC_BASE_URL) config.PUBLIC_BASE_URL = config.PUBLIC_BASE_URL.replace(/\/+$/, '');
  return config;
}
