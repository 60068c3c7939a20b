import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { PART_SUFFIX } from '../constants.js';
import type { Logger } from '../log.js';
import type { TransferEndpoint, TransferResult } from '../transfer/endpoint.js';
import { StreamSink } from '../transfer/stream-sink.js';
import { lastComponent } from '../transfer/names.js';
import { downloadTree, listTree, type RemoteTree } from '../transfer/tree-download.js';
import { isDirectory } from './fs.js';
import { downloadPath } from './out-path.js';
import type { Unfinished } from './resume-hint.js';
import { spool } from './spool.js';
import { sendTree, type ProgressHooks } from './tree-upload.js';
import { countDirectories } from '../units.js';

/** `--send -` and `--out -`: standard input and output. */
export const STDIO = '-';

/** One file (or tree) `connect` moves: its name in messages, how to run it, what to say when a resume started over, and the options that move it again. */
export interface TransferJob {
  label: string;
  again: Unfinished;
  run(hooks: ProgressHooks): Promise<TransferResult>;
  /** The warning for a part file that was not the start of this file (emptied, everything sent). */
  restartedNote: string;
}

/** The files a `connect` plan moves (its TransferPlan). */
export interface FilePlan {
  send: string[];
  as?: string;
  get: string[];
  out?: string;
  resume: boolean;
  overwrite: boolean;
}

/** The uploads and downloads of `plan`, in the order they run. */
export function transferJobs(endpoint: TransferEndpoint, plan: FilePlan, log: Logger): TransferJob[] {
  const options = { resume: plan.resume, overwrite: plan.overwrite };
  const uploads = plan.send.map((path): TransferJob => {
    const label = plan.as ?? basename(path);
    return {
      label,
      again: { send: [path], as: plan.as, get: [] },
      restartedNote: `${label}: the server's part file ${label}${PART_SUFFIX} was not the start of this file; it was emptied and everything sent again`,
      run: async (hooks) => {
        if (path !== STDIO && isDirectory(path)) return sendTree(endpoint, path, label, options, hooks, log);
        if (path !== STDIO) return endpoint.upload(path, { as: plan.as, ...options, ...hooks });
        log.info('reading standard input to its end first: an upload announces its size and hash');
        const spooled = await spool(process.stdin, 'standard input');
        try {
          // The spool's mode and time are the spool's, not the data's: the receiver gets neither.
          return await endpoint.upload(spooled.path, { as: label, ...options, metadata: false, ...hooks });
        } finally {
          await spooled.remove();
        }
      },
    };
  });
  const downloads = plan.get.map((name): TransferJob => {
    let part = `${name}${PART_SUFFIX}`;
    return {
      label: name,
      again: { send: [], get: [name], out: plan.out },
      get restartedNote() {
        return `${name}: ${part} was not the start of the server's file; it was emptied and the download started over`;
      },
      run: async (hooks) => {
        if (plan.out === STDIO) return endpoint.download(name, { to: new StreamSink(process.stdout, 'standard output'), ...hooks });
        // A directory on the server comes down as a tree; anything else as one file, which says why it cannot.
        const tree = await listTree(endpoint, name);
        if (tree) return getTree(endpoint, name, tree, downloadPath(lastComponent(name), plan.out), options, hooks, log);
        const out = downloadPath(lastComponent(name), plan.out);
        part = `${out}${PART_SUFFIX}`;
        if (!plan.resume && existsSync(part)) log.warn(`${name}: starting over (--no-resume): the part file ${part} of an earlier run is replaced`);
        return endpoint.download(name, { out, ...options, ...hooks });
      },
    };
  });
  return [...uploads, ...downloads];
}

/** `--get DIR`: the tree into `root`, with one progress display, one result, and a line saying what came. */
async function getTree(endpoint: TransferEndpoint, name: string, tree: RemoteTree, root: string, options: { resume: boolean; overwrite: boolean },
  hooks: ProgressHooks, log: Logger): Promise<TransferResult> {
  const result = await downloadTree(endpoint, name, tree, root, {
    ...options, ...hooks,
    onFile: (file) => {
      if (file.restarted) log.warn(`${file.name}: the part file here was not the start of the server's file; it was emptied and the download started over`);
    },
  });
  const directories = tree.directories.length;
  log.info(`${name}: ${tree.files.length} file(s) and ${countDirectories(directories)} received into ${root}`,
    { files: tree.files.length, directories });
  return result;
}
