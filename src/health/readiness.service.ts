import { Injectable } from '@nestjs/common';
import {
  HealthIndicatorFunction,
  HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { ExportSink } from '../bulk-export/storage/export-sink';
import { RedisHealthIndicator } from './redis.health';

const TIMEOUT_MS = 1500;

/**
 * The checks `/health/ready` runs: the database, Redis and the export storage, plus whatever
 * other modules register, so readiness grows with the dependencies.
 */
@Injectable()
export class ReadinessService {
  private readonly extra: HealthIndicatorFunction[] = [];

  constructor(
    private readonly database: TypeOrmHealthIndicator,
    private readonly redis: RedisHealthIndicator,
    private readonly sink: ExportSink,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** Adds a check; it should resolve within a couple of seconds, `down` or not. */
  register(check: HealthIndicatorFunction): void {
    this.extra.push(check);
  }

  checks(): HealthIndicatorFunction[] {
    return [
      () => this.database.pingCheck('database', { timeout: TIMEOUT_MS }),
      () => this.redis.pingCheck('redis'),
      () => this.storageCheck(),
      ...this.extra,
    ];
  }

  private async storageCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('storage');
    try {
      await this.sink.ping(TIMEOUT_MS);
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: error instanceof Error ? error.message : String(error) });
    }
  }
}
