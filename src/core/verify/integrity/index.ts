export { verifyLayerIntegrity } from './tarsplit.js';
export type { IntegrityFinding, IntegrityFindingKind, IntegrityResult, VerifyLayerOptions } from './tarsplit.js';
export { decodeMemberHeaders } from './tarheader.js';
