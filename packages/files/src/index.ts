export * from './sniff';
export * from './sign';
export * from './storage';
export * from './scan';
export * from './s3';
