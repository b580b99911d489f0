package billing

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/ids"
	"github.com/switchyard/switchyard/internal/luabatch"
	"github.com/switchyard/switchyard/internal/pace"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/usage"
)

// MeterOptions configures a Meter.
type MeterOptions struct {
	DB     *store.DB
	Logger *slog.Logger
	// Redis, when set, holds the shared hot state of several nodes under
	// Prefix; otherwise it is this process's memory with a journal file
	// in JournalDir. With Redis, JournalDir (optional) keeps the node's id
	// across restarts.
	Redis      redis.UniversalClient
	Prefix     string
	JournalDir string
	// Overdraft bounds how far below zero a settle may take a wallet or a
	// key's quota when a request cost more than it reserved.
	Overdraft Micros
	// DrainEvery is how often the journal is posted to the ledger (default
	// 200 ms); RefreshEvery how often balances are re-read for credits
	// made elsewhere (default 1 s); Heartbeat how long a node that stopped
	// beating keeps its holds before another node releases them (Redis,
	// default 30 s).
	DrainEvery   time.Duration
	RefreshEvery time.Duration
	Heartbeat    time.Duration
	Now          func() time.Time
}

// Meter reserves, settles and journals request charges on the hot path
// and posts them to the ledger in the background. See the package doc.
type Meter struct {
	o      MeterOptions
	log    *slog.Logger
	hot    hotState
	lease  *lease
	unlock func() error // the journal directory's flock, one node without Redis
	ledger *Ledger
	usage  *usage.Store

	stop     chan struct{}
	stopped  chan struct{}
	running  atomic.Bool
	closed   sync.Once
	drainMu  sync.Mutex // one drain at a time (the loop, Close, tests)
	closeErr error
}

// drainBatch bounds the records taken per round, and so the entries and
// rows of one drain transaction.
const drainBatch = 4000

