{
  "targets": [
    {
      "target_name": "kboot",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/convert.cc",
        "native/guest_memory.cc",
        "native/guest_ram.cc",
        "native/cpu_engine.cc",
        "native/cpu_regs.cc",
        "native/cpu_memory_map.cc",
        "native/cpu_accel.cc",
        "native/cpu_exceptions.cc",
        "native/cpu.cc",
        "native/compress.cc",
        "native/file_writer.cc",
        "native/page_digest.cc",
        "native/fs_lock.cc",
        "native/snapshot.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "libraries": ["-lunicorn", "-lzstd", "-lz"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
