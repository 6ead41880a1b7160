{
  "targets": [
    {
      "target_name": "rtp_io",
      "sources": ["rtp_io.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", { "type": "none" }]]
    }
  ]
}
