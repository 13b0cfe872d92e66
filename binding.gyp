{
  "targets": [
    {
      "target_name": "ved",
      "sources": ["<!@(node -p \"require('./sources.json').sources.join(' ')\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["<!@(node -p \"require('./sources.json').defines.join(' ')\")"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["<!@(node -p \"require('./sources.json').cflags.join(' ')\")"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["<!@(node -p \"require('./sources.json').cflags.join(' ')\")"],
        "MACOSX_DEPLOYMENT_TARGET": "<!(node -p \"require('./sources.json').macosDeploymentTarget\")"
      },
      "conditions": [
        ["OS=='win'", {
          "defines": ["_HAS_EXCEPTIONS=1"],
          "libraries": ["bcrypt.lib"],
          "msvs_settings": {
            "VCCLCompilerTool": {
              "ExceptionHandling": 1,
              "LanguageStandard": "stdcpp17"
            }
          }
        }]
      ]
    }
  ]
}
