import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import Redis from 'ioredis';
import { redisConnection } from '../common/redis-connection';
import { AppConfig } from '../config/app-config';

const TIMEOUT_MS = 1500;

/**
 * Terminus indicator: up when Redis at REDIS_URL answers PING. Its own connection, opened on
 * the first probe and never retried in the background: a probe that finds it closed reopens it.
 */
@Injectable()
export class RedisHealthIndicator implements OnModuleDestroy {
  private readonly client: Redis;

  constructor(
    private readonly indicators: HealthIndicatorService,
    config: AppConfig,
  ) {
    this.client = new Redis({
      ...redisConnection(config.REDIS_URL),
      lazyConnect: true,
      connectTimeout: TIMEOUT_MS,
      commandTimeout: TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Failures are reported by the probe; without a listener ioredis would log each one.
    this.client.on('error', (error: Error) => {
      this.lastError = error;
    });
  }

  /** The socket error behind a failed connect, which ioredis only reports as "Connection is closed". */
  private lastError?: Error;

  async pingCheck(key: string): Promise<HealthIndicatorResult> {
    const check = this.indicators.check(key);
    this.lastError = undefined;
    try {
      if (this.client.status === 'wait' || this.client.status === 'end') {
        await this.client.connect();
      }
      await this.client.ping();
      return check.up();
    } catch (error) {
      const cause = this.lastError ?? error;
      return check.down({ message: cause instanceof Error ? cause.message : String(cause) });
    }
  }

  onModuleDestroy(): void {
    // Disconnecting an ended client would arm ioredis' disconnect timer for a socket already closed.
    if (this.client.status !== 'end' && this.client.status !== 'wait') this.client.disconnect();
  }
}
