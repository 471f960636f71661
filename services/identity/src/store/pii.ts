/**
 * identity's personal data in events (crypto-shredding, docs/privacy.md): each person's email, name and client IPs
 * are sealed with the person's data key (subject = user id) in `pii_keys`; `eraseUser` destroys the key.
 */
import { createPiiCodec, ERASED, type PiiRules } from '@cos/pii';

const email = { name: 'email', erased: null };
const name = { name: 'name', erased: ERASED };
const ip = { name: 'ip', erased: null };
const acceptUrl = { name: 'acceptUrl', erased: null };

export const IDENTITY_PII_RULES: PiiRules = {
  UserRegistered: [{ subject: 'userId', fields: [email, name] }],
  MemberJoined: [{ subject: 'userId', fields: [name] }],
  // Invitations of earlier versions without userId stay as they were (no subject to erase them with).
  InvitationCreated: [{ subject: 'userId', fields: [email, name, acceptUrl] }],
  // Failed sign-ins of unknown emails (userId null) carry only the IP, kept for abuse detection until retention.
  LoginFailed: [{ subject: 'userId', fields: [ip] }],
  RefreshTokenReused: [{ subject: 'userId', fields: [ip] }],
};

export const identityPii = createPiiCodec(IDENTITY_PII_RULES);
