export { openArchive, archiveIntegrity, type ArchiveOptions, type ArchiveIntegrity, type ArchiveLayerCheck, type ArchiveLayerFinding } from './open.js';
export { loadImages, familiarRef, hostPlatform, parsePlatform, formatPlatform, ArchiveFormatError, type LayerRef, type Platform } from './images.js';
export { DirStore, FileTarStore, StreamStore, resolveMember, MAX_JSON, MAX_MEMBERS, MAX_AFTER_END, ArchiveMemberError, type ArchiveStore, type Member, type StoredLayer } from './store.js';
export { MAX_JSON_TOTAL, MAX_JSON_DEPTH, MAX_JSON_VALUES, MAX_JSON_VALUES_TOTAL } from './json.js';