// NewMeter opens the hot state. On one node it first posts whatever a
// previous process left in the journal and releases its unsettled holds,
// so the node starts with the ledger complete.
func NewMeter(ctx context.Context, o MeterOptions) (*Meter, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DrainEvery <= 0 {
		o.DrainEvery = 200 * time.Millisecond
	}
	if o.RefreshEvery <= 0 {
		o.RefreshEvery = time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 30 * time.Second
	}
	if o.Overdraft < 0 {
		return nil, errors.New("billing meter: negative overdraft")
	}
	m := &Meter{o: o, log: o.Logger, ledger: NewLedger(o.DB, o.Now), usage: usage.NewStore(o.DB),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if o.Redis != nil {
		m.lease = &lease{db: o.DB, holder: redisHolder(o.Prefix), ttl: o.Heartbeat, log: m.log}
		if err := m.lease.acquire(ctx); err != nil {
			return nil, err
		}
		h, err := newRedisState(ctx, o.Redis, o.Prefix, o.JournalDir, o.Overdraft, o.Heartbeat, m.loadAccounts, m.log)
		if err != nil {
			return nil, err
		}
		m.hot = h
		return m, nil
	}
	if o.JournalDir == "" {
		return nil, errors.New("billing meter: no journal directory and no Redis")
	}
	// One process per journal directory: a second would post and remove
	// the first one's live journal as a dead process's leftovers.
	if err := os.MkdirAll(o.JournalDir, 0o700); err != nil {
		return nil, fmt.Errorf("create billing journal dir: %w", err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	unlock, err := store.LockFile(lockCtx, filepath.Join(o.JournalDir, "lock"))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("lock billing journal dir %s (is another switchyard process using this data_dir?): %w", o.JournalDir, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = unlock()
		}
	}()
	node, err := nodeID(o.JournalDir)
	if err != nil {
		return nil, err
	}
	m.lease = &lease{db: o.DB, holder: "node:" + node, ttl: o.Heartbeat, log: m.log}
	if err := m.lease.acquire(ctx); err != nil {
		return nil, err
	}
	h, old, err := newMemState(o.JournalDir, m.loadAccounts, m.log)
	if err != nil {
		return nil, err
	}
	m.hot = h
	if err := m.recover(ctx, old); err != nil {
		_ = h.close()
		return nil, err
	}
	m.unlock, ok = unlock, true
	return m, nil
}

// redisHolder names the hot state of the nodes sharing a Redis prefix; a
// prefix too long for the column is named by its hash.
func redisHolder(prefix string) string {
	if h := "redis:" + prefix; len(h) <= 191 {
		return h
	}
	sum := sha256.Sum256([]byte(prefix))
	return "redis:sha256:" + hex.EncodeToString(sum[:])
}

// Check reports what makes this meter unfit to charge: another gateway
// took the database's billing lease (see lease.go). /readyz calls it.
func (m *Meter) Check(context.Context) error { return m.lease.check() }

// recover posts journal files a previous process left, releases every
// hold in them that was never settled, and removes them.
func (m *Meter) recover(ctx context.Context, files []string) error {
	if len(files) == 0 {
		return nil
	}
	var recs []record
	for i, f := range files {
		r, err := readJournal(f, m.log)
		if err != nil {
			return err
		}
		for j := range r {
			r[j].file = i + 1 // folded as the live drain of that file folded them
		}
		recs = append(recs, r...)
	}
	open := map[string]record{}
	var order []string
	for _, r := range recs {
		switch r.kind {
		case recReserve:
			if _, ok := open[r.charge]; !ok {
				order = append(order, r.charge)
			}
			open[r.charge] = r
		case recSettle:
			delete(open, r.charge)
		}
	}
	released := 0
	for _, c := range order {
		if r, ok := open[c]; ok {
			recs = append(recs, record{kind: recSettle, charge: c, user: r.user, key: r.key, released: r.amount})
			released++
		}
	}
	if err := m.post(ctx, recs); err != nil {
		return fmt.Errorf("recover billing journal: %w", err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("remove recovered billing journal: %w", err)
		}
	}
	m.log.Info("billing journal recovered", "files", len(files), "records", len(recs), "released_holds", released)
	return nil
}

// Start runs the drainer until Close.
func (m *Meter) Start(ctx context.Context) {
	if m.running.CompareAndSwap(false, true) {
		go m.loop(context.WithoutCancel(ctx))
	}
}

func (m *Meter) loop(ctx context.Context) {
	defer close(m.stopped)
	drain := time.NewTicker(m.o.DrainEvery)
	defer drain.Stop()
	refresh := time.NewTicker(m.o.RefreshEvery)
	defer refresh.Stop()
	beat := time.NewTicker(max(m.o.Heartbeat/3, 10*time.Millisecond))
	defer beat.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-drain.C:
			// Paced: a drain is milliseconds of CPU (the SQLite batch
			// inserts above all), which on one core must not hold the P
			// while requests wait runnable (issue 22).
			if err := m.drain(pace.Background(ctx), false); err != nil {
				m.log.Warn("billing drain failed; will retry", "error", err.Error())
			}
		case <-refresh.C:
			if err := m.refresh(ctx); err != nil {
				m.log.Warn("billing refresh failed; will retry", "error", err.Error())
			}
		case <-beat.C:
			if r, ok := m.hot.(*redisState); ok {
				if err := r.beat(ctx); err != nil {
					m.log.Warn("billing heartbeat failed", "error", err.Error())
				}
			}
			m.lease.renew(ctx)
		}
	}
}

