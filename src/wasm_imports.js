// The host functions onnx-cle.wasm imports (module "env"), named here so
// Emscripten links them as imports.  They are implemented in wasm/core.js.
mergeInto(LibraryManager.library, {
  host_print: function () {},
  host_color: function () {},
  host_tty: function () {},
  host_file_size: function () {},
  host_file_read: function () {},
  host_out_check: function () {},
  host_out_open: function () {},
  host_out_write: function () {},
  host_out_close: function () {},
  host_sink_begin: function () {},
  host_sink_write: function () {},
  host_data_begin: function () {},
  host_data_write: function () {},
  host_document: function () {},
  host_progress: function () {},
  host_ext_size: function () {},
  host_ext_read: function () {},
});
