import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { Public } from '../common/public-route';
import { ReadinessService } from './readiness.service';
import { ApiLiveness, ApiReadiness } from '../openapi/health-api.decorators';

/** Liveness and readiness probes (Kubernetes style: live = process up, ready = dependencies up). */
@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly readiness: ReadinessService,
  ) {}

  @Get('live')
  @ApiLiveness()
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** 200 with each dependency's state; 503 OperationOutcome naming the ones that are down. */
  @Get('ready')
  @ApiReadiness()
  @HealthCheck()
  async ready(): Promise<HealthCheckResult> {
    try {
      return await this.health.check(this.readiness.checks());
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as HealthCheckResult;
      const down = Object.entries(result.error ?? {}).map(([name, detail]) => {
        const message = (detail as { message?: unknown }).message;
        return typeof message === 'string' ? `${name} (${message})` : name;
      });
      throw new FhirException(FhirErrorCode.Unavailable, `Not ready: ${down.join(', ')} down`);
    }
  }
}
