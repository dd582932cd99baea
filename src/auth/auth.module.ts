import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
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
 * its admin API, and the token endpoint. Exports {@link TokenVerifier} and
 * {@link ClientRegistry} for the access checks that build on it.
 */
@Module({
  imports: [TypeOrmModule.forFeature([AuthClientEntity])],
  controllers: [SmartConfigurationController, TokenController, AdminClientsController],
  providers: [
    ClientRegistry,
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
  exports: [TokenVerifier, ClientRegistry],
})
export class AuthModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(tokenFormBody).forRoutes({ path: TOKEN_PATH, method: RequestMethod.POST });
  }
}
