import { isStreamEvent, type IdentityEvent, type NotificationKind, type StreamEventType } from '@cos/events';
import { badInput, notFound } from '@cos/errors';

/** User aggregate (stream `User-<id>`): registration and sign-ins (the audit trail of a person). */
export interface UserState {
  exists: boolean;
  /** GDPR erasure happened (UserErased): nothing more is recorded about the person. */
  erased: boolean;
  /** Notification mails the person turned off (sorted). */
  disabledNotifications: NotificationKind[];
}

export const initialUser: UserState = { exists: false, erased: false, disabledNotifications: [] };

export type UserCommand =
  | { type: 'RegisterUser'; userId: string; email: string; name: string }
  | { type: 'RecordLogin'; userId: string }
  | { type: 'EraseUser'; userId: string }
  | { type: 'ChangeNotificationPreferences'; userId: string; disabled: NotificationKind[]; via: 'graph' | 'unsubscribe' };

/** The events of a User stream (EVENT_CATALOG.identity.User); `evolveUser` handles each one (a member it misses is a type error). */
export type UserEvent = Extract<IdentityEvent, { type: StreamEventType<'identity', 'User'> }>;
export const isUserEvent = isStreamEvent('identity', 'User');

export function decideUser(cmd: UserCommand, state: UserState): UserEvent[] {
  switch (cmd.type) {
    case 'RegisterUser':
      if (state.exists) throw badInput('email', 'This user already exists');
      return [{ type: 'UserRegistered', data: { userId: cmd.userId, email: cmd.email, name: cmd.name } }];
    case 'RecordLogin':
      if (!state.exists || state.erased) throw notFound('User', cmd.userId);
      return [{ type: 'UserLoggedIn', data: { userId: cmd.userId } }];
    case 'EraseUser':
      if (!state.exists) throw notFound('User', cmd.userId);
      // Erasing twice changes nothing (the key is gone already): no second event.
      return state.erased ? [] : [{ type: 'UserErased', data: { userId: cmd.userId } }];
    case 'ChangeNotificationPreferences': {
      if (!state.exists || state.erased) throw notFound('User', cmd.userId);
      const disabled = [...new Set(cmd.disabled)].sort();
      // The same set again (a second click on an unsubscribe link) records nothing.
      if (disabled.join() === state.disabledNotifications.join()) return [];
      return [{ type: 'NotificationPreferencesChanged', data: { userId: cmd.userId, disabled, via: cmd.via } }];
    }
  }
}

export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
      return { ...state, exists: true };
    case 'UserLoggedIn':
      // A sign-in is recorded for the audit trail; it changes nothing decide() looks at.
      return state;
    case 'UserErased':
      return { ...state, erased: true };
    case 'NotificationPreferencesChanged':
      return { ...state, disabledNotifications: [...event.data.disabled].sort() };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const userStream = (id: string) => `User-${id}`;
/** One failed sign-in (a one-event stream: attempts are independent, so they never contend on a version). */
export const loginAttemptStream = (attemptId: string) => `LoginAttempt-${attemptId}`;
/** The User aggregate for the event store: a stream holds only UserEvents; anything else leaves the state alone. */
export const userAggregate = {
  initial: initialUser,
  evolve: (state: UserState, event: IdentityEvent): UserState => (isUserEvent(event) ? evolveUser(state, event) : state),
};

/**
 * Password policy: 10..128 characters and at least two kinds of characters (letters, digits, others), not a
 * well-known password. Returns the reason it is refused, or null. 128 caps the argon2 work an attacker can cause.
 */
export function passwordProblem(password: string): string | null {
  if (password.length < 10) return 'Password must be at least 10 characters long';
  if (password.length > 128) return 'Password must be at most 128 characters long';
  const kinds = [/[a-zA-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length;
  if (kinds < 2) return 'Password must mix letters, digits or symbols';
  if (COMMON.has(password.toLowerCase())) return 'This password is too common';
  if (/^(.)\1+$/.test(password)) return 'Password is too weak';
  return null;
}

const COMMON = new Set([
  'password123', 'password1234', 'password12345', 'qwerty12345', 'qwerty123456', '1234567890a', 'a1234567890',
  'iloveyou123', 'welcome123', 'letmein1234', 'changeme123', 'passw0rd123', 'administrator1', 'abc123456789',
]);
