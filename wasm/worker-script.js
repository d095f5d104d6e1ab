// worker-script.js — what runs inside the Web Worker that createWorker()
// starts (`onnx-cle/worker-script`): the browser API, served over messages.
import * as api from './index.js';
import { serve } from './worker-protocol.js';

serve(
  api,
  (msg, transfer) => self.postMessage(msg, transfer ?? []),
  (fn, unreadable) => {
    self.addEventListener('message', (e) => fn(e.data));
    self.addEventListener('messageerror', () => unreadable(new Error('messageerror')));
  },
);
