import request from 'supertest';
import { useExportApp } from './support/export-helpers';

const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

describe('Bull Board at /admin/queues', () => {
  describe('with operator credentials configured', () => {
    const t = useExportApp({ ADMIN_CREDENTIALS: 'operator:s3cret-pass' });

    it('asks for credentials with 401 and an OperationOutcome', async () => {
      const res = await request(t.app.getHttpServer()).get('/admin/queues');
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
      expect(JSON.parse(res.text)).toMatchObject({ resourceType: 'OperationOutcome' });
    });

    it('refuses a wrong password, also on the board API', async () => {
      for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
        const res = await request(t.app.getHttpServer())
          .get(path)
          .set('Authorization', basic('operator:wrong'));
        expect(res.status).toBe(401);
      }
    });

    it('shows the export and maintenance queues to an operator', async () => {
      const page = await request(t.app.getHttpServer())
        .get('/admin/queues')
        .set('Authorization', basic('operator:s3cret-pass'));
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      const api = await request(t.app.getHttpServer())
        .get('/admin/queues/api/queues')
        .set('Authorization', basic('operator:s3cret-pass'));
      expect(api.status).toBe(200);
      const names = (api.body as { queues: { name: string }[] }).queues.map((q) => q.name);
      expect(names.sort()).toEqual(['export', 'export-maintenance']);
    });
  });

  describe('without operator credentials configured', () => {
    const t = useExportApp({ ADMIN_CREDENTIALS: '' });

    it('is not mounted at all', async () => {
      const res = await request(t.app.getHttpServer()).get('/admin/queues');
      expect(res.status).toBe(404);
    });
  });
});
