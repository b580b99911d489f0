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
//   - Routing is the Scheduler's (internal/pool implements it): the relay
//     only asks for each attempt's target and reports how the attempt went.
//   - The client's request context is the upstream request's parent, so a
//     client that goes away cancels the upstream call at once.
//   - Billing plugs in through the Meter (meter.go): it reserves the
//     request's estimated cost before the first attempt (a refusal is
//     answered without calling any upstream; an Exchange's Prepare, its
//     costly checks such as decoding uploads, runs only after the
//     reservation) and settles exactly once. A
//     complete answer is settled before its last bytes (the non-stream
//     body, a stream's closing events) are written, so a node that dies
//     then has already charged it. (Passthrough streams relay the
//     upstream's own closing event, message_stop or response.completed,
//     from Feed; the relay settles before writing it.) Every other ending is settled when the request ends. OnDone
//     then receives the Result of every request the relay took, refused and
//     failed ones too, with the Cost the settle charged.
package relay
