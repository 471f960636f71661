/**
 * AttachmentRemoved -> delete the blob from storage once no attachment of any organization references it (blobs
 * are content-addressed and shared between identical files). Runs on the system role (the count crosses tenants)
 * after the removal committed; deleting an absent blob is a no-op, so a redelivery is harmless.
 */
import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { TaskEvent } from '@cos/events';
import type { BlobStore } from '@cos/files';
import type { Logger } from '@cos/logger';
import { countBlobReferences } from '../../store/task-store';

export function createBlobsReactor(blobs: BlobStore, log: Logger) {
  return async function handleAttachmentRemoved(tx: Tx, incoming: StoredEvent): Promise<void> {
    const event = incoming as StoredOf<TaskEvent>;
    if (event.type !== 'AttachmentRemoved') return;
    if ((await countBlobReferences(tx, event.data.sha256)) > 0) return;
    await blobs.delete(event.data.sha256);
    log.info({ sha256: event.data.sha256, reason: event.data.reason }, 'deleted an unreferenced blob');
  };
}
