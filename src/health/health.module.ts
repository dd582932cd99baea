import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ExportJobsModule } from '../bulk-export/export-jobs.module';
import { HealthController } from './health.controller';
import { ReadinessService } from './readiness.service';
import { RedisHealthIndicator } from './redis.health';

/** `/health/live` and `/health/ready`; import it to register more readiness checks. */
@Module({
  imports: [TerminusModule, ExportJobsModule],
  controllers: [HealthController],
  providers: [RedisHealthIndicator, ReadinessService],
  exports: [ReadinessService],
})
export class HealthModule {}
