// Package billing knows money: prices, the charging of every request, the
// durable ledger of every movement of a user's wallet, operator top-ups and
// adjustments, starting credit, and redemption and invite codes.
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
// # Charging requests without a database write per request
//
// A request's money moves in three steps: reserve an estimate before the
// first upstream attempt, settle the actual cost when the answer is known,
// release the rest. None of them waits on the database. They run against
// a hot state (hotState) that keeps, per user, the balance as last read
// from the ledger (base) and the sum of movements journaled but not yet
// posted (pending); a user may hold base + pending. Keys keep their spend
// against their quota the same way. Meter is the API: Reserve, Hold.Settle,
// LogUsage, and a drainer that posts the journal in the background.
//
//   - One node (no Redis): the hot state is process memory behind one
//     mutex, journaled to a file under data_dir/billing (hot_memory.go).
//     A settle is written before it returns, with the reserve and usage
//     records queued before it, in one write(2); a write that returned is
//     in the kernel and survives SIGKILL. Usage rows queued after the last
//     settle reach the file within one drain tick (200 ms). The file is
//     not fsynced, so a power cut can lose the last instants.
//   - Several nodes (Redis): the hot state and the journal are in Redis;
//     reserve and settle are one Lua script each, so the check, the move
//     and the journal append are one atomic step on one shared budget
//     (hot_redis.go). Redis must persist (appendonly) for a crash of Redis
//     itself not to lose the journal's tail; the app warns at start when it
//     does not (store.WarnIfVolatile). Usage rows wait in the node
//     up to 20 ms and go in one RPUSH per batch; a node killed meanwhile
//     loses those rows (no money is in them), and rows logged while Redis
//     is unreachable wait for it.
//
// Reserve holds the estimate from the wallet and the key's quota, both or
// neither, and refuses (ShortError → 429 insufficient_quota) when either
// has less available. The relay settles a complete answer before its last
// bytes reach the client, so a client that got a whole answer was charged
// for it even if the node dies the next instant.
//
// # The overspend bound
//
// Holds are exact: concurrent requests, on one node or many, can never
// hold more than is available, because the check and the hold are one
// atomic step. A wallet or a quota can only go below zero when a request
// costs more than it reserved (an upstream that ignores max_tokens, a
// prompt larger than its estimate). Settle then charges at most what
// leaves the wallet and the quota billing.overdraft below zero (default
// 0: never below zero); the gateway absorbs the rest, and the usage log
// records the cost actually charged. So at every moment, for every wallet
// and key: balance >= -overdraft and spend <= quota + overdraft.
//
// # Posting and crashes
//
// The drainer (every 200 ms; one node at a time with Redis, under a lock)
// takes journal records, posts them with PostBatch, reads the posted
// users' and keys' durable values and, in one step, drops the records and
// moves their amounts from pending to base. Each hold becomes ledger rows
// under its charge id: reserve (-estimate), release (+estimate) and settle
// (-cost); the row's request id is the charge id, never the client's
// request id (which a client may repeat), and the reserve row's note names
// the client's request id. With the file journal, a hold reserved and
// settled within one journal file is only its settle row, with the
// reserve's note (see entries). PostBatch ignores a (request id, kind) already
// on the ledger, so a crash between posting and dropping posts nothing
// twice. Usage rows travel in the same journal and are idempotent by
// charge id.
//
// A node killed with holds open: on one node the journal file always holds
// every open hold (rotation copies them into the new file), and at start
// the meter posts the files left behind and releases every hold that was
// never settled. With Redis each node's open holds are listed under its
// id; a node restarted with the same data_dir releases its own at once,
// and any node releases those of a node whose heartbeat has expired (30 s).
// A node that was only cut off and settles later is charged without
// releasing twice.
//
// A database has one hot state: the row 'billing' of leases names it (one
// node's id, or the Redis prefix its nodes share), and a meter of another
// waits for it to lapse or is refused (lease.go). A node without Redis also
// locks its journal directory, so a second process on one data_dir cannot
// post the first one's live journal as a dead process's leftovers.
//
// Credits (top-ups, codes, adjustments) go straight to the ledger; the
// drainer re-reads the balances it holds every second, so they become
// spendable within about a second on every node.
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
