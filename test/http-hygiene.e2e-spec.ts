import { INestApplication } from '@nestjs/common';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { DataSource } from 'typeorm';
import { MAX_URI_LENGTH } from '../src/common/http-limits';
import { FHIR_JSON } from '../src/common/fhir-content-types';
import {
  expectOperationOutcome,
  exportJobCount,
  kickOffResponse,
  useExportApp,
} from './support/export-helpers';
import { exportQueue } from './support/export-jobs';
import { patient } from './support/factories';
import { api, bearerOf } from './support/test-app';

async function resourceCount(app: INestApplication): Promise<number> {
  const [row] = await app
    .get(DataSource)
    .query<{ n: number }[]>('SELECT count(*)::int AS n FROM resource');
  return row.n;
}

/** Sends `raw` bytes on a new connection and returns all the server answers before closing. */
async function rawExchange(server: Server, raw: string): Promise<string> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Status, headers and parsed body of a raw HTTP/1.1 response. */
function parseRaw(text: string): {
  status: number;
  headers: Record<string, string>;
  body: unknown;
} {
  const [head, body] = text.split('\r\n\r\n', 2);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as unknown };
}

describe('HTTP hygiene: methods, limits and strict kick-off headers', () => {
  const t = useExportApp();
  const http = () => api(t.app);

  describe('HEAD on a kick-off', () => {
    it.each(['/$export', '/Patient/$export', '/Group/g1/$export'])(
      'answers HEAD %s with 405 Allow: GET, POST, OPTIONS and starts no export',
      async (path) => {
        const add = jest.spyOn(exportQueue(t.app), 'add');
        const res = await http().head(path).set('Accept', FHIR_JSON).set('Prefer', 'respond-async');
        expect(res.status).toBe(405);
        expect(res.headers.allow).toBe('GET, POST, OPTIONS');
        expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
        expect(res.headers['content-location']).toBeUndefined();
        expect(add).not.toHaveBeenCalled();
        expect(await exportJobCount(t.app)).toBe(0);
      },
    );

    it('still answers HEAD on a read-only GET such as /metadata', async () => {
      const res = await http().head('/metadata');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    });
  });

  describe('405 Method Not Allowed', () => {
    it.each([
      ['PATCH', '/Patient/p1', 'GET, HEAD, PUT, DELETE, OPTIONS'],
      ['POST', '/Patient/p1', 'GET, HEAD, PUT, DELETE, OPTIONS'],
      ['DELETE', '/Patient', 'GET, HEAD, POST, OPTIONS'],
      ['PUT', '/metadata', 'GET, HEAD, OPTIONS'],
      ['PUT', '/$export', 'GET, POST, OPTIONS'],
      ['DELETE', '/Patient/$export', 'GET, POST, OPTIONS'],
      [
        'PUT',
        '/_operations/export/00000000-0000-0000-0000-000000000000',
        'GET, HEAD, DELETE, OPTIONS',
      ],
      ['GET', '/Patient/_search', 'POST, OPTIONS'],
      ['GET', '/', 'POST, OPTIONS'],
    ])(
      'answers %s %s with 405, Allow: %s and an OperationOutcome, writing nothing',
      async (method, path, allow) => {
        const res = await http()
          [method.toLowerCase() as 'get'](path)
          .set('Content-Type', FHIR_JSON)
          .send(method === 'GET' ? undefined : JSON.stringify(patient({ id: 'p1' })));
        expectOperationOutcome(res, 405, { mentions: [method, allow] });
        expect(res.headers.allow).toBe(allow);
        expect((res.body as { issue: { code: string }[] }).issue[0].code).toBe('not-supported');
        expect(await resourceCount(t.app)).toBe(0);
        expect(await exportJobCount(t.app)).toBe(0);
      },
    );

    it('keeps 404 for paths no route answers, whatever the method', async () => {
      const patch = await http().patch('/no/such/route');
      expectOperationOutcome(patch, 404, { mentions: ['Cannot PATCH /no/such/route'] });
      expect(patch.headers.allow).toBeUndefined();
      const options = await http().options('/no/such/route');
      expectOperationOutcome(options, 404);
    });
  });

  describe('OPTIONS', () => {
    it.each([
      ['/Patient', 'GET, HEAD, POST, OPTIONS'],
      ['/Patient/p1', 'GET, HEAD, PUT, DELETE, OPTIONS'],
      ['/$export', 'GET, POST, OPTIONS'],
      ['/metadata', 'GET, HEAD, OPTIONS'],
    ])('answers OPTIONS %s with 200, Allow: %s and no content', async (path, allow) => {
      const res = await http().options(path);
      expect(res.status).toBe(200);
      expect(res.headers.allow).toBe(allow);
      expect(res.headers['content-length']).toBe('0');
      expect(res.text).toBe('');
      expect(await exportJobCount(t.app)).toBe(0);
    });
  });

  describe('request size limits', () => {
    let server: Server;
    beforeAll(async () => {
      server = t.app.getHttpServer() as Server;
      if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    });

    it(`answers 414 with an OperationOutcome to a URI over ${MAX_URI_LENGTH} bytes, creating nothing`, async () => {
      const long = `/Patient?name=${'a'.repeat(MAX_URI_LENGTH)}`;
      const res = await http()
        .post(long)
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify(patient()));
      expectOperationOutcome(res, 414, { mentions: [String(MAX_URI_LENGTH), '_search'] });
      expect((res.body as { issue: { code: string }[] }).issue[0].code).toBe('too-long');
      const kickoff = await kickOffResponse(t.app, '/$export', {
        query: { _typeFilter: `Patient?name=${'a'.repeat(MAX_URI_LENGTH)}` },
      });
      expectOperationOutcome(kickoff, 414);
      expect(await resourceCount(t.app)).toBe(0);
      expect(await exportJobCount(t.app)).toBe(0);
    });

    it('answers 414 with an OperationOutcome to a 16 KiB URI, which Node itself refuses', async () => {
      const text = await rawExchange(
        server,
        `GET /$export?_type=${'a'.repeat(16 * 1024)} HTTP/1.1\r\nHost: x\r\n` +
          'Accept: application/fhir+json\r\nPrefer: respond-async\r\n\r\n',
      );
      const res = parseRaw(text);
      expect(res.status).toBe(414);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.body).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'too-long' }],
      });
      expect(await exportJobCount(t.app)).toBe(0);
    });

    it('closes the connection after answering 431, also when the client keeps its side open', async () => {
      const connections = () =>
        new Promise<number>((resolve, reject) =>
          server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
        );
      const { port } = server.address() as AddressInfo;
      // allowHalfOpen: the client never closes its side, as a hostile one would not.
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const answered = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        socket.on('end', () => resolve(text));
      });
      socket.write(
        `GET /metadata HTTP/1.1\r\nHost: x\r\nX-Padding: ${'b'.repeat(17 * 1024)}\r\n\r\n`,
      );
      try {
        expect(parseRaw(await answered).status).toBe(431);
        // Bounded wait for the server to let go of the socket (Node's own handling does too).
        const deadline = Date.now() + 5000;
        while ((await connections()) > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(await connections()).toBe(0);
      } finally {
        socket.destroy();
      }
    });

    it('refuses JSON in a charset other than UTF-8 with 415, storing nothing', async () => {
      // In UTF-16 the body would skip the raw-byte scan: these digits would be stored rounded.
      const body = Buffer.from(
        '{"resourceType":"Observation","status":"final","code":{"text":"x"},' +
          '"valueQuantity":{"value":12345678901234567890}}',
        'utf16le',
      );
      // Every byte of UTF-16LE ASCII is below 0x80, so latin1 text carries the bytes as they are.
      const text = await rawExchange(
        server,
        `POST /Observation HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
          `Authorization: ${bearerOf(t.app)}\r\n` +
          `Content-Type: application/fhir+json; charset=utf-16le\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body.toString('latin1')}`,
      );
      const res = parseRaw(text);
      expect(res.status).toBe(415);
      expect(JSON.stringify(res.body)).toContain('charset utf-16le is not supported');
      expect(await resourceCount(t.app)).toBe(0);
    });

    it('answers 431 with an OperationOutcome to headers over 16 KiB', async () => {
      const text = await rawExchange(
        server,
        `POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n` +
          `X-Padding: ${'b'.repeat(17 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`,
      );
      const res = parseRaw(text);
      expect(res.status).toBe(431);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.body).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'too-long' }],
      });
      expect(await resourceCount(t.app)).toBe(0);
    });

    it('answers 400 with an OperationOutcome to a request the HTTP parser cannot read', async () => {
      const res = parseRaw(await rawExchange(server, 'GET /metadata HTTP/1.1\r\nHost x\r\n\r\n'));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ resourceType: 'OperationOutcome' });
    });
  });

  describe('strict Accept at kick-off', () => {
    it.each(['application/json', '*/*', 'application/*'])(
      'refuses Accept: %s with 400 naming the header, and starts no export',
      async (accept) => {
        const add = jest.spyOn(exportQueue(t.app), 'add');
        const res = await kickOffResponse(t.app, '/$export', { headers: { Accept: accept } });
        expectOperationOutcome(res, 400, {
          expression: 'Accept',
          mentions: [accept, 'application/fhir+json'],
        });
        expect(add).not.toHaveBeenCalled();
        expect(await exportJobCount(t.app)).toBe(0);
      },
    );

    it('accepts a list naming application/fhir+json, with parameters', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        headers: { Accept: 'application/json, application/fhir+json; charset=utf-8' },
        query: { _type: 'Patient' },
      });
      expect(res.status).toBe(202);
      expect(await exportJobCount(t.app)).toBe(1);
    });
  });

  describe('control characters at kick-off', () => {
    it.each([
      ['%00 in a _typeFilter value', '_typeFilter=Patient?name=%00', '_typeFilter'],
      [
        '%2500, which a _typeFilter decodes to NUL',
        '_typeFilter=Patient?name=%2500',
        '_typeFilter',
      ],
      [
        'NUL in a parameter a lenient kick-off would echo',
        'includeAssociatedData=a%00b',
        'includeAssociatedData',
      ],
    ])('refuses %s with 400 and starts no export', async (_what, query, parameter) => {
      const res = await kickOffResponse(t.app, `/$export?${query}`, {
        headers: { Prefer: 'respond-async, handling=lenient' },
      });
      expectOperationOutcome(res, 400, { expression: parameter, mentions: ['control character'] });
      expect(await exportJobCount(t.app)).toBe(0);
    });
  });

  describe('_count', () => {
    it.each(['1e9', '-1', '2.5', 'ten', ''])(
      'answers _count=%s with 400 saying it must be a non-negative integer and what the page limit is',
      async (count) => {
        const res = await http().get(`/Patient?_count=${count}`);
        expectOperationOutcome(res, 400, {
          expression: '_count',
          mentions: ['non-negative integer', '1000', `"${count}"`],
        });
      },
    );

    it('caps a _count above the limit, however many digits it has, at 1000', async () => {
      const res = await http().get('/Patient?_count=1000000000').expect(200);
      const next = (res.body as { link: { relation: string; url: string }[] }).link.find(
        (l) => l.relation === 'self',
      );
      expect(next?.url).toContain('_count=1000');
    });
  });
});
