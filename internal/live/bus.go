// Package live carries "something changed" between the nodes of a
// gateway, so that a change made through the console on one node is in
// force on every node within a second, without a restart.
//
// A change is a topic (tenancy, channels, prices, settings, topup), never the
// changed data: each node reloads the topic's state from the database,
// which stays the one source of truth. Every topic has a version row in
// the settings table, rewritten with a random value by each Publish. A
// node notices a change in one of two ways:
//
//   - with Redis, a message on <redis.prefix>changes, at once; the version
//     rows are still polled, every 2 s by default, as a safety net for a
//     message lost while the subscription reconnected, and for writers
//     that only rewrite a version row (the command line);
//   - without Redis, by polling the version rows (one small SELECT) every
//     250 ms by default.
//
// The node that publishes runs its own handlers before Publish returns, so
// a console write is in force there by the time its response is sent.
package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/store"
)

// Topic names what changed.
type Topic string

// The topics. A writer publishes the topic of what it wrote, after the
// write committed.
const (
	// Tenancy: users, groups and API keys. Its version row is the one
	// auth.Store already rewrites on every change (auth.VersionSetting), so
	// the command line's changes are seen by polling too.
	Tenancy Topic = "tenancy"
	// Channels: channels and their credentials (the account pool).
	Channels Topic = "channels"
	// Prices: the price list.
	Prices Topic = "prices"
	// Settings: the console settings (site name, registration, …).
	Settings Topic = "settings"
	// Topup: the payment providers configured in the console.
	Topup Topic = "topup"
)

// Topics is every topic, in a fixed order.
var Topics = []Topic{Tenancy, Channels, Prices, Settings, Topup}

// VersionSetting is the settings row holding t's version.
func (t Topic) VersionSetting() string { return string(t) + "_version" }

// Default poll intervals.
const (
	DefaultPoll = 250 * time.Millisecond // without Redis: a change in force within 1 s with room to spare
	// With Redis, as a safety net, and for the command line's changes,
	// which only rewrite a version row: as soon as the keys' own poll
	// used to see a revocation made there.
	DefaultRedisPoll = 2 * time.Second
)

const redisPublishTimeout = time.Second

// Publisher is what a writer needs: declare it in the consumer as
// interface{ Publish(context.Context, live.Topic) error }.
type Publisher interface {
	Publish(ctx context.Context, t Topic) error
}

// Handler reloads a topic's state. It is never run twice at once for the
// same topic on one Bus, and must not Publish its own topic (that would
// wait for itself).
type Handler func(ctx context.Context) error

// Options configure a Bus.
type Options struct {
	DB     *store.DB
	Redis  *redis.Client // nil: poll the database only
	Prefix string        // redis.prefix; the channel is Prefix+"changes"
	Logger *slog.Logger
	// Poll is how often the version rows are read; 0 means DefaultPoll
	// without Redis and DefaultRedisPoll with it.
	Poll time.Duration
}

// Bus publishes changes and runs the handlers of changed topics.
type Bus struct {
	db      *store.DB
	rdb     *redis.Client
	channel string
	log     *slog.Logger
	poll    time.Duration
	node    string // tells this node's own Redis messages apart

	mu       sync.Mutex // guards handlers, cancel, done, stopped
	handlers map[Topic][]Handler
	cancel   context.CancelFunc
	done     chan struct{}
	stopped  bool

	topics map[Topic]*topicState
}

type topicState struct {
	mu   sync.Mutex // serialises this topic's handlers
	seen string     // the version the handlers last ran for successfully
}

