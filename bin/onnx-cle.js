#!/usr/bin/env node
// onnx-cle — the command line on the wasm build.  The commands, options,
// output and exit codes are the C library's own (src/cli/cli.c), so this
// prints exactly what the native `onnx-cle` prints; this file only does I/O,
// with the native host's rules (src/cli/main.c): a file that is not a
// regular one is refused before it is opened, external data only from
// inside the model's folder once links are resolved, and outputs through a
// temporary file beside them, created exclusively under a name no one can
// guess, renamed into place when complete, or removed.
//
// equalize, the one command that writes files, runs on a worker thread: it
// is one synchronous call into WebAssembly, during which a thread cannot run
// a signal handler, so this (main) thread stays free to answer SIGINT,
// SIGTERM and SIGHUP: it stops the worker, removes the temporary files the
// worker registered in shared memory, and ends of the signal, as the native
// build does.  The other commands run here (a worker costs ~0.2 s to start).
import fs from 'node:fs';
import path from 'node:path';
import { isatty } from 'node:tty';
import { randomBytes } from 'node:crypto';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';

// the temporary files in use: SLOTS of [length, UTF-8 path of up to PATH_BYTES]
const SLOTS = 2;
const PATH_BYTES = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The registry of temporary files over a SharedArrayBuffer both threads see. */
function registry(shared) {
  const lengths = new Int32Array(shared, 0, SLOTS);
  const names = new Uint8Array(shared, 4 * SLOTS);
  return {
    add(name) {
      const bytes = encoder.encode(name);
      const slot = [...lengths].findIndex((n) => n === 0);
      if (slot < 0 || bytes.length > PATH_BYTES) return -1;
      names.set(bytes, slot * PATH_BYTES);
      Atomics.store(lengths, slot, bytes.length);
      return slot;
    },
    remove(slot) {
      if (slot >= 0) Atomics.store(lengths, slot, 0);
    },
    all: () => [...lengths].flatMap((n, slot) =>
      (n > 0 ? [decoder.decode(names.slice(slot * PATH_BYTES, slot * PATH_BYTES + n))] : [])),
  };
}

if (isMainThread && process.argv[2] !== 'equalize') {
  process.exitCode = await runCli(process.argv.slice(2), registry(new SharedArrayBuffer(4 * SLOTS + SLOTS * PATH_BYTES)));
} else if (isMainThread) {
  const shared = new SharedArrayBuffer(4 * SLOTS + SLOTS * PATH_BYTES);
  const temps = registry(shared);
  const worker = new Worker(new URL(import.meta.url), { workerData: { args: process.argv.slice(2), shared } });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = async (signal) => {
    for (const s of signals) process.removeAllListeners(s); // a second signal ends us at once
    await worker.terminate(); // stops it inside WebAssembly too; it makes no more files
    for (const name of temps.all()) fs.rmSync(name, { force: true });
    process.kill(process.pid, signal);
  };
  for (const s of signals) process.on(s, onSignal);
  worker.on('message', (status) => (process.exitCode = status));
  worker.on('error', (e) => {
    fs.writeSync(2, `onnx-cle: ${e && e.message ? e.message : e}\n`);
    process.exitCode = 2;
  });
} else {
  parentPort.postMessage(await runCli(workerData.args, registry(workerData.shared)));
}

