import { parseEnv, envFields } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

export const customersEnv = baseServiceEnv.extend({
  PORT: envFields.port(4003),
});
export type CustomersEnv = ReturnType<typeof loadEnv>;

/** Reads process.env once (every problem reported at once, exit 1). */
export const loadEnv = () => parseEnv(customersEnv);
