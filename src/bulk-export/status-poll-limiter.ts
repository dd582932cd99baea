import { Injectable } from '@nestjs/common';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { AppConfig } from '../config/app-config';

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full (idle) ones are dropped. */
const MAX_BUCKETS = 10_000;

/**
 * Bounds how fast one client polls one export (Bulk Data IG, "Bulk Data Status Request": a
 * server may answer 429 to a client polling too often): a token bucket of
 * EXPORT_STATUS_POLLS_PER_SECOND, twice that in a burst, per client and export, in this
 * process. A client that honours Retry-After never comes near it.
 */
@Injectable()
export class StatusPollLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly capacity: number;

  constructor(config: AppConfig) {
    this.rate = config.EXPORT_STATUS_POLLS_PER_SECOND;
    this.capacity = 2 * this.rate;
  }

  /** Takes one poll for `clientId` on `exportId`; 429 with Retry-After when none is left. */
  take(clientId: string, exportId: string, now = Date.now()): void {
    const key = `${clientId}\n${exportId}`;
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, at: now };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + ((now - bucket.at) * this.rate) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      throw new FhirException(
        FhirErrorCode.TooManyRequests,
        `Export ${exportId} is polled more than ${this.rate} times a second; honour Retry-After`,
        { headers: { 'Retry-After': '1' } },
      );
    }
    bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_BUCKETS) this.dropIdle(now);
  }

  /** Forgets buckets that have refilled: they hold nothing a fresh one would not. */
  private dropIdle(now: number): void {
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((now - bucket.at) * this.rate) / 1000;
      if (tokens >= this.capacity) this.buckets.delete(key);
    }
  }
}
