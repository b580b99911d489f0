// Package limit enforces rate limits: smooth rates (rpm, tpm) with GCRA and
// caps per UTC day, in process memory (Memory) or in Redis (Redis).
//
// GCRA, the generic cell rate algorithm, keeps one number per key: the
// theoretical arrival time (TAT), the instant at which the key would be idle
// again if nothing more arrived. A rule of Limit units per Period has an
// emission interval T = Period/Limit; a request of n units at now moves the
// TAT to max(TAT, now) + n·T, and is allowed when the new TAT is at most one
// Period ahead of now. So an idle key takes a burst of Limit units at once
// and then one unit per T; a refused request learns exactly how long to wait
// (new TAT - now - Period). The TAT is kept as microseconds plus a fraction
// in 1/Limit µs, so exactly Limit units fit one Period even when Period/Limit
// is not a whole number of microseconds.
//
// Debt: Charge moves the TAT (or the day's count) without checking, as when
// a request reserved an estimate of tokens and the real count came in
// higher. The TAT may then lie more than a Period ahead; every Take on the
// rule is refused until time has paid the excess back, and its RetryAfter
// says when. A negative Charge gives units back, never past now. A Daily
// debt lasts until the day ends: the next UTC day starts from zero.
//
// Several nodes: Redis holds one budget shared by every node using the same
// server and prefix, and one Lua script checks and writes all the rules of a
// Take atomically, so two nodes can never both spend the last unit. Memory is
// per node: with N nodes behind a balancer the effective limit is up to N
// times the configured one, which is why the gateway uses Redis when it is
// configured. The clock always comes from the caller (now), so the nodes'
// clocks should agree; keys outlive their usefulness by a margin to absorb
// small differences.
//
// On Redis Cluster every key of one Take must hash to one slot: give the
// prefix a hash tag, such as "{sy}:limit:".
package limit
