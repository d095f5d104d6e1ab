#!/usr/bin/env node
// onnx-cle — the command line on the wasm build.  The commands, options,
// output and exit codes are the C library's own (src/cli/cli.c), so this
// prints exactly what the native `onnx-cle` prints; this file only does I/O,
// with the native host's rules (src/cli/main.c): a file that is not a
// regular one is refused before it is opened, and external data only from
// inside the model's folder once links are resolved.
import fs from 'node:fs';
import { loadRuntime } from '../wasm/node.js';

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
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;

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

const outputs = new Map();
let nextOutput = 0;

const host = {
  print(fd, bytes) {
    (fd === 2 ? process.stderr : process.stdout).write(bytes);
  },
  color(fd) {
    const stream = fd === 2 ? process.stderr : process.stdout;
    return Boolean(stream.isTTY) && !process.env.NO_COLOR;
  },
  tty(fd) {
    return Boolean((fd === 2 ? process.stderr : process.stdout).isTTY);
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
  // written to a temporary name and renamed into place on success
  outOpen(path) {
    const tmp = `${path}.tmp-${process.pid}`;
    let fd;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (e) {
      throw new Error(`cannot write ${path}: ${why(e)}`);
    }
    outputs.set(nextOutput, { fd, path, tmp });
    return nextOutput++;
  },
  outWrite(handle, bytes) {
    const o = outputs.get(handle);
    try {
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(o.fd, bytes, off);
    } catch (e) {
      throw new Error(`cannot write ${o.path}: ${why(e)}`);
    }
  },
  outClose(handle, commit) {
    const o = outputs.get(handle);
    outputs.delete(handle);
    try {
      if (commit) fs.fsyncSync(o.fd);
      fs.closeSync(o.fd);
      if (commit) fs.renameSync(o.tmp, o.path);
    } catch (e) {
      fs.rmSync(o.tmp, { force: true });
      throw new Error(`cannot write ${o.path}: ${why(e)}`);
    }
    if (!commit) fs.rmSync(o.tmp, { force: true });
  },
};

const runtime = await loadRuntime({}, host);
process.exitCode = runtime.cli(process.argv.slice(2));
