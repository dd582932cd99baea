import { Injectable } from '@nestjs/common';
import { HealthIndicatorFunction, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { RedisHealthIndicator } from './redis.health';

const DATABASE_TIMEOUT_MS = 1500;

/**
 * The checks `/health/ready` runs: the database and Redis, plus whatever other modules
 * register (e.g. the export storage), so readiness grows with the dependencies.
 */
@Injectable()
export class ReadinessService {
  private readonly extra: HealthIndicatorFunction[] = [];

  constructor(
    private readonly database: TypeOrmHealthIndicator,
    private readonly redis: RedisHealthIndicator,
  ) {}

  /** Adds a check; it should resolve within a couple of seconds, `down` or not. */
  register(check: HealthIndicatorFunction): void {
    this.extra.push(check);
  }

  checks(): HealthIndicatorFunction[] {
    return [
      () => this.database.pingCheck('database', { timeout: DATABASE_TIMEOUT_MS }),
      () => this.redis.pingCheck('redis'),
      ...this.extra,
    ];
  }
}
