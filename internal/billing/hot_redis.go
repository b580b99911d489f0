package billing

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/luabatch"
	"github.com/switchyard/switchyard/internal/usage"
)

// redisState is the hot state shared by several nodes. Reserve and settle
// are one Lua script each: the check, the move and the journal append are
// one atomic step that no other node can interleave, so the wallets and
// quotas of every node are one budget.
//
// Keys, under prefix:
//
//	u:{id}      hash b (balance on the ledger), p (pending)
//	k:{id}      hash b (key spend on the ledger), p (pending)
//	users, keys sets of the ids held, for refresh
//	j           list: the journal (see journal.go), drained from the head
//	o:{node}    hash charge → "user key amount": a node's open holds
//	n:{node}    a node's heartbeat, expiring after heartbeatTTL
//	nodes       set of node ids that may hold reservations
//	lock        the drain lock: one node posts, acks, refreshes and reaps
//
// The journal lives in Redis, so a gateway killed with SIGKILL loses
// nothing that returned; Redis itself must persist (appendonly yes) for a
// crash of Redis not to lose the last second. A node that dies with holds
// open leaves its open hash behind; when its heartbeat has expired the
// drain lock holder releases them (reap). Several scripts touch accounts
// named in the script's keys; on Redis Cluster the prefix needs a hash tag,
// the same as the limiter's and the pool's: the relay runs reserve and
// settle in one script call with their scripts (luabatch).
type redisState struct {
	rdb    redis.UniversalClient
	prefix string
	node   string
	token  string // drain lock token
	load   loader
	log    *slog.Logger
	ttl    time.Duration // heartbeat
	lockMS string

	// Usage rows wait here up to usageFlushEvery (or until usageFlushRows
	// are waiting, or the drainer takes the journal), then go in one RPUSH:
	// a round trip per request was about 4% of a busy node's CPU. A node
	// killed meanwhile loses those rows, as a single node loses the usage
	// rows queued after its last settle; no money is in them.
	usageFlush   sync.Mutex // one flush at a time, so take and close wait for one under way
	usageMu      sync.Mutex
	usageRows    []any
	usageTimer   *time.Timer
	usageDropped int
	usageEvery   time.Duration // usageFlushEvery; a test stretches it to see the full-batch flush alone
}

const (
	usageFlushEvery = 20 * time.Millisecond
	usageFlushRows  = 256
	usageRetryEvery = time.Second // after a failed flush
	// usageMaxRows bounds the rows kept while Redis is unreachable; rows
	// beyond it are dropped (and counted in the log).
	usageMaxRows = 20_000
)

var (
	//go:embed lua/reserve.lua
	reserveLua    string
	reserveScript = redis.NewScript(reserveLua)
	//go:embed lua/settle.lua
	settleLua    string
	settleScript = redis.NewScript(settleLua)
	//go:embed lua/ack.lua
	ackLua    string
	ackScript = redis.NewScript(ackLua)
	//go:embed lua/refresh.lua
	refreshLua    string
	refreshScript = redis.NewScript(refreshLua)
	//go:embed lua/lock.lua
	lockLua    string
	lockScript = redis.NewScript(lockLua)
	//go:embed lua/load.lua
	loadLua    string
	loadScript = redis.NewScript(loadLua)

	// reserve.lua and settle.lua in a relay's batch (luabatch).
	reserveFragment = luabatch.NewFragment("billing.reserve", reserveLua)
	settleFragment  = luabatch.NewFragment("billing.settle", settleLua)
)

// idEncoding is base32 in lower case, so an id needs no second pass.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns n random bytes (at most 16) in lower-case base32: one
// allocation, as a charge id is made for every billed request.
func randomID(n int) string {
	var b [16]byte
	var out [26]byte // base32 of 16 bytes
	_, _ = rand.Read(b[:n])
	m := idEncoding.EncodedLen(n)
	idEncoding.Encode(out[:m], b[:n])
	return string(out[:m])
}

// drainLockTTL is how long the drain lock outlives its holder's last
// renewal (every drain tick): a node that dies stops posting the journal
// for that long. Two nodes posting the same records at once is harmless
// (the ledger ignores repeats); only the lock holder may ack.
const drainLockTTL = 10 * time.Second

