// Reads a manifest folder: every *.yaml, *.yml and *.json file directly in it (hidden
// files and subfolders skipped), several documents per file, `kind: List` expanded.
// A bad file or document becomes an error and never stops the others; only an
// unreadable folder throws (the caller then keeps its last good state).
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { parseAllDocuments, type Tags } from 'yaml';
import { dropDuplicates, ManifestError, parseManifestDocument, type ManifestObject } from './schema.js';

export { ManifestError, type ManifestObject };

export interface ManifestDir {
  objects: ManifestObject[];
  errors: ManifestError[];
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Parse results by file, reused while the file's inode, size and mtime are unchanged. */
const parsed = new Map<string, { key: string; result: ManifestDir }>();

export async function readManifestDir(dir: string, nodeName: string): Promise<ManifestDir> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.') && EXTENSIONS.has(extname(n).toLowerCase())).sort();
  const objects: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const file = join(dir, name);
    let r: ManifestDir;
    try {
      // stat follows symlinks: a link to a file counts, a link to a folder does not.
      const st = await stat(file);
      if (!st.isFile()) continue;
      // A folder of many pods is rescanned on every change: parse only what changed.
      const key = `${nodeName}:${st.ino}:${st.size}:${st.mtimeMs}`;
      const cached = parsed.get(file);
      if (cached?.key === key) r = cached.result;
      else {
        r = parseManifestText(await readFile(file, 'utf8'), file, nodeName);
        parsed.set(file, { key, result: r });
      }
      seen.add(file);
    } catch (err) {
      errors.push(new ManifestError(file, 'file', [`cannot read: ${(err as Error).message}`]));
      continue;
    }
    objects.push(...r.objects);
    errors.push(...r.errors);
  }
  const here = dirname(join(dir, 'x'));
  for (const f of parsed.keys()) if (dirname(f) === here && !seen.has(f)) parsed.delete(f);
  const unique = dropDuplicates(objects);
  return { objects: unique.objects, errors: [...errors, ...unique.errors] };
}

/**
 * The documents of one file. YAML is read as YAML 1.1, as kubectl does (so
 * `defaultMode: 0644` is octal 420 and `yes` is a boolean), except that dates and
 * "12:30" stay strings as they do for kubectl; .json files are read as JSON.
 */
export function parseManifestText(text: string, file: string, nodeName: string): ManifestDir {
  const objects: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  const take = (doc: unknown, document: number) => {
    if (doc === null || doc === undefined) return; // empty document, e.g. a trailing "---"
    const r = parseManifestDocument(doc, { file, nodeName, document });
    objects.push(...r.objects);
    errors.push(...r.errors);
  };
  if (extname(file).toLowerCase() === '.json') {
    try {
      take(JSON.parse(text), 1);
    } catch (err) {
      errors.push(new ManifestError(file, 'document 1', [`invalid JSON: ${(err as Error).message}`]));
    }
    return { objects, errors };
  }
  const docs = parseAllDocuments(text, { version: '1.1', customTags: withoutTimes });
  Array.from(docs).forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      errors.push(new ManifestError(file, `document ${i + 1}`, [`invalid YAML: ${err.message.split('\n')[0]}`]));
      return;
    }
    try {
      take(doc.toJS({ maxAliasCount: 100 }), i + 1);
    } catch (e) {
      errors.push(new ManifestError(file, `document ${i + 1}`, [`invalid YAML: ${(e as Error).message.split('\n')[0]}`]));
    }
  });
  return { objects, errors };
}

/** YAML 1.1 tags minus timestamps and base-60 numbers. */
function withoutTimes(tags: Tags): Tags {
  return tags.filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME'));
}
