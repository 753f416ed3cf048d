{
  "targets": [
    {
      "target_name": "tfo",
      "sources": [
        "src/addon.cc",
        "src/socket.cc",
        "src/sockopt.cc",
        "src/tcpinfo.cc",
        "src/states.cc",
        "src/netlink.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-static-libstdc++", "-static-libgcc"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources": [] }]
      ]
    }
  ]
}