// Close stops the drainer, posts what is left and closes the hot state.
func (m *Meter) Close() error {
	m.closed.Do(func() {
		close(m.stop)
		if m.running.Load() {
			<-m.stopped
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Drain(ctx); err != nil {
			m.closeErr = fmt.Errorf("final billing drain: %w", err)
		}
		if err := m.hot.close(); err != nil && m.closeErr == nil {
			m.closeErr = err
		}
		// Released only once the journal is posted: the next owner starts
		// from a complete ledger.
		_, shared := m.hot.(*redisState)
		if m.closeErr == nil {
			if err := m.lease.release(ctx, shared); err != nil {
				m.closeErr = err
			}
		}
		if m.unlock != nil {
			if err := m.unlock(); err != nil && m.closeErr == nil {
				m.closeErr = fmt.Errorf("unlock billing journal dir: %w", err)
			}
		}
	})
	return m.closeErr
}

// Drain posts the journal to the ledger and the usage log until it is
// empty (or, with several nodes, until another node holds the drain).
func (m *Meter) Drain(ctx context.Context) error { return m.drain(ctx, true) }

// drain posts the journal, then checkpoints SQLite's WAL. The drainer's
// tick (untilEmpty false) posts one round unless that round was a full
// batch: under load the file journal is never empty, and going on would
// post, in its own commit, only what arrived during the previous round's
// post (eight small commits a tick instead of one, each rewriting the
// same pages).
func (m *Meter) drain(ctx context.Context, untilEmpty bool) error {
	m.drainMu.Lock()
	defer m.drainMu.Unlock()
	posted, err := m.rounds(ctx, untilEmpty)
	if err != nil || !posted {
		return err
	}
	// The WAL pages of the rounds go to the database file now, after a
	// yield, rather than inside some later commit (store.Checkpoint).
	pace.Yield(ctx)
	if _, err := m.o.DB.Checkpoint(ctx); err != nil {
		m.log.Warn("billing drain: checkpoint failed", "error", err.Error())
	}
	return nil
}

// rounds runs drain's rounds and reports whether one posted anything.
func (m *Meter) rounds(ctx context.Context, untilEmpty bool) (posted bool, err error) {
	if err := m.hot.reap(ctx, m.o.Overdraft); err != nil {
		return false, err
	}
	// A bounded number of rounds: under steady load the journal never
	// stays empty, and the next tick goes on.
	for range 8 {
		b, err := m.hot.take(ctx, drainBatch)
		if err != nil || b == nil {
			return posted, err
		}
		// Paced work gets at most a quarter of the core: a batch this
		// large means the drain fell behind, and it catches up unpaced.
		pctx := ctx
		if len(b.recs) >= drainBatch {
			pctx = pace.Unpaced(ctx)
		}
		pace.Yield(pctx)
		if err := m.post(pctx, b.recs); err != nil {
			return posted, err
		}
		posted = true
		pace.Yield(pctx)
		fresh, err := m.durable(ctx, recordDeltas(b.recs))
		if err != nil {
			return posted, err
		}
		if err := m.hot.ack(ctx, b, fresh); err != nil {
			return posted, err
		}
		if b.path == "" && b.n < drainBatch {
			return posted, nil // the Redis journal is empty up to what was taken
		}
		if !untilEmpty && len(b.recs) < drainBatch {
			return posted, nil // what arrived meanwhile goes with the next tick
		}
	}
	return posted, nil
}

// post writes records to the ledger and the usage log, in one
// transaction: a commit is the largest fixed cost of a drain round. Every
// write is idempotent, so a batch posted twice (a crash between post and
// ack) changes nothing the second time.
func (m *Meter) post(ctx context.Context, recs []record) error {
	ents := entries(recs)
	var rows []usage.Row
	for _, r := range recs {
		var (
			row usage.Row
			err error
		)
		switch r.kind {
		case recUsageRow:
			row, err = usage.ParseCompact(r.row)
		case recUsage:
			row, err = jsonUsageRow(r.usage)
		default:
			continue
		}
		if err != nil {
			m.log.Error("billing journal: unreadable usage row skipped", "error", err.Error())
			continue
		}
		rows = append(rows, row)
	}
	if len(ents) == 0 {
		return m.insertUsage(ctx, rows)
	}
	if err := m.usage.Prepare(ctx); err != nil {
		return err
	}
	res, err := m.ledger.postBatch(ctx, ents, func(tx *sql.Tx, optimistic bool) error {
		if !optimistic {
			return m.usage.InsertTx(ctx, tx, rows)
		}
		// Optimistic like the entries (postBatch): no lookup of the
		// rows' charge ids, and a repeat posts the batch again carefully.
		if err := m.usage.InsertNewTx(ctx, tx, rows); errors.Is(err, usage.ErrStored) {
			return errRepeat
		} else if err != nil {
			return err
		}
		return nil
	})
	if errors.Is(err, ErrUserNotFound) {
		// A user deleted with charges in flight: post the others and
		// report the lost ones rather than block the journal forever.
		m.postEach(ctx, ents)
		return m.insertUsage(ctx, rows)
	}
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Err != nil {
			m.log.Error("billing: ledger entry refused", "request_id", ents[i].RequestID, "kind", string(ents[i].Kind), "error", r.Err.Error())
		}
	}
	return nil
}

// jsonUsageRow reads a usage row journalled as JSON (before the compact
// form). Apart from post's loop so that the row there, for every record,
// does not escape to the heap for json.Unmarshal's sake.
func jsonUsageRow(b []byte) (usage.Row, error) {
	var row usage.Row
	err := json.Unmarshal(b, &row)
	return row, err
}

func (m *Meter) insertUsage(ctx context.Context, rows []usage.Row) error {
	if len(rows) == 0 {
		return nil
	}
	if err := m.usage.Insert(ctx, rows); err != nil {
		return fmt.Errorf("write %d usage rows: %w", len(rows), err)
	}
	return nil
}