// newRedisState joins the shared hot state. dir, when set, keeps this
// node's id across restarts: a node that comes back releases the holds it
// left open at once, instead of after its old heartbeat expires.
func newRedisState(ctx context.Context, rdb redis.UniversalClient, prefix, dir string, overdraft Micros, hb time.Duration, load loader, log *slog.Logger) (*redisState, error) {
	node, err := nodeID(dir)
	if err != nil {
		return nil, err
	}
	// The drain lock's token is the node id, so a node restarted after a
	// kill takes its own lock back at once instead of waiting for it to
	// lapse.
	s := &redisState{rdb: rdb, prefix: prefix, node: node, token: node, load: load, log: log,
		ttl: hb, lockMS: strconv.FormatInt(drainLockTTL.Milliseconds(), 10), usageEvery: usageFlushEvery}
	if err := s.beat(ctx); err != nil {
		return nil, err
	}
	if err := s.releaseNode(ctx, node, overdraft); err != nil {
		return nil, err
	}
	return s, nil
}

// nodeID reads the node id kept in dir, creating it on first start; with
// no dir every start is a new node.
func nodeID(dir string) (string, error) {
	if dir == "" {
		return randomID(10), nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create billing dir: %w", err)
	}
	p := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) == 16 {
		return strings.TrimSpace(string(b)), nil
	}
	id := randomID(10)
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write billing node id: %w", err)
	}
	return id, nil
}

func (s *redisState) userKey(id int64) string { return s.prefix + "u:" + strconv.FormatInt(id, 10) }
func (s *redisState) keyKey(id int64) string  { return s.prefix + "k:" + strconv.FormatInt(id, 10) }
func (s *redisState) openKey(node string) string {
	return s.prefix + "o:" + node
}

// beat renews this node's heartbeat; the meter calls it every ttl/3.
func (s *redisState) beat(ctx context.Context) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.prefix+"n:"+s.node, "1", s.ttl)
		p.SAdd(ctx, s.prefix+"nodes", s.node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: billing heartbeat: %v", ErrHotState, err)
	}
	return nil
}

func (s *redisState) hasKey(h *hold) string {
	if h.key != 0 {
		return "1"
	}
	return "0"
}

// reserveArgs appends the reserve script's keys and arguments to keys and
// args.
func (s *redisState) reserveArgs(keys []string, args []any, h *hold) ([]string, []any) {
	rec := record{kind: recReserve, charge: h.charge, user: h.user, key: h.key, amount: h.amount, request: h.request}
	line := appendRecord(nil, &rec)
	line = line[:len(line)-1]
	open := strconv.FormatInt(h.user, 10) + " " + strconv.FormatInt(h.key, 10) + " " + strconv.FormatInt(int64(h.amount), 10)
	keys = append(keys, s.userKey(h.user), s.keyKey(h.key), s.prefix+"j", s.openKey(s.node))
	args = append(args, int64(h.amount), int64(h.quota), s.hasKey(h), h.charge, line, open, -int64(h.amount))
	return keys, args
}

func (s *redisState) reserve(ctx context.Context, h *hold) error {
	keys, args := s.reserveArgs(make([]string, 0, 4), make([]any, 0, 7), h)
	for attempt := 0; ; attempt++ {
		res, err := reserveScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
		if done, err := s.reserved(h, res, err, attempt > 0); done {
			return err
		}
		if err := s.loadAccounts(ctx, h.user, h.key); err != nil {
			return err
		}
	}
}

// reserved reads the reserve script's answer; done false means the
// accounts are not loaded yet (load them and run it again).
func (s *redisState) reserved(h *hold, res []int64, err error, retried bool) (bool, error) {
	if err != nil {
		return true, fmt.Errorf("%w: reserve: %v", ErrHotState, err)
	}
	if len(res) == 0 || (res[0] != 1 && res[0] != -1 && len(res) < 2) {
		return true, fmt.Errorf("%w: reserve: script answered %v", ErrHotState, res)
	}
	switch res[0] {
	case 1:
		return true, nil
	case 0:
		return true, &ShortError{Need: h.amount, Available: Micros(res[1])}
	case -2:
		return true, &ShortError{Quota: true, Need: h.amount, Available: max(Micros(res[1]), 0)}
	}
	if retried {
		return true, fmt.Errorf("%w: reserve: account of user %d not loaded", ErrHotState, h.user)
	}
	return false, nil
}

