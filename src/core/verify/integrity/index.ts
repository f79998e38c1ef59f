export { verifyLayerIntegrity } from './tarsplit.js';
export type { IntegrityFinding, IntegrityFindingKind, IntegrityResult, VerifyLayerOptions } from './tarsplit.js';
export { decodeMemberHeaders, type TarHeader } from './tarheader.js';