func (m *Meter) postEach(ctx context.Context, ents []Entry) {
	for _, e := range ents {
		if _, err := m.ledger.Post(ctx, e); err != nil {
			m.log.Error("billing: ledger entry dropped", "request_id", e.RequestID, "kind", string(e.Kind),
				"user_id", e.UserID, "amount_micros", int64(e.Amount), "error", err.Error())
		}
	}
}

// durable reads the ledger values of the users and keys d moved.
func (m *Meter) durable(ctx context.Context, d deltas) (balances, error) {
	users := make([]int64, 0, len(d.users))
	for id := range d.users {
		users = append(users, id)
	}
	keys := make([]int64, 0, len(d.keys))
	for id := range d.keys {
		keys = append(keys, id)
	}
	return m.read(ctx, users, keys)
}

func (m *Meter) read(ctx context.Context, users, keys []int64) (balances, error) {
	out := balances{users: map[int64]Micros{}, keys: map[int64]Micros{}}
	if err := m.readInto(ctx, "SELECT id, balance_micros FROM users WHERE id IN ", users, out.users); err != nil {
		return balances{}, err
	}
	if err := m.readInto(ctx, "SELECT id, used_micros FROM api_keys WHERE id IN ", keys, out.keys); err != nil {
		return balances{}, err
	}
	return out, nil
}

