{
  "targets": [
    {
      "target_name": "bittrrt_io",
      "sources": ["native/io.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
