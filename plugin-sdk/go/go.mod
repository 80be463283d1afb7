module plugin-runtime.dev/sdk

go 1.24
