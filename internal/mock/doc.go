// Package mock is a fake AI upstream speaking the OpenAI, Azure OpenAI,
// Anthropic, Gemini and AWS Bedrock (Converse) wire formats, with fault
// injection. The gateway's
// tests, demo and benchmarks talk to it over real sockets.
//
// Design choices:
//
//   - Deterministic: a reply is "Mock reply to: <first 40 chars of the last
//     user text>" followed by filler words, split into Fault.Chunks pieces
//     (default 8). Prompt tokens are len(input text)/4 (+85 per image, min 1);
//     completion tokens are the words produced (a quarter of the bytes for a
//     tool call). Stream and non-stream answers carry the same text and usage.
//   - Tools: declared tools (and a tool_choice that is not "none") answer with
//     a call to the chosen or first tool, its arguments synthesised from the
//     schema's required properties; a trailing tool result answers with text.
//     A tool=NAME directive picks one of many declared tools (an agent declares
//     dozens) and tool_arg=key:value sets one string argument of the call.
//   - Web search: an Anthropic request declaring the web_search_… server
//     tool that gets a text answer searches once first (server_tool_use,
//     web_search_tool_result with one result at MockSearchURL, text with
//     one citation, usage.server_tool_use.web_search_requests 1), stream or
//     not; a client tool call (tool=NAME) wins over the search. A Gemini
//     request declaring googleSearch gets groundingMetadata (one query, one
//     page at MockSearchURL supporting the whole text) with its last text.
//   - Streams are generated piece by piece and flushed per event, never built
//     in memory: per-chunk events are pre-marshalled templates with holes, so
//     long streams cost a few appends per chunk.
//   - Faults are per request (X-Mock-Fault header, then a [[mock k=v …]]
//     directive anywhere in the body — the last one wins) or per credential
//     (SetFault, PUT /_mock/faults). Directive text survives JSON escaping and
//     format translation, so tests through a gateway can trigger faults from
//     the prompt. Per-credential rules are a copy-on-write map behind an
//     atomic pointer: no lock on the request path.
//   - Counters are atomics and sync.Map cells; recorded requests live in a
//     ring per credential with its own lock, so concurrent keys never contend.
//     Options.DisableRecording removes even that for benchmarks.
//   - Images are solid-colour PNG/JPEG/WebP (a hand-written zero-bit VP8L,
//     as the standard library has no WebP encoder), encoded once per
//     size/format/padding and cached with their base64 form.
//   - Gemini images: generateContent with responseModalities IMAGE on a
//     model named *image* answers a text part and a PNG inlineData part of
//     the asked aspect ratio; :predict on imagen-* answers sampleCount
//     predictions (images_delivered answers fewer). See gemini_images.go.
//   - OpenAI-compatible quirks: /quirks/{list}/v1/chat/completions is chat
//     as a server that reasons (reasoning_content), refuses stream_options
//     or max_completion_tokens, omits usage or takes no key; see quirks.go.
//   - OAuth2: POST /oauth/token takes the refresh_token grant (RFC 6749 §6,
//     form-encoded; client_id/client_secret and HTTP Basic client auth are
//     ignored) and answers a new "mock-at-…" access token and a rotated
//     "mock-rt-…" refresh token. A refresh token works once: the first use of
//     any string succeeds (tests seed their own), a second is invalid_grant.
//     expires_in is 3600 unless the token URL carries ?expires_in=N. The
//     refresh token is the credential for counters, records and faults; a
//     fault's status answers in the RFC 6749 §5.2 error shape (400 is
//     invalid_grant, like a revoked token) and leaves the token unused.
//     Reset forgets which tokens were used.
//   - Vertex AI: POST /vertex/token takes the JWT bearer grant (RFC 7523)
//     and accepts only RS256 assertions signed with the mock's published
//     test key (VertexServiceAccount makes key files holding it), with the
//     cloud-platform scope and an hour's lifetime at most. It answers a
//     random "ya29.mock-…" token (?expires_in=N as above); the publisher
//     routes /v1/projects/{p}/locations/{l}/publishers/google/models/
//     {m}:generateContent|streamGenerateContent?alt=sse and …/anthropic/
//     models/{m}:rawPredict|streamRawPredict (anthropic_version
//     vertex-2023-10-16 in the body, no model) answer like the Gemini and
//     Anthropic mocks. The credential is the token's client_email (an
//     unknown or expired token is a 401), "token:"+client_email at the token
//     endpoint; faults apply to both. Reset forgets the tokens.
//   - Bedrock: POST /model/{model}/converse and /converse-stream, the latter
//     as an AWS event stream (one message per event, CRCs set). Requests
//     must carry a valid SigV4 signature for service "bedrock" in any
//     region; the secret of access key id X is AWSSecret(X), so any id
//     works and a wrong secret is refused (403 InvalidSignatureException).
//     The access key id is the credential for counters, records and
//     faults. Errors are {"message"} with x-amzn-ErrorType (a fault's
//     error_code overrides the type, e.g. ServiceQuotaExceededException);
//     error_after sends an exception message (:exception-type from
//     error_code, default internalServerException).
//
// Control API (no credential, never counted): GET /_mock/counters,
// GET /_mock/requests[?credential=k], POST /_mock/reset,
// GET|PUT|DELETE /_mock/faults (PUT body {"credential":"k","fault":{…}},
// durations as Go strings), GET /_mock/files/{id} (images returned as URLs),
// GET /_mock/vertex-key[?email=…] (a service-account key file /vertex/token
// accepts).
package mock
