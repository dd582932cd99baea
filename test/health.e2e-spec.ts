import { HealthIndicatorService } from '@nestjs/terminus';
import Redis from 'ioredis';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/app-config';
import { RedisHealthIndicator } from '../src/health/redis.health';
import { useTestApp } from './support/test-app';

describe('health probes', () => {
  const t = useTestApp();

  const http = () => request(t.app.getHttpServer());

  it('answers /health/live with 200', async () => {
    const res = await http().get('/health/live').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers /health/ready with 200 when the database, Redis and the export storage answer', async () => {
    const res = await http().get('/health/ready').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.details).toMatchObject({
      database: { status: 'up' },
      redis: { status: 'up' },
      storage: { status: 'up' },
    });
  });

  it('answers /health/ready with 503 naming Redis when Redis does not answer', async () => {
    // Booting against an unreachable Redis would test the same path, but the queue clients
    // then keep the process alive for half a minute after close.
    jest.spyOn(Redis.prototype, 'ping').mockRejectedValue(new Error('connect ECONNREFUSED'));

    const res = await http().get('/health/ready').expect(503);

    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('transient');
    expect(res.body.issue[0].diagnostics).toBe('Not ready: redis (connect ECONNREFUSED) down');
  });

  it('answers /health/ready with 503 naming the database when it does not answer', async () => {
    const dataSource = t.app.get(DataSource);
    const query = dataSource.query.bind(dataSource);
    jest
      .spyOn(dataSource, 'query')
      .mockImplementation((sql: string, ...rest: unknown[]) =>
        sql === 'SELECT 1'
          ? Promise.reject(new Error('connection terminated'))
          : query(sql, ...(rest as [])),
      );

    const res = await http().get('/health/ready').expect(503);

    expect(res.body.issue[0].diagnostics).toMatch(/^Not ready: database.* down$/);
    await http().get('/health/live').expect(200);
  });
});

describe('health probes with export storage that does not answer', () => {
  // Nothing listens on port 1: the storage account is down, PostgreSQL and Redis are not.
  const t = useTestApp({
    AZURE_STORAGE_CONNECTION_STRING:
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
      'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
      'BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;',
    STORAGE_MAX_TRIES: '1',
  });

  it('answers /health/ready with 503 naming the storage, and stays live', async () => {
    const http = request(t.app.getHttpServer());
    const res = await http.get('/health/ready').expect(503);

    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('transient');
    expect(res.body.issue[0].diagnostics).toMatch(/^Not ready: storage .* down$/);
    await http.get('/health/live').expect(200);
  });
});

describe('RedisHealthIndicator', () => {
  it('reports Redis down with the socket error when nothing listens at REDIS_URL', async () => {
    const config = loadConfig({ ...process.env, REDIS_URL: 'redis://127.0.0.1:1' });
    const indicator = new RedisHealthIndicator(new HealthIndicatorService(), config);
    try {
      const result = await indicator.pingCheck('redis');
      expect(result.redis.status).toBe('down');
      expect(result.redis.message).toMatch(/ECONNREFUSED/);
    } finally {
      indicator.onModuleDestroy();
    }
  });
});
