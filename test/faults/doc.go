// Package faults runs a real gateway node (app.App on loopback, SQLite and,
// where it matters, PostgreSQL and Redis) in front of the real mock
// upstream over sockets, and breaks things: the upstream, the network, the
// client, Redis and the database. Each case asserts what the client sees
// (status and error code in the OpenAI shape, or a stream's abort event),
// what the books record once the meter is drained (no charge for a failed
// request, relayed tokens only for a cut stream, every reserve released,
// a clean ledger audit) and that nothing leaks (goroutines back to their
// baseline, no pool lease left).
//
// The cases:
//
//  1. 429 / 500 / 502 / 503 bursts on one credential are failed over (200);
//     on every credential they give 429 no_available_channel (429) or 502
//     upstream_error, at no cost.
//  2. A channel whose base_url is a closed loopback port: 502, fast.
//  3. A first byte slower than upstream.first_byte_timeout: 502 in bounded
//     time, no cost.
//  4. A stream stalled mid-way beyond upstream.stream_idle_timeout: the
//     abort event, charged for the relayed part only.
//  5. A connection dropped mid-stream (drop_after) or before any byte
//     (hangup): abort event or 502; charged for the relayed part only.
//  6. Malformed JSON and malformed SSE from the upstream: 502 or abort,
//     never a 500 or a Go error text.
//  7. A client leaving mid-stream: the upstream call is cancelled at once,
//     a 499 usage row, charged for the relayed part.
//  8. A client reading slowly: the gateway holds back the upstream rather
//     than buffer the answer, then delivers all of it.
//  9. A private Redis killed and restarted on the same port: 503
//     limiter_unavailable (or billing_unavailable for a key without rate
//     limits) quickly while it is gone, service again soon after it is
//     back.
//  10. The database locked for a few seconds (SQLite write lock, PostgreSQL
//     ACCESS EXCLUSIVE on users): requests keep being served, and the
//     journal drains to a clean ledger once the lock is gone.
//
// The cases run one after another, never in parallel: the goroutine count
// they compare is the whole process's.
package faults
