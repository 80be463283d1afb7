module plugin-runtime.dev/examples/hello-go

go 1.24

require plugin-runtime.dev/sdk v0.0.0

replace plugin-runtime.dev/sdk => ../../../plugin-sdk/go
