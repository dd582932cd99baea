import { Injectable, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { redisConnection } from '../../common/redis-connection';
import { AppConfig } from '../../config/app-config';

/**
 * Remembers the `jti` of every accepted client assertion until it expires (RFC 7523 3,
 * item 7; SMART Backend Services), in Redis so every API process sees it: SET NX with the
 * assertion's remaining lifetime.
 */
@Injectable()
export class ReplayStore implements OnModuleDestroy {
  private readonly client: Redis;
  private readonly prefix: string;

  constructor(config: AppConfig) {
    this.prefix = `${config.QUEUE_PREFIX}:auth:jti:`;
    this.client = new Redis({
      ...redisConnection(config.REDIS_URL),
      lazyConnect: true,
      connectTimeout: config.DEPENDENCY_TIMEOUT_MS,
      commandTimeout: config.DEPENDENCY_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
    });
    // Failures surface on the command that needs Redis; without a listener ioredis logs each.
    this.client.on('error', () => undefined);
  }

  /** True when this jti of this client was not seen before (and is now remembered until `expiresAt`). */
  async claim(clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    const ttl = Math.max(1000, expiresAt.getTime() - Date.now());
    const key = `${this.prefix}${encodeURIComponent(clientId)}:${encodeURIComponent(jti)}`;
    const result = await this.client.set(key, '1', 'PX', ttl, 'NX');
    return result === 'OK';
  }

  onModuleDestroy(): void {
    this.client.disconnect();
  }
}
