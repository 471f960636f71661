import type { Db } from '@cos/db';
import type { BaseContext } from '@cos/service-kit';
import type { Loaders } from './store/loaders';
import type { FilesConfig } from './files';

/** Per-request context: the verified principal (BaseContext), the runtime-role Db and this request's DataLoaders. */
export interface Context extends BaseContext {
  db: Db;
  /** null for an anonymous caller: every resolver requires a signed-in principal first. */
  loaders: Loaders | null;
  files: FilesConfig;
}
