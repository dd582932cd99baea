import { Controller, Get, INestApplication, Param } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { buildOpenApiDocument } from './openapi';

@Controller()
class DollarRoutesController {
  @Get('\\$export')
  system(): void {}

  @Get('Group/:id/\\$export')
  group(@Param('id') _id: string): void {}
}

@Controller('a')
class FirstController {
  @Get()
  @ApiOperation({ operationId: 'same' })
  first(): void {}
}

@Controller('b')
class SecondController {
  @Get()
  @ApiOperation({ operationId: 'same' })
  second(): void {}
}

async function appWith(...controllers: (new (...args: never[]) => unknown)[]) {
  const moduleRef = await Test.createTestingModule({ controllers }).compile();
  return moduleRef.createNestApplication({ logger: false });
}

describe('buildOpenApiDocument', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('writes $export paths with a literal $, not the escape Express routes need', async () => {
    app = await appWith(DollarRoutesController);
    await app.init();
    expect(Object.keys(buildOpenApiDocument(app).paths)).toEqual([
      '/$export',
      '/Group/{id}/$export',
    ]);
  });

  it('refuses two operations with one operationId, which generated clients cannot tell apart', async () => {
    const twins = await appWith(FirstController, SecondController);
    app = twins;
    await twins.init();
    expect(() => buildOpenApiDocument(twins)).toThrow(
      'operationId same is used by both GET /a and GET /b',
    );
  });
});
