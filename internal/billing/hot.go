package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchyard/switchyard/internal/usage"
)

// hold is one reservation in flight.
type hold struct {
	charge  string // the ledger request id of its rows
	request string // the client's request id, for the ledger note
	user    int64
	key     int64  // 0 = none
	amount  Micros // held
	quota   Micros // the key's cap, NoCap for none
}

// NoCap is a key quota meaning "no cap".
const NoCap Micros = -1

// ShortError refuses a reservation: the wallet (or, with Quota set, the
// key's quota) has less available than the request's estimate.
type ShortError struct {
	Quota     bool   // the key's quota was short, not the wallet
	Need      Micros // the estimate
	Available Micros
}

func (e *ShortError) Error() string {
	what := "wallet balance"
	if e.Quota {
		what = "key quota"
	}
	return fmt.Sprintf("%s available %s is below the %s this request may cost", what, e.Available, e.Need)
}

// ErrHotState wraps a failure of the hot state (Redis unreachable, the
// journal file unwritable): the request cannot be charged safely.
var ErrHotState = errors.New("billing state unavailable")

// loader reads the durable balance of a user and the durable spend of a key
// (0 for key 0), for the hot state's first sight of them.
type loader func(ctx context.Context, user, key int64) (balance, spent Micros, err error)

// hotState is where reservations live between the request and the ledger:
// process memory with a journal file on one node, Redis with several. For
// each user it keeps base (the balance on the ledger as last read) and
// pending (the sum of journaled movements not yet on the ledger); what a
// user may spend is base + pending. Keys likewise keep the spend on the
// ledger and the spend pending. Every change of pending is journaled in
// the same atomic step, so pending always equals what the journal holds.
type hotState interface {
	// reserve holds h.amount from the user's wallet and the key's quota,
	// both or neither; a *ShortError when either is short.
	reserve(ctx context.Context, h *hold) error
	// settle gives h back and charges cost, capped so that neither the
	// wallet nor the quota ends more than overdraft below zero, and returns
	// the charge.
	settle(ctx context.Context, h *hold, cost, overdraft Micros) (Micros, error)
	// usage journals one usage row, in its compact form (journal.go).
	usage(ctx context.Context, row *usage.Row) error

	// take returns the next journal records for the drainer, nil when
	// there are none (or another node drains).
	take(ctx context.Context, max int) (*batch, error)
	// ack drops b from the journal once it is on the ledger, and sets the
	// base of every user and key it moved to fresh, read after the post.
	ack(ctx context.Context, b *batch, fresh balances) error
	// known lists the users and keys held, for refresh.
	known(ctx context.Context) (users, keys []int64, err error)
	// refresh sets bases read from the ledger (credits, adjustments).
	// Only the drainer calls it, never between a post and its ack.
	refresh(ctx context.Context, fresh balances) error
	// reap releases the reservations of nodes that died (Redis only).
	reap(ctx context.Context, overdraft Micros) error
	close() error
}

// batch is journal records taken for posting.
type batch struct {
	recs []record
	n    int    // Redis: how many list items to trim
	path string // file journal: the rotated file
}

// balances are durable values: users' balances, keys' spends.
type balances struct {
	users map[int64]Micros
	keys  map[int64]Micros
}

// capCharge is the charge of cost after a hold was released: at most what
// leaves avail (and the key's quota room) overdraft below zero.
func capCharge(cost, avail, overdraft Micros, quota, spent Micros) Micros {
	limit := avail + overdraft
	if quota >= 0 {
		limit = min(limit, quota-spent+overdraft)
	}
	return max(min(cost, limit), 0)
}
