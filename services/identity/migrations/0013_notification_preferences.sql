-- Notification mails a person turned off (NotificationPreferencesChanged; README "Email"). Expand only: a new
-- column with a default, read by the new code, ignored by the old.
ALTER TABLE users ADD COLUMN notification_disabled text[] NOT NULL DEFAULT '{}';
