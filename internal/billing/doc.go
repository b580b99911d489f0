// Package billing knows money: the durable ledger of every movement of a
// user's wallet, operator top-ups and adjustments, starting credit, and
// redemption and invite codes.
//
// # The ledger invariant
//
// Money is integer micro-USD (Micros); no balance is ever computed in
// floating point. Every change to users.balance_micros is made by the same
// transaction that inserts the ledger row recording it, and the row carries
// the balance it left (balance_after_micros). So at every commit, for every
// user, balance_micros equals the sum of the user's ledger amounts: money
// is never created or lost. Audit checks exactly that in one statement.
//
// A movement that would take a balance below zero is refused
// (ErrInsufficient) by the UPDATE itself — "WHERE balance_micros + ? >= 0",
// judged by RowsAffected — never by reading first and writing after; only
// an entry marked AllowNegative may go below zero, and a credit is never
// refused. Each transaction locks the users rows it will move first, in
// ascending id order, so concurrent transactions on any of the three
// databases, from any number of nodes, serialise per user and never
// deadlock on each other (a transaction the database still picks as a
// victim is run again; every step is idempotent).
//
// # Idempotency
//
// ledger has UNIQUE (request_id, kind). Posting an entry first inserts its
// row; when the pair is already there the insert does nothing, the entry
// reports Applied false, and no balance moves. So a settle posted twice,
// a batch retried after a crash or a timeout, or a file credit applied at
// every start charges or credits exactly once. Request ids of the durable
// side: "grant:<reason>" (GrantOnce), "redeem:<code>:<user>" and
// "invite:<code>:<invitee>" (codes), "adjust:<random>" (operators).
//
// # How the hot path will use PostBatch
//
// The request path does not wait on one database write per request: it
// reserves and settles against balances held in memory (or in Redis with
// several nodes), and a background writer hands the resulting reserve,
// settle, release and refund entries to PostBatch, many per transaction.
// PostBatch applies them in order under the users' row locks; an entry
// refused for funds is reported in its Result without failing the others
// (settlements that must land are posted with AllowNegative), and a batch
// that failed as a whole may be posted again unchanged, because entries
// already on the ledger are recognised by (request id, kind). On restart
// the writer re-posts what it had not seen committed; duplicates are
// harmless.
//
// # Redemption codes
//
// Codes are "SYR-" and 20 Crockford base32 characters (100 bits) from
// crypto/rand, shown once and stored as their SHA-256 with a visible
// prefix. Redeem claims a use with one conditional UPDATE (uses <
// max_uses, not expired), records the redemption (unique per code and
// user, and per user for invite codes) and posts the credit, all in one
// transaction: of concurrent attempts on a single-use code exactly one
// wins. Unknown, used and expired codes all give ErrCodeInvalid.
package billing
