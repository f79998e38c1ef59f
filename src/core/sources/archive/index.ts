export { openArchive, type ArchiveOptions } from './open.js';
export { loadImages, familiarRef, hostPlatform, parsePlatform, formatPlatform, ArchiveFormatError, type LayerRef, type Platform } from './images.js';
export { DirStore, FileTarStore, StreamStore, resolveMember, MAX_JSON, type ArchiveStore, type Member, type StoredLayer } from './store.js';
