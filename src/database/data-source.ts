import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';

/** Data source for the TypeORM CLI (`npm run migration:run`). */
export default new DataSource(dataSourceOptions(loadConfig()));