// queueReserve queues h's reserve script on b; queuedReserve reads out
// once b ran.
func (s *redisState) queueReserve(b *luabatch.Batch, h *hold, out *luabatch.Reply) {
	keys, args := b.Buffers()
	keys, args = s.reserveArgs(keys, args, h)
	b.Commit(reserveFragment, out, keys, args)
}

// queuedReserve reads a queued reserve. When the accounts were not loaded
// yet, nothing was reserved: they are loaded and the reserve is made again
// on its own, as reserve does (a round trip or two, once per account).
func (s *redisState) queuedReserve(ctx context.Context, h *hold, reply *luabatch.Reply) error {
	var buf [2]int64
	res, err := reply.Int64s(buf[:0])
	if done, err := s.reserved(h, res, err, false); done {
		return err
	}
	if err := s.loadAccounts(ctx, h.user, h.key); err != nil {
		return err
	}
	return s.reserve(ctx, h)
}

// loadAccounts creates the accounts of a user and key from the ledger.
// No record of an account exists before it is created, so the durable
// value read is its whole value; a node that created it first wins.
func (s *redisState) loadAccounts(ctx context.Context, user, key int64) error {
	bal, spent, err := s.load(ctx, user, key)
	if err != nil {
		return err
	}
	err = loadScript.Run(ctx, s.rdb, []string{s.userKey(user), s.prefix + "users"}, int64(bal), user).Err()
	if err == nil && key != 0 {
		err = loadScript.Run(ctx, s.rdb, []string{s.keyKey(key), s.prefix + "keys"}, int64(spent), key).Err()
	}
	if err != nil {
		return fmt.Errorf("%w: load accounts: %v", ErrHotState, err)
	}
	return nil
}

func (s *redisState) settle(ctx context.Context, h *hold, cost, overdraft Micros) (Micros, error) {
	return s.settleIn(ctx, s.openKey(s.node), h, cost, overdraft)
}

func (s *redisState) settleIn(ctx context.Context, open string, h *hold, cost, overdraft Micros) (Micros, error) {
	keys, args := s.settleArgs(make([]string, 0, 4), make([]any, 0, 8), open, h, cost, overdraft)
	c, err := settleScript.Run(ctx, s.rdb, keys, args...).Text()
	return settledCharge(h, c, err)
}

// settleArgs appends the settle script's keys and arguments to keys and
// args.
func (s *redisState) settleArgs(keys []string, args []any, open string, h *hold, cost, overdraft Micros) ([]string, []any) {
	return append(keys, s.userKey(h.user), s.keyKey(h.key), s.prefix+"j", open),
		append(args, h.charge, int64(cost), int64(overdraft), int64(h.quota), s.hasKey(h), h.user, h.key, int64(h.amount))
}

func settledCharge(h *hold, c string, err error) (Micros, error) {
	if err != nil {
		return 0, fmt.Errorf("%w: settle %s: %v", ErrHotState, h.charge, err)
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("settle %s: charge %q: %w", h.charge, c, err)
	}
	return Micros(n), nil
}

// queueSettle queues h's settle on b; queuedSettle reads out once b ran.
// The journal record goes in the same script call as the settle, so it
// stays atomic with it.
func (s *redisState) queueSettle(b *luabatch.Batch, h *hold, cost, overdraft Micros, out *luabatch.Reply) {
	keys, args := b.Buffers()
	keys, args = s.settleArgs(keys, args, s.openKey(s.node), h, cost, overdraft)
	b.Commit(settleFragment, out, keys, args)
}

// queuedSettle reads a queued settle.
func queuedSettle(h *hold, reply *luabatch.Reply) (Micros, error) {
	c, err := reply.Text()
	return settledCharge(h, c, err)
}