// Open returns a Bus over o.DB (and o.Redis), with the current version of
// every topic read as seen: the caller loads its state after Open, so a
// change landing in between is at worst reloaded once more.
func Open(ctx context.Context, o Options) (*Bus, error) {
	if o.DB == nil {
		return nil, errors.New("live: no database")
	}
	b := &Bus{db: o.DB, rdb: o.Redis, channel: o.Prefix + "changes", log: o.Logger, poll: o.Poll,
		handlers: map[Topic][]Handler{}, topics: map[Topic]*topicState{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.poll <= 0 {
		b.poll = DefaultPoll
		if b.rdb != nil {
			b.poll = DefaultRedisPoll
		}
	}
	b.node = randomHex(8)
	for _, t := range Topics {
		b.topics[t] = &topicState{}
	}
	versions, err := b.versions(ctx)
	if err != nil {
		return nil, err
	}
	for t, v := range versions {
		b.topics[t].seen = v
	}
	return b, nil
}

// On registers h to run when t changes: on this node within Publish, and
// on the others when they notice. Register handlers before Start.
func (b *Bus) On(t Topic, h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers[t] = append(b.handlers[t], h)
}

// Publish records that t changed: it rewrites t's version row, runs this
// node's handlers for t, and tells the other nodes through Redis when
// configured. Call it after the write committed. A handler's error is
// returned (the change is stored; the handler runs again at the next poll);
// a failed Redis publish is only logged, since the other nodes still see
// the version at their next poll.
func (b *Bus) Publish(ctx context.Context, t Topic) error {
	ts, ok := b.topics[t]
	if !ok {
		return fmt.Errorf("publish: unknown topic %q", t)
	}
	v := randomHex(16)
	if err := b.db.SetSetting(ctx, t.VersionSetting(), v); err != nil {
		return fmt.Errorf("publish %s: %w", t, err)
	}
	herr := b.run(ctx, t, ts, v, true)
	if b.rdb != nil {
		msg := string(t) + " " + v + " " + b.node
		// Bounded: a console write must not hang on a Redis that is away;
		// the others then see the change at their next poll.
		pctx, cancel := context.WithTimeout(ctx, redisPublishTimeout)
		err := b.rdb.Publish(pctx, b.channel, msg).Err()
		cancel()
		if err != nil {
			b.log.Warn("live: redis publish failed; other nodes see the change at their next poll",
				"topic", string(t), "error", err.Error())
		}
	}
	if herr != nil {
		return fmt.Errorf("publish %s: %w", t, herr)
	}
	return nil
}

// run runs t's handlers for version v unless v was already handled (force
// runs them anyway: a local write must take effect even if the random
// version collided). seen moves to v only when every handler succeeded.
func (b *Bus) run(ctx context.Context, t Topic, ts *topicState, v string, force bool) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !force && ts.seen == v {
		return nil
	}
	b.mu.Lock()
	hs := b.handlers[t]
	b.mu.Unlock()
	var errs []error
	for _, h := range hs {
		if err := h(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ts.seen = v
	return nil
}

// Start follows changes until ctx ends or Close is called. Its error is
// reserved for what cannot be retried; today there is none.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancel != nil || b.stopped {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if b.rdb != nil {
		ps := b.rdb.Subscribe(ctx, b.channel)
		// Wait for the subscription to be in place, so that no message
		// published after Start returns is missed. A Redis away at this
		// moment does not stop the node: the subscription is retried in
		// the background, and the poll carries changes meanwhile.
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := ps.Receive(rctx)
		rcancel()
		if err != nil {
			b.log.Warn("live: subscribe to changes failed; retrying, and polling meanwhile",
				"channel", b.channel, "error", err.Error())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.listen(ctx, ps)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.pollLoop(ctx)
	}()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	b.cancel, b.done = cancel, done
	return nil
}

// Close stops what Start started and waits for it. It is safe to call more
// than once, and on a Bus never started.
func (b *Bus) Close() {
	b.mu.Lock()
	b.stopped = true
	cancel, done := b.cancel, b.done
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (b *Bus) listen(ctx context.Context, ps *redis.PubSub) {
	defer ps.Close()
	// go-redis resubscribes by itself after a lost connection; what is
	// published meanwhile is caught by the poll.
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			t, v, node, ok := parseMessage(m.Payload)
			ts := b.topics[t]
			if !ok || ts == nil || node == b.node {
				continue
			}
			if err := b.run(ctx, t, ts, v, false); err != nil && ctx.Err() == nil {
				b.log.Warn("live: reload after a change", "topic", string(t), "error", err.Error())
			}
		}
	}
}

func parseMessage(s string) (t Topic, version, node string, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return "", "", "", false
	}
	return Topic(f[0]), f[1], f[2], true
}

func (b *Bus) pollLoop(ctx context.Context) {
	tick := time.NewTicker(b.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := b.Check(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("live: check for changes", "error", err.Error())
		}
	}
}

// Check reads every topic's version and runs the handlers of those that
// changed since they last ran. The poll calls it; so can a test.
func (b *Bus) Check(ctx context.Context) error {
	versions, err := b.versions(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range Topics {
		if err := b.run(ctx, t, b.topics[t], versions[t], false); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// versions reads every topic's version row; a topic never published has
// version "".
func (b *Bus) versions(ctx context.Context) (map[Topic]string, error) {
	names := make([]any, len(Topics))
	byName := make(map[string]Topic, len(Topics))
	for i, t := range Topics {
		names[i] = t.VersionSetting()
		byName[t.VersionSetting()] = t
	}
	q := "SELECT name, value FROM settings WHERE name IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
	rows, err := b.db.Read().QueryContext(ctx, b.db.Dialect().Rebind(q), names...)
	if err != nil {
		return nil, fmt.Errorf("read change versions: %w", err)
	}
	defer rows.Close()
	out := make(map[Topic]string, len(Topics))
	for _, t := range Topics {
		out[t] = ""
	}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("read change versions: %w", err)
		}
		out[byName[name]] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read change versions: %w", err)
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
