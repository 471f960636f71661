/**
 * customers' personal data in events (crypto-shredding, docs/privacy.md): each contact's name and email are sealed
 * with the contact's data key (subject = contact id) in `pii_keys`; `eraseCustomerContact` destroys the key.
 * Customer names, domains and signal notes describe companies, not people, and stay as they are.
 */
import { createPiiCodec, ERASED, type PiiRules } from '@cos/pii';

export const CUSTOMERS_PII_RULES: PiiRules = {
  CustomerCreated: [{ each: 'contacts', subject: 'id', fields: [{ name: 'name', erased: ERASED }, { name: 'email', erased: null }] }],
};

export const customersPii = createPiiCodec(CUSTOMERS_PII_RULES);
