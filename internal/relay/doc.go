// Package relay is the provider-independent request pipeline: pick an
// upstream target for the asked model, send the request through the target's
// transport, retry on another target while nothing has reached the client,
// and copy the answer to the client event by event while counting usage.
//
// Design choices:
//   - The relay knows no provider's wire format. Each upstream type is a
//     ChatAdapter (declared here, implemented in internal/provider/*): it
//     builds the upstream HTTP request from the client's raw OpenAI chat body
//     and turns the upstream's answer back into OpenAI chat JSON or chunks.
//     Same-format adapters pass the body through with byte-level edits.
//   - Retries happen only before the first byte reached the client. A stream
//     commits when its first translated event is written; a stream that fails
//     before that is retried like a failed connect.
//   - One *http.Transport per proxy URL, shared by every channel that uses
//     it, so connections are pooled across channels and credentials.
//     ResponseHeaderTimeout bounds the time to first byte; the stream idle
//     timeout is a timer reset on every body read that cancels the request.
//   - Routing here is temporary (round robin over every enabled channel and
//     credential serving the model) until the pool package replaces it; the
//     Router is the only part that knows about config channels.
//   - The client's request context is the upstream request's parent, so a
//     client that goes away cancels the upstream call at once.
//   - OnDone receives the usage of every request that reached an upstream;
//     billing plugs in there.
package relay
