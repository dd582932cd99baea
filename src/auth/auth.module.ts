import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BearerTokenGuard } from './access/bearer-token.guard';
import { AuditEventEntity } from './audit/audit-event.entity';
import { AuditLog } from './audit/audit-log.service';
import { AuditController } from './audit/audit.controller';
import { TOKEN_PATH } from './auth-paths';
import { AdminClientsController } from './clients/admin-clients.controller';
import { AuthClientEntity } from './clients/auth-client.entity';
import { ClientRegistry } from './clients/client-registry.service';
import { OperatorGuard } from './clients/operator.guard';
import { AuthCapabilities } from './discovery/auth-capabilities.service';
import { SmartConfigurationController } from './discovery/smart-configuration.controller';
import { AccessTokenIssuer } from './token/access-token.service';
import { ClientAssertionVerifier } from './token/client-assertion.service';
import { JwksFetcher } from './token/jwks-fetcher.service';
import { ReplayStore } from './token/replay-store.service';
import { ServerKeys } from './token/server-keys.service';
import { tokenFormBody } from './token/token-form-body';
import { TokenController } from './token/token.controller';
import { TokenService } from './token/token.service';
import { TokenVerifier } from './token/token-verifier.service';

/**
 * SMART Backend Services authorization (API processes): discovery, the client registry and
 * its admin API, the token endpoint, and the global bearer-token guard in front of every
 * other route.
 */
@Module({
  imports: [TypeOrmModule.forFeature([AuthClientEntity, AuditEventEntity])],
  controllers: [
    SmartConfigurationController,
    TokenController,
    AdminClientsController,
    AuditController,
  ],
  providers: [
    { provide: APP_GUARD, useClass: BearerTokenGuard },
    ClientRegistry,
    AuditLog,
    OperatorGuard,
    AuthCapabilities,
    ServerKeys,
    AccessTokenIssuer,
    ClientAssertionVerifier,
    JwksFetcher,
    ReplayStore,
    TokenService,
    TokenVerifier,
  ],
  exports: [TokenVerifier, ClientRegistry, AuditLog],
})
export class AuthModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(tokenFormBody).forRoutes({ path: TOKEN_PATH, method: RequestMethod.POST });
  }
}
