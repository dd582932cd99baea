import { Logger } from '@nestjs/common';
import { getRepositoryToken } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource, Repository } from 'typeorm';
import { AuditEventEntity } from '../src/auth/audit/audit-event.entity';
import { AuditEvent, AuditEventView, AuditLog } from '../src/auth/audit/audit-log.service';
import type { AuditPage } from '../src/auth/audit/audit.controller';
import { newClientId, OPERATOR, operatorAuth } from './support/auth-helpers';
import { useTestApp } from './support/test-app';

describe('audit log at /admin/audit', () => {
  const t = useTestApp({ ADMIN_CREDENTIALS: OPERATOR });
  const http = () => request(t.app.getHttpServer());
  const record = (event: Partial<AuditEvent> & Pick<AuditEvent, 'clientId'>) =>
    t.app.get(AuditLog).record({ action: 'export.status', outcome: 202, ...event });
  const read = (query: Record<string, string | string[]>) =>
    http().get('/admin/audit').query(query).set('Authorization', operatorAuth);
  const page = async (query: Record<string, string>): Promise<AuditPage> => {
    const res = await read(query);
    expect(res.status).toBe(200);
    return res.body as AuditPage;
  };
  const eventsOf = async (clientId: string): Promise<AuditEventView[]> =>
    (await page({ client_id: clientId })).events;

  it('answers the recorded events newest first, every field as recorded', async () => {
    const clientId = newClientId('audit');
    const exportId = randomUUID();
    await record({
      clientId,
      action: 'token.issued',
      outcome: 200,
      remoteAddress: '10.1.2.3',
    });
    await record({
      clientId,
      action: 'export.kickoff',
      exportId,
      types: ['Patient', 'Observation'],
      outcome: 202,
      detail: 'system level',
      remoteAddress: '10.1.2.3',
    });

    const body = await page({ client_id: clientId });
    expect(body.next).toBeUndefined();
    expect(body.events).toEqual([
      {
        id: expect.stringMatching(/^\d+$/),
        at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/),
        action: 'export.kickoff',
        client_id: clientId,
        export_id: exportId,
        types: ['Patient', 'Observation'],
        outcome: 202,
        detail: 'system level',
        remote_address: '10.1.2.3',
      },
      {
        id: expect.stringMatching(/^\d+$/),
        at: expect.any(String),
        action: 'token.issued',
        client_id: clientId,
        export_id: null,
        types: null,
        outcome: 200,
        detail: null,
        remote_address: '10.1.2.3',
      },
    ]);
    expect(BigInt(body.events[0].id)).toBeGreaterThan(BigInt(body.events[1].id));
  });

  it('filters by action and by export_id', async () => {
    const clientId = newClientId('audit');
    const other = newClientId('audit');
    const exportId = randomUUID();
    await record({ clientId, action: 'export.kickoff', exportId });
    await record({ clientId, action: 'export.status', exportId });
    await record({ clientId, action: 'export.status', exportId: randomUUID() });
    await record({ clientId: other, action: 'export.cancel', exportId });

    const statuses = await page({ client_id: clientId, action: 'export.status' });
    expect(statuses.events.map((e) => e.action)).toEqual(['export.status', 'export.status']);

    const ofExport = await page({ export_id: exportId });
    expect(ofExport.events.map((e) => [e.client_id, e.action])).toEqual([
      [other, 'export.cancel'],
      [clientId, 'export.status'],
      [clientId, 'export.kickoff'],
    ]);

    const both = await page({ client_id: clientId, export_id: exportId, action: 'export.kickoff' });
    expect(both.events.map((e) => e.action)).toEqual(['export.kickoff']);
  });

  it('answers only the events at or after since', async () => {
    const clientId = newClientId('audit');
    await record({ clientId, action: 'export.status' });
    // A cut strictly after the first event by the database's clock, which stamps the rows,
    // and a wait until that clock has passed it.
    const db = t.app.get(DataSource);
    const [{ cut }] = await db.query<{ cut: Date }[]>(
      `SELECT date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond' AS cut`,
    );
    await db.query('SELECT pg_sleep(0.005)');
    await record({ clientId, action: 'export.download' });

    const after = await page({ client_id: clientId, since: cut.toISOString() });
    expect(after.events.map((e) => e.action)).toEqual(['export.download']);
    const all = await page({ client_id: clientId, since: '2000-01-01T00:00:00+02:00' });
    expect(all.events.map((e) => e.action)).toEqual(['export.download', 'export.status']);
  });

  it('pages with _count: next keeps the filters and continues before the last id', async () => {
    const clientId = newClientId('audit');
    for (const outcome of [200, 201, 202, 203, 204]) await record({ clientId, outcome });
    await record({ clientId: newClientId('audit'), outcome: 299 });

    const seen: number[] = [];
    let body = await page({ client_id: clientId, _count: '2' });
    const pages = [body];
    while (body.next) {
      const next = new URL(body.next);
      expect(next.pathname).toBe('/admin/audit');
      expect(next.searchParams.get('client_id')).toBe(clientId);
      expect(next.searchParams.get('_count')).toBe('2');
      expect(next.searchParams.get('before')).toBe(body.events.at(-1)?.id);
      body = await page(Object.fromEntries(next.searchParams));
      pages.push(body);
    }
    for (const p of pages) seen.push(...p.events.map((e) => e.outcome));
    expect(pages.map((p) => p.events.length)).toEqual([2, 2, 1]);
    expect(seen).toEqual([204, 203, 202, 201, 200]);
  });

  it('stores an export id that is not a UUID as null, and still records the event', async () => {
    const clientId = newClientId('audit');
    await record({ clientId, action: 'export.status', exportId: '../not-a-uuid', outcome: 404 });
    expect(await eventsOf(clientId)).toMatchObject([
      { action: 'export.status', export_id: null, outcome: 404 },
    ]);
  });

  it('truncates detail to 500 characters', async () => {
    const clientId = newClientId('audit');
    await record({ clientId, action: 'token.refused', outcome: 400, detail: 'x'.repeat(2000) });
    const [event] = await eventsOf(clientId);
    expect(event.detail).toBe('x'.repeat(500));
  });

  it('writes a structured log line with every field of the row', async () => {
    const log = jest.spyOn(Logger.prototype, 'log');
    const clientId = newClientId('audit');
    const exportId = randomUUID();
    await record({
      clientId,
      action: 'export.cancel',
      exportId,
      types: ['Patient'],
      outcome: 202,
      detail: 'cancelled while running',
      remoteAddress: '192.0.2.7',
    });
    const [event] = await eventsOf(clientId);
    expect(log).toHaveBeenCalledWith({ audit: event }, 'audit');
    expect(event).toMatchObject({ export_id: exportId, remote_address: '192.0.2.7' });
  });

  it('resolves and logs the event at error level when the row cannot be written', async () => {
    const repository = t.app.get<Repository<AuditEventEntity>>(
      getRepositoryToken(AuditEventEntity),
    );
    jest.spyOn(repository, 'query').mockRejectedValueOnce(new Error('connection lost'));
    const error = jest.spyOn(Logger.prototype, 'error');
    const clientId = newClientId('audit');

    await expect(
      record({ clientId, action: 'token.refused', outcome: 401 }),
    ).resolves.toBeUndefined();

    expect(error).toHaveBeenCalledWith(
      expect.objectContaining({
        audit: expect.objectContaining({ client_id: clientId, action: 'token.refused' }),
      }),
      'audit event not recorded',
    );
    expect(await eventsOf(clientId)).toEqual([]);
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong password', `Basic ${Buffer.from('operator:wrong').toString('base64')}`],
    ['a bearer token', 'Bearer abc'],
  ])('asks for operator credentials (401) with %s', async (_name, authorization) => {
    const call = http().get('/admin/audit');
    const res = authorization ? await call.set('Authorization', authorization) : await call;
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it.each<[string, Record<string, string | string[]>, RegExp]>([
    ['an unknown action', { action: 'token.stolen' }, /action must be one of/],
    ['a since without a time', { since: '2025-01-31' }, /since must be an instant/],
    ['a since without a zone', { since: '2025-01-31T12:00:00' }, /since must be an instant/],
    ['a since that is no date', { since: '2025-13-45T99:00:00Z' }, /since must be an instant/],
    ['a before that is not digits', { before: '12a' }, /before must be an event id/],
    ['a negative before', { before: '-1' }, /before must be an event id/],
    ['a before beyond bigint', { before: '99999999999999999999' }, /before must be an event id/],
    ['a _count of 0', { _count: '0' }, /_count must be an integer from 1 to 1000/],
    ['a _count over 1000', { _count: '1001' }, /_count must be an integer from 1 to 1000/],
    ['a _count that is no number', { _count: 'ten' }, /_count must be an integer/],
    ['an export_id that is not a UUID', { export_id: 'abc' }, /export_id must be a UUID/],
    ['a parameter given twice', { action: ['token.issued', 'token.refused'] }, /once/],
  ])('answers 400 with an OperationOutcome for %s', async (_name, query, message) => {
    const res = await read(query);
    expect(res.status).toBe(400);
    const outcome = JSON.parse(res.text) as {
      resourceType: string;
      issue: { diagnostics: string }[];
    };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].diagnostics).toMatch(message);
  });

  it('is append-only: the database refuses UPDATE, DELETE and TRUNCATE', async () => {
    const clientId = newClientId('audit');
    await record({ clientId, action: 'token.issued', outcome: 200 });
    const before = await eventsOf(clientId);
    const db = t.app.get(DataSource);

    await expect(
      db.query('UPDATE audit_event SET outcome = 500 WHERE client_id = $1', [clientId]),
    ).rejects.toThrow(/append-only/);
    await expect(
      db.query('DELETE FROM audit_event WHERE client_id = $1', [clientId]),
    ).rejects.toThrow(/append-only/);
    await expect(db.query('TRUNCATE audit_event')).rejects.toThrow(/append-only/);

    expect(await eventsOf(clientId)).toEqual(before);
  });
});
