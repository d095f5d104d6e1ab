// worker-script.node.js — what runs inside the worker thread that Node's
// createWorker() starts: the Node API, served over messages.
import { parentPort } from 'node:worker_threads';
import * as api from './index.node.js';
import { serve } from './worker-protocol.js';

serve(
  api,
  (msg, transfer) => parentPort.postMessage(msg, transfer ?? []),
  (fn, unreadable) => {
    parentPort.on('message', fn);
    parentPort.on('messageerror', unreadable);
  },
);
