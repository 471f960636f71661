export { AuthenticationError, createAuthenticator, type Authenticate, type Authentication, type Credential } from './authenticate';
export { createCoreExecute, type CoreResult, type Execute } from './execute';
