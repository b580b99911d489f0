// Package sdk drives a real Switchyard gateway with the official Go SDKs,
// github.com/openai/openai-go/v3 and github.com/anthropics/anthropic-sdk-go,
// so that "any SDK just works" is tested with the SDKs' own request
// building, stream accumulation and error typing rather than with our
// reading of the wire formats.
//
// Design choices:
//
//   - A separate module (test/sdk/go.mod, replacing the main module with
//     ../..) keeps the SDKs and their dependencies out of the binary's
//     go.mod. Its path lies under the main module's, so the tests may use
//     internal/app/apptest and internal/mock like the in-tree tests do.
//     `go test ./...` at the root does not descend into it; `make test`
//     runs it separately.
//   - Every test starts a gateway (apptest.Start) in front of the mock
//     upstream over loopback sockets, with one channel of each upstream
//     type (openai, azure, anthropic, gemini), each serving its own model
//     names, and runs table-driven subtests over the channel types that
//     serve the surface (README.md, "Endpoints").
//   - Assertions are on content: the mock's deterministic "Mock reply to: …"
//     text, usage above zero and equal between a stream and its non-stream
//     twin, tool names, ids and synthesised arguments, and the typed errors'
//     status, type, code and param.
//   - What the SDKs expose that the gateway gets wrong today is listed in
//     gatewayGaps (gateway_test.go); the checks of a listed gap skip, and
//     run again once its entry is removed.
package sdk
