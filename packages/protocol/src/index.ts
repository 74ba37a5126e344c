export * from './errors';
export * from './capabilities';
export * from './refname';
export * from './request';
export * from './report';
export * from './advertisement';
