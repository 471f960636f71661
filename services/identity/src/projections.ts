/** What `pnpm rebuild identity` needs: truncate READ_MODEL_TABLES, then replay every event through eventStore. */
export { READ_MODEL_TABLES, NOTIFY_CHANNEL, eventStore, projectIdentityEvent } from './store/projection';