func (m *Meter) readInto(ctx context.Context, q string, ids []int64, out map[int64]Micros) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		var sb strings.Builder
		sb.WriteString(q)
		sb.WriteByte('(')
		for i, id := range ids[:n] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(id, 10))
		}
		sb.WriteByte(')')
		// The write pool: on SQLite the read pool may lag the writer's
		// last commit by nothing, but reading where we wrote is simplest
		// to reason about.
		rows, err := m.o.DB.Write().QueryContext(ctx, sb.String())
		if err != nil {
			return fmt.Errorf("read balances: %w", err)
		}
		for rows.Next() {
			var id, v int64
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return fmt.Errorf("read balances: %w", err)
			}
			out[id] = Micros(v)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("read balances: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// refresh re-reads the durable balances of every account held, so credits
// and adjustments made through the ledger become spendable. It runs under
// the drain mutex: never between a post and its ack.
func (m *Meter) refresh(ctx context.Context) error {
	m.drainMu.Lock()
	defer m.drainMu.Unlock()
	users, keys, err := m.hot.known(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 && len(keys) == 0 {
		return nil
	}
	fresh, err := m.read(ctx, users, keys)
	if err != nil {
		return err
	}
	return m.hot.refresh(ctx, fresh)
}

// loadAccounts is the hot state's loader.
func (m *Meter) loadAccounts(ctx context.Context, user, key int64) (Micros, Micros, error) {
	var ks []int64
	if key != 0 {
		ks = []int64{key}
	}
	b, err := m.read(ctx, []int64{user}, ks)
	if err != nil {
		return 0, 0, err
	}
	bal, ok := b.users[user]
	if !ok {
		return 0, 0, fmt.Errorf("billing: user id %d: %w", user, ErrUserNotFound)
	}
	return bal, b.keys[key], nil
}

// Reservation is what a request asks to hold.
type Reservation struct {
	UserID    int64
	KeyID     int64  // 0 = none
	Quota     Micros // the key's cap; NoCap for none
	Amount    Micros // the estimate, >= 0
	RequestID string // the client's request id, for the ledger note
}

// Hold is one request's reservation. Settle it exactly once.
type Hold struct {
	m       *Meter
	h       hold
	settled atomic.Bool
	queued  bool           // QueueReserve's or QueueSettle's script, until read
	reply   luabatch.Reply // its answer
}

// Charge is the hold's id: the request id of its ledger rows.
func (h *Hold) Charge() string { return h.h.charge }

// Amount is what the hold reserved.
func (h *Hold) Amount() Micros { return h.h.amount }

// NewChargeID is a fresh charge id: 'c' and 26 base32 characters (128
// bits: the time in milliseconds, 48 bits, then 80 random ones). Ledger
// rows are keyed by it, never by the client's request id, which a client
// may choose and repeat. Ids sort by their time (ids.Timed), so the
// unique indexes keyed by them (ledger, usage_logs) grow at their right
// edge: a drain writes a few of their pages, not one per row (issue 22).
func NewChargeID() string {
	var b [16]byte
	var out [27]byte
	ids.Timed(b[:])
	out[0] = 'c'
	chargeEncoding.Encode(out[1:], b[:])
	return string(out[:])
}

// chargeEncoding has idEncoding's characters, in byte order.
var chargeEncoding = base32.NewEncoding(ids.Lower).WithPadding(base32.NoPadding)

// Reserve holds r.Amount from the user's wallet and the key's quota, both
// or neither. It fails with a *ShortError when either is short, and with
// an error wrapping ErrHotState when the hot state cannot be written.
func (m *Meter) Reserve(ctx context.Context, r Reservation) (*Hold, error) {
	h, err := m.newHold(r)
	if err != nil {
		return nil, err
	}
	if err := m.hot.reserve(ctx, &h.h); err != nil {
		return nil, err
	}
	return h, nil
}

func (m *Meter) newHold(r Reservation) (*Hold, error) {
	if r.Amount < 0 || r.UserID <= 0 {
		return nil, fmt.Errorf("billing: bad reservation %+v", r)
	}
	req := r.RequestID
	if len(req) > 128 || strings.ContainsAny(req, " \n") {
		req = ""
	}
	h := &Hold{m: m, h: hold{charge: NewChargeID(), request: req, user: r.UserID, key: r.KeyID, amount: r.Amount, quota: r.Quota}}
	if r.KeyID == 0 {
		h.h.quota = NoCap
	}
	return h, nil
}

// Pipelines reports whether QueueReserve can put reservations on a Redis
// script batch (the hot state is in Redis).
func (m *Meter) Pipelines() bool {
	_, ok := m.hot.(*redisState)
	return ok
}

// QueueReserve is Reserve in two steps, for a caller that runs other
// scripts in the same call: it queues the reservation on b, and the
// returned Hold's Reserved reads the answer once b ran. Until Reserved
// returned nil the Hold holds nothing and must not be settled. The hot
// state must be Redis (Pipelines).
func (m *Meter) QueueReserve(b *luabatch.Batch, r Reservation) (*Hold, error) {
	rs, ok := m.hot.(*redisState)
	if !ok {
		return nil, errors.New("billing: reservations can be batched only with Redis")
	}
	h, err := m.newHold(r)
	if err != nil {
		return nil, err
	}
	h.queued = true
	rs.queueReserve(b, &h.h, &h.reply)
	return h, nil
}

// Reserved reads the answer of QueueReserve: nil when the hold is made,
// else what Reserve would have returned. A hold not queued is made.
func (h *Hold) Reserved(ctx context.Context) error {
	if !h.queued {
		return nil
	}
	h.queued = false
	return h.m.hot.(*redisState).queuedReserve(ctx, &h.h, &h.reply)
}

// Settle releases the hold and charges cost (capped by the overdraft
// bound); it returns what was charged. A second call charges nothing.
func (h *Hold) Settle(ctx context.Context, cost Micros) (Micros, error) {
	if !h.settled.CompareAndSwap(false, true) {
		return 0, fmt.Errorf("settle %s: already settled", h.h.charge)
	}
	return h.m.hot.settle(ctx, &h.h, max(cost, 0), h.m.o.Overdraft)
}

// QueueSettle is Settle in two steps, for a caller that runs other
// scripts in the same call: it queues the settle on b, and Settled reads
// what was charged once b ran. The hot state must be Redis (Pipelines); a
// second settle charges nothing.
func (h *Hold) QueueSettle(b *luabatch.Batch, cost Micros) {
	rs, ok := h.m.hot.(*redisState)
	if !ok || !h.settled.CompareAndSwap(false, true) {
		return
	}
	h.queued = true
	rs.queueSettle(b, &h.h, max(cost, 0), h.m.o.Overdraft, &h.reply)
}

// Settled reads the settle QueueSettle queued: what was charged.
func (h *Hold) Settled() (Micros, error) {
	if !h.queued {
		return 0, fmt.Errorf("settle %s: not queued, or read already", h.h.charge)
	}
	h.queued = false
	return queuedSettle(&h.h, &h.reply)
}

// LogUsage journals one usage row; the drainer writes it to the usage log.
func (m *Meter) LogUsage(ctx context.Context, row usage.Row) error {
	return m.hot.usage(ctx, &row) // the compact form, without JSON (journal.go)
}
