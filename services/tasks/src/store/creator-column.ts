/**
 * Which column holds a task's creating user: `created_by_user_id` (this release, schema level 8) or `created_by`
 * (the release before migration 0007, schema level 6). The previous release's behaviour stays selectable at start
 * (TASKS_LEGACY_RELEASE=true) for the expand/contract drill, where both releases serve behind the gateway at once
 * (e2e/zero-downtime-migration.e2e.ts). Remove it together with the next contract of the tasks schema.
 */
export type CreatorColumn = 'created_by' | 'created_by_user_id';

/** The schema level of the release before the created_by rename (its newest migration was 0006_retention). */
export const LEGACY_SCHEMA_LEVEL = 6;

let column: CreatorColumn = 'created_by_user_id';

/** Called once at start, before any query, by a process running as the previous release. */
export function useLegacyCreatorColumn(): void {
  column = 'created_by';
}

export const creatorColumn = (): CreatorColumn => column;
