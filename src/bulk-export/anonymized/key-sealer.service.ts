import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { AnonymizationKeys } from '../../anonymization/anonymization-engine';
import { AppConfig } from '../../config/app-config';
import { openKeys, sealKeys } from './sealed-keys';

/** Seals and opens anonymized exports' keys with EXPORT_KEY_ENCRYPTION_KEY (see sealed-keys). */
@Injectable()
export class KeySealer {
  private generated: string | undefined;

  constructor(private readonly config: AppConfig) {}

  seal(keys: AnonymizationKeys): string {
    return sealKeys(keys, this.secret());
  }

  open(sealed: string): AnonymizationKeys {
    return openKeys(sealed, this.secret());
  }

  private secret(): string {
    if (this.config.EXPORT_KEY_ENCRYPTION_KEY) return this.config.EXPORT_KEY_ENCRYPTION_KEY;
    if (!this.generated) {
      this.generated = randomBytes(32).toString('hex');
      new Logger(KeySealer.name).warn(
        'EXPORT_KEY_ENCRYPTION_KEY unset: anonymized exports seal their keys with a secret made up at start; they cannot resume after a restart or in another process',
      );
    }
    return this.generated;
  }
}