// usage queues one usage row for the journal, in the compact form
// without its newline (a list element is one record). A node of a version
// before the compact form skips such a row as unreadable if it drains
// during a rolling upgrade; the row carries no money.
func (s *redisState) usage(ctx context.Context, row *usage.Row) error {
	line := usage.AppendCompact(append(make([]byte, 0, 256), recUsageRow, ' '), row)
	s.usageMu.Lock()
	if len(s.usageRows) >= usageMaxRows {
		s.usageDropped++
		s.usageMu.Unlock()
		return fmt.Errorf("%w: journal usage: %d rows waiting for Redis already", ErrHotState, usageMaxRows)
	}
	s.usageRows = append(s.usageRows, line)
	full := len(s.usageRows) >= usageFlushRows
	if !full {
		s.armUsageFlush(s.usageEvery)
	}
	s.usageMu.Unlock()
	if full {
		return s.flushUsage(context.WithoutCancel(ctx))
	}
	return nil
}

// armUsageFlush starts the flush timer for d unless it runs; usageMu is
// held.
func (s *redisState) armUsageFlush(d time.Duration) {
	if s.usageTimer != nil {
		return
	}
	s.usageTimer = time.AfterFunc(d, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.flushUsage(ctx); err != nil {
			s.log.Warn("billing: usage rows not journaled yet; will retry", "error", err.Error())
		}
	})
}

// flushUsage appends the waiting usage rows to the journal. Rows it could
// not append wait for the next flush, ahead of newer ones.
func (s *redisState) flushUsage(ctx context.Context) error {
	s.usageFlush.Lock()
	defer s.usageFlush.Unlock()
	s.usageMu.Lock()
	rows, dropped := s.usageRows, s.usageDropped
	s.usageRows, s.usageDropped = nil, 0
	if s.usageTimer != nil {
		s.usageTimer.Stop()
		s.usageTimer = nil
	}
	s.usageMu.Unlock()
	if dropped > 0 {
		s.log.Error("billing: usage rows dropped while Redis was unreachable", "rows", dropped)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := s.rdb.RPush(ctx, s.prefix+"j", rows...).Err(); err != nil {
		s.usageMu.Lock()
		s.usageRows = append(rows, s.usageRows...)
		s.armUsageFlush(usageRetryEvery)
		s.usageMu.Unlock()
		return fmt.Errorf("%w: journal %d usage rows: %v", ErrHotState, len(rows), err)
	}
	return nil
}

// lock takes or extends the drain lock.
func (s *redisState) lock(ctx context.Context) (bool, error) {
	ok, err := lockScript.Run(ctx, s.rdb, []string{s.prefix + "lock"}, s.token, s.lockMS).Int()
	if err != nil {
		return false, fmt.Errorf("%w: drain lock: %v", ErrHotState, err)
	}
	return ok == 1, nil
}

func (s *redisState) take(ctx context.Context, max int) (*batch, error) {
	if err := s.flushUsage(ctx); err != nil {
		s.log.Warn("billing: usage rows not journaled yet; will retry", "error", err.Error())
	}
	if ok, err := s.lock(ctx); err != nil || !ok {
		return nil, err
	}
	lines, err := s.rdb.LRange(ctx, s.prefix+"j", 0, int64(max-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: read journal: %v", ErrHotState, err)
	}
	if len(lines) == 0 {
		return nil, nil
	}
	b := &batch{n: len(lines), recs: make([]record, 0, len(lines))}
	for _, l := range lines {
		rec, err := parseRecord([]byte(l))
		if err != nil {
			s.log.Error("billing journal: unreadable record skipped", "error", err.Error())
			continue
		}
		b.recs = append(b.recs, rec)
	}
	return b, nil
}

func (s *redisState) ack(ctx context.Context, b *batch, fresh balances) error {
	d := recordDeltas(b.recs)
	keys := []string{s.prefix + "lock", s.prefix + "j"}
	args := []any{s.token, b.n, len(d.users)}
	for id, m := range d.users {
		v, ok := fresh.users[id]
		if !ok {
			continue
		}
		keys = append(keys, s.userKey(id))
		args = append(args, -int64(m), int64(v))
	}
	for id, m := range d.keys {
		v, ok := fresh.keys[id]
		if !ok {
			continue
		}
		keys = append(keys, s.keyKey(id))
		args = append(args, -int64(m), int64(v))
	}
	ok, err := ackScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("%w: ack journal: %v", ErrHotState, err)
	}
	if ok != 1 {
		return errors.New("ack journal: the drain lock was lost; another node posts it again")
	}
	return nil
}

func (s *redisState) known(ctx context.Context) ([]int64, []int64, error) {
	var users, keys []int64
	for _, x := range []struct {
		set string
		out *[]int64
	}{{"users", &users}, {"keys", &keys}} {
		ids, err := s.rdb.SMembers(ctx, s.prefix+x.set).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: list accounts: %v", ErrHotState, err)
		}
		for _, v := range ids {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				*x.out = append(*x.out, n)
			}
		}
	}
	return users, keys, nil
}

