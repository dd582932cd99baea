import { Global, Module } from '@nestjs/common';
import { CapabilityStatementService } from './capability-statement.service';
import { MetadataController } from './metadata.controller';

/**
 * `/metadata`. Global so any module can inject {@link CapabilityStatementService} and
 * register a contributor without importing this module.
 */
@Global()
@Module({
  controllers: [MetadataController],
  providers: [CapabilityStatementService],
  exports: [CapabilityStatementService],
})
export class MetadataModule {}