/** Runs the CLI on args; returns its exit status. */
async function runCli(args, temps) {
  const { loadRuntime } = await import('../wasm/node.js');

  // strerror() wording, so messages match the native build
  const reasons = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EPERM: 'Operation not permitted',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    ENOSPC: 'No space left on device',
    EROFS: 'Read-only file system',
    ELOOP: 'Too many levels of symbolic links',
    ENAMETOOLONG: 'File name too long',
    ENXIO: 'No such device or address',
    EEXIST: 'File exists',
    EBUSY: 'Device or resource busy',
    EXDEV: 'Invalid cross-device link',
    EDQUOT: 'Disk quota exceeded',
    EFBIG: 'File too large',
    EIO: 'Input/output error',
  };
  const why = (e) => reasons[e.code] || e.message;
  const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;

  const kindOf = (st) => (st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a pipe'
    : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'something else');

  // a file that is there but not to be read (CLE_E_UNSUPPORTED in C, not "not supplied")
  const refused = (message) => Object.assign(new Error(message), { refused: true });

  // Opens a file to read as src/cli/main.c's read_file does; returns [fd, size].
  function openRegular(name, within) {
    let target = name;
    if (within !== null) {
      let real;
      let realDir;
      try {
        real = fs.realpathSync.native(name);
      } catch (e) {
        throw new Error(`cannot open ${name}: ${why(e)}`);
      }
      try {
        realDir = fs.realpathSync.native(within);
      } catch (e) {
        throw new Error(`cannot open ${within}: ${why(e)}`);
      }
      if (!(realDir === '/' || real.startsWith(`${realDir}/`)))
        throw refused(`external data file ${name} leads outside the model's folder through a symbolic link`);
      target = real;
    }
    // refused by its kind before it is opened: opening a FIFO blocks, a device may act
    let st;
    try {
      st = fs.statSync(target);
    } catch (e) {
      throw new Error(`cannot open ${name}: ${why(e)}`);
    }
    if (!st.isFile()) throw refused(`${name} is ${kindOf(st)}, not a regular file`);
    let fd;
    try {
      fd = fs.openSync(target, O_RDONLY | O_NONBLOCK | O_NOCTTY | (within !== null ? O_NOFOLLOW : 0));
    } catch (e) {
      throw new Error(`cannot open ${name}: ${why(e)}`);
    }
    try {
      try {
        st = fs.fstatSync(fd);
      } catch (e) {
        throw new Error(`cannot read ${name}: ${why(e)}`);
      }
      if (!st.isFile()) throw refused(`${name} is ${kindOf(st)}, not a regular file`);
      return [fd, st.size];
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  function outCheck(name) {
    let st;
    try {
      st = fs.statSync(name);
    } catch {
      return; // absent (or unreadable): creating the temporary file says why not
    }
    if (!st.isFile()) throw new Error(`cannot write ${name}: it is ${kindOf(st)}, not a regular file`);
  }

  // Temporary files: ".NAME.onnx-cle-PID-XXXXXX" in OUT's folder, as main.c names them.
  const TAG = '.onnx-cle-';
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return e.code !== 'ESRCH';
    }
  };
  // removes what killed runs left of OUT's temporary files: the name's pattern, a pid
  // that no longer exists, and not another user's (main.c's temp_stale)
  function removeStale(dir, prefix) {
    let names;
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    const euid = process.geteuid ? process.geteuid() : -1;
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const m = /^([0-9]{1,10})-[A-Za-z0-9]{6}$/.exec(name.slice(prefix.length));
      const pid = m ? Number(m[1]) : 0;
      if (!(pid > 0 && pid <= 0x7fffffff) || pid === process.pid || alive(pid)) continue;
      const file = `${dir}/${name}`;
      try {
        const st = fs.lstatSync(file);
        if (st.uid === euid && (st.isFile() || st.isSymbolicLink())) fs.unlinkSync(file); // a link is removed, not followed
      } catch {
        // gone already, or not ours to remove
      }
    }
  }
  const outMode = (name) => {
    try {
      const st = fs.statSync(name);
      if (st.isFile()) return st.mode & 0o777;
    } catch {
      // a new file
    }
    return 0o666 & ~process.umask();
  };

  const outputs = new Map();
  let nextOutput = 0;

  // fd 1 and 2 written in place: this thread's process.stdout is a pipe to the main thread
  const writeAll = (fd, bytes) => {
    const wait = new Int32Array(new SharedArrayBuffer(4));
    for (let off = 0; off < bytes.length;) {
      try {
        off += fs.writeSync(fd, bytes, off);
      } catch (e) {
        if (e.code !== 'EAGAIN') return; // as a closed pipe would end the native build, say nothing more
        Atomics.wait(wait, 0, 0, 5);
      }
    }
  };

  const host = {
    print(fd, bytes) {
      writeAll(fd === 2 ? 2 : 1, bytes);
    },
    color(fd) {
      return isatty(fd) && !process.env.NO_COLOR;
    },
    tty(fd) {
      return isatty(fd);
    },
    fileSize(name, within) {
      const [fd, size] = openRegular(name, within);
      fs.closeSync(fd);
      return size;
    },
    // view() gives the destination in wasm memory; read straight into it
    fileRead(name, within, view) {
      const [fd, size] = openRegular(name, within);
      try {
        const total = view().length;
        if (size !== total) throw new Error(`cannot read ${name}: it changed while being read`);
        let got = 0;
        while (got < total) {
          const dst = view();
          const n = fs.readSync(fd, dst, got, Math.min(total - got, 1 << 30), got);
          if (n === 0) throw new Error(`cannot read ${name}: it changed while being read`);
          got += n;
        }
      } catch (e) {
        throw e.code ? new Error(`cannot read ${name}: ${why(e)}`) : e;
      } finally {
        fs.closeSync(fd);
      }
    },
    // check's folders: [kind, name] for each entry ('d' a folder, 'f' a regular file or a
    // link to one, '-' anything else, links to folders too), or null when name is no folder
    listDir(name) {
      let st;
      try {
        st = fs.statSync(name);
      } catch {
        return null; // reading it as a file says why
      }
      if (!st.isDirectory()) return null;
      let entries;
      try {
        entries = fs.readdirSync(name, { withFileTypes: true });
      } catch (e) {
        throw new Error(`cannot open ${name}: ${why(e)}`);
      }
      return entries.map((d) => {
        if (d.isDirectory()) return ['d', d.name];
        if (d.isFile()) return ['f', d.name];
        if (d.isSymbolicLink()) {
          try {
            if (fs.statSync(`${name}/${d.name}`).isFile()) return ['f', d.name];
          } catch {
            // a dangling link
          }
        }
        return ['-', d.name];
      });
    },
    outCheck,
    outOpen(name) {
      outCheck(name);
      const slash = name.lastIndexOf('/');
      const dir = slash < 0 ? '.' : slash === 0 ? '/' : name.slice(0, slash);
      const prefix = `.${name.slice(slash + 1)}${TAG}`;
      if (encoder.encode(prefix).length > 256) throw new Error(`cannot write ${name}: ${reasons.ENAMETOOLONG}`);
      removeStale(dir, prefix);
      for (let tries = 0; tries < 100; tries++) {
        const random = [...randomBytes(6)].map((b) => ALNUM[b % ALNUM.length]).join('');
        const tmp = `${dir}/${prefix}${process.pid}-${random}`;
        // registered before it is made: the main thread stops this one at any point, and a
        // file made but not yet registered would stay.  What else could be at this name is
        // only what an earlier process of this same pid left, which is ours to remove.
        const slot = temps.add(tmp);
        let fd;
        try {
          fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0o600);
        } catch (e) {
          temps.remove(slot);
          if (e.code === 'EEXIST') continue;
          throw new Error(`cannot write ${name}: ${why(e)}`);
        }
        outputs.set(nextOutput, { fd, name, tmp, slot });
        return nextOutput++;
      }
      throw new Error(`cannot write ${name}: ${reasons.EEXIST}`);
    },
    outWrite(handle, bytes) {
      const o = outputs.get(handle);
      try {
        for (let off = 0; off < bytes.length;) off += fs.writeSync(o.fd, bytes, off);
      } catch (e) {
        throw new Error(`cannot write ${o.name}: ${why(e)}`);
      }
    },
    outClose(handle, commit) {
      const o = outputs.get(handle);
      outputs.delete(handle);
      try {
        if (commit) {
          fs.fchmodSync(o.fd, outMode(o.name));
          fs.fsyncSync(o.fd);
        }
        fs.closeSync(o.fd);
        if (commit) {
          outCheck(o.name); // an OUT that became a device, a pipe or a folder meanwhile is not replaced
          fs.renameSync(o.tmp, o.name);
        }
      } catch (e) {
        fs.rmSync(o.tmp, { force: true });
        temps.remove(o.slot);
        throw e.code ? new Error(`cannot write ${o.name}: ${why(e)}`) : e;
      }
      if (!commit) fs.rmSync(o.tmp, { force: true });
      temps.remove(o.slot);
    },
  };

  let status;
  try {
    const runtime = await loadRuntime({}, host);
    status = runtime.cli(args);
  } catch (e) {
    writeAll(2, encoder.encode(`onnx-cle: ${e && e.message ? e.message : e}\n`));
    status = 2;
  }
  return status;
}
