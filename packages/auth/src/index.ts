export * from './principal';
export * from './permissions';
export * from './internal-header';
export * from './unsubscribe';
