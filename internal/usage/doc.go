// Package usage is the per-request usage log: what each request asked for,
// where it went, what came back, how long it took and what it cost. It is
// the operator's answer to "what happened to request X" and "who used what
// this week", and is kept apart from the ledger, which records money only.
//
// # Written in batches, off the hot path
//
// A request never waits on a database write. When it ends, the gateway
// appends its Row to the billing journal (a local file, or a Redis list with
// several nodes) together with its settle line, and the journal's drainer
// later hands many rows at once to Store.Insert: one transaction of
// multi-row INSERTs, a few hundred rows per statement. One statement per
// request would cost a round trip and, on SQLite, a turn of the single
// writer per request; batching keeps the log's cost flat as traffic grows.
//
// # Idempotency
//
// Each row carries the request's billing charge id, unique in the table.
// Insert ignores a row whose charge id is stored already, so a batch written
// again after a crash, a timeout or a failover stores every request once and
// the drainer can always retry a batch unchanged. The log has no foreign
// keys on purpose: it outlives deleted users and keys, and a row is never
// refused because its key went away between the request and the drain.
//
// Insert also makes every row fit: strings are cleaned to valid UTF-8
// without NUL bytes and clipped to their column's size in characters, so
// one odd upstream error message cannot block a batch forever.
//
// # Rollups for analytics
//
// The console's charts never scan the log. Insert also adds each batch's
// new rows to rollup tables (rollup.go) in the same transaction: per minute
// (kept 25 h), hour (32 days) and day (400 days), the total and one row per
// model, channel, credential, key and user, for the whole gateway and for
// each user. Each row holds requests, errors, tokens, spend and a small
// latency histogram, so that buckets merge by addition and percentiles are
// estimated after merging. Only rows the transaction actually stored count
// (rows already logged are found first, and a concurrent writer that stored
// some of them makes the transaction run again), so the rollups always
// equal the log aggregated. Stats (analytics.go) reads a range's series
// from one (scope, total) range of the primary key and a breakdown from
// whole days plus finer edges; BenchmarkDashboard measures it over the
// rollups of 10 million requests.
package usage
