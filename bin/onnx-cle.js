#!/usr/bin/env node
// onnx-cle — the command line on the wasm build.  The commands, options,
// output and exit codes are the C library's own (src/cli/cli.c), so this
// prints exactly what the native `onnx-cle` prints; this file only does I/O.
import fs from 'node:fs';
import { loadRuntime } from '../wasm/node.js';

// strerror() wording, so messages match the native build
const reasons = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
};
const why = (e) => reasons[e.code] || e.message;

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
  fileSize(path) {
    let st;
    try {
      st = fs.statSync(path);
    } catch (e) {
      throw new Error(`cannot open ${path}: ${why(e)}`);
    }
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    return st.size;
  },
  // view() gives the destination in wasm memory; read straight into it
  fileRead(path, view) {
    const fd = fs.openSync(path, 'r');
    try {
      const total = view().length;
      let got = 0;
      while (got < total) {
        const dst = view();
        const n = fs.readSync(fd, dst, got, Math.min(total - got, 1 << 30), got);
        if (n === 0) throw new Error(`cannot read ${path}: it changed while being read`);
        got += n;
      }
    } catch (e) {
      throw new Error(e.code ? `cannot read ${path}: ${why(e)}` : e.message);
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
