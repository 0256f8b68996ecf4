/**
 * Keeps the local stack's data private to the user who runs it: `.local/` holds every transcript
 * (DynamoDB Local's database), recordings, feeds and the local credentials. Directories are 0700 and
 * files 0600; {@link makePrivateDir} also repairs what an older version left readable by everyone.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Mode of every directory under a private data directory. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file under a private data directory. */
export const PRIVATE_FILE_MODE = 0o600;
/** The umask that makes new files {@link PRIVATE_FILE_MODE} and new directories {@link PRIVATE_DIR_MODE}. */
export const PRIVATE_UMASK = 0o077;

function restrict(path: string): void {
  const stat = lstatSync(path);
  // A symbolic link's own mode means nothing, and following one could chmod a file outside the tree.
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(path, PRIVATE_DIR_MODE);
    for (const entry of readdirSync(path)) restrict(join(path, entry));
    return;
  }
  if (stat.isFile() && (stat.mode & 0o777) !== PRIVATE_FILE_MODE) chmodSync(path, PRIVATE_FILE_MODE);
}

/**
 * Creates `dir` (and missing parents) and makes it and everything already in it private: directories
 * 0700, regular files 0600. Symbolic links are left alone and not followed.
 */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  restrict(dir);
}