func (s *redisState) refresh(ctx context.Context, fresh balances) error {
	if ok, err := s.lock(ctx); err != nil || !ok {
		return err
	}
	keys := []string{s.prefix + "lock"}
	args := []any{s.token}
	for id, v := range fresh.users {
		keys, args = append(keys, s.userKey(id)), append(args, int64(v))
	}
	for id, v := range fresh.keys {
		keys, args = append(keys, s.keyKey(id)), append(args, int64(v))
	}
	if err := refreshScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("%w: refresh balances: %v", ErrHotState, err)
	}
	return nil
}

// reap releases the holds of nodes whose heartbeat expired: each through
// the settle script with cost 0, so the release is journaled like any
// other. A node that was only cut off and comes back finds its holds gone
// and charges without releasing again (settle.lua).
func (s *redisState) reap(ctx context.Context, overdraft Micros) error {
	if ok, err := s.lock(ctx); err != nil || !ok {
		return err
	}
	nodes, err := s.rdb.SMembers(ctx, s.prefix+"nodes").Result()
	if err != nil {
		return fmt.Errorf("%w: list nodes: %v", ErrHotState, err)
	}
	for _, node := range nodes {
		if node == s.node {
			continue
		}
		alive, err := s.rdb.Exists(ctx, s.prefix+"n:"+node).Result()
		if err != nil {
			return fmt.Errorf("%w: node heartbeat: %v", ErrHotState, err)
		}
		if alive == 1 {
			continue
		}
		if err := s.releaseNode(ctx, node, overdraft); err != nil {
			return err
		}
		if err := s.rdb.SRem(ctx, s.prefix+"nodes", node).Err(); err != nil {
			return fmt.Errorf("%w: forget node: %v", ErrHotState, err)
		}
	}
	return nil
}

// releaseNode releases every open hold of node, a node known to be gone
// (or this node, starting again).
func (s *redisState) releaseNode(ctx context.Context, node string, overdraft Micros) error {
	open := s.openKey(node)
	holds, err := s.rdb.HGetAll(ctx, open).Result()
	if err != nil {
		return fmt.Errorf("%w: open holds of node %s: %v", ErrHotState, node, err)
	}
	for charge, v := range holds {
		var user, key, amount int64
		if _, err := fmt.Sscan(v, &user, &key, &amount); err != nil {
			s.log.Error("billing: unreadable open hold dropped", "node", node, "charge", charge, "error", err.Error())
			s.rdb.HDel(ctx, open, charge)
			continue
		}
		h := &hold{charge: charge, user: user, key: key, amount: Micros(amount), quota: NoCap}
		if _, err := s.settleIn(ctx, open, h, 0, overdraft); err != nil {
			return err
		}
	}
	if len(holds) > 0 {
		s.log.Info("billing: released the holds of a node that stopped", "node", node, "holds", len(holds))
	}
	return nil
}

func (s *redisState) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.flushUsage(ctx); err != nil {
		s.log.Error("billing: usage rows lost at stop", "error", err.Error())
	}
	// Holds still open at stop (requests cut by the shutdown timeout) are
	// reaped by another node, or by this one's successor, once the
	// heartbeat is gone: delete it now rather than wait for it to expire.
	n, _ := s.rdb.HLen(ctx, s.openKey(s.node)).Result()
	if n == 0 {
		s.rdb.SRem(ctx, s.prefix+"nodes", s.node)
	}
	return s.rdb.Del(ctx, s.prefix+"n:"+s.node).Err()
}
