package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// DefaultReloadInterval is how often a started Directory checks the
// tenancy version.
const DefaultReloadInterval = 2 * time.Second

// Directory is the hot path's view of the keys: every active or disabled
// key of an active user, with its user's group, in an immutable map swapped
// atomically (disabled keys are there only to be refused as such).
// Authenticate never touches the database, not even to note a key's use
// (see lastused.go).
//
// How soon a change is seen: the node that makes a change (revocation,
// disabled user, new key) reloads at once, so there it holds from the next
// request. In a node, the change bus (internal/live) tells every other node
// to Reload within a second (Redis pub/sub, or the tenancy version polled
// every 250 ms). Start runs the Directory's own poll of that version (every
// interval, 2 s by default) for users of the package without a bus.
type Directory struct {
	db       *store.DB
	kr       *secret.Keyring
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	idx atomic.Pointer[index]
	// reloadMu serialises reloads, so that a slow reload can never swap an
	// older snapshot over a newer one.
	reloadMu sync.Mutex

	mu      sync.Mutex // guards the loops' cancel and done
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool

	lastUsed lastUsedLoop
	flushMu  sync.Mutex // one FlushLastUsed at a time
	// clock is the current Unix second, kept by StartLastUsed's loop so
	// that noting a key's use reads an atomic instead of the clock; 0 when
	// no loop runs.
	clock atomic.Int64
}

type index struct {
	byHash  map[[sha256.Size]byte]*Key
	byID    map[int64]*Key
	version string
}

// DirectoryOptions tune a Directory; the zero value is the default.
type DirectoryOptions struct {
	Logger   *slog.Logger
	Now      func() time.Time // for expiry; default time.Now
	Interval time.Duration    // version poll; default DefaultReloadInterval
	// Keyring opens keys' webhook secrets at load. Without it, a key that
	// has a webhook is loaded with its webhook turned off (and an error
	// logged).
	Keyring *secret.Keyring
}

// NewDirectory loads the keys from db. Call Start to follow changes and
// Close to stop.
func NewDirectory(ctx context.Context, db *store.DB, o DirectoryOptions) (*Directory, error) {
	d := &Directory{db: db, kr: o.Keyring, log: o.Logger, now: o.Now, interval: o.Interval}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.interval <= 0 {
		d.interval = DefaultReloadInterval
	}
	if err := d.Reload(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Authenticate returns the request's key, checked for expiry and the
// client's address, and notes it as used (see FlushLastUsed). A missing,
// unknown, revoked or expired key and a key of a disabled user are all
// apierror.InvalidAPIKey (which one is not told to the caller); a disabled
// key is apierror.KeyDisabled: only its holder can present it, and they
// should know it can come back. An address outside the key's allowlist is
// apierror.IPNotAllowed. Errors are *apierror.Error.
func (d *Directory) Authenticate(r *http.Request, clientIP netip.Addr) (*Key, error) {
	if id, ok := r.Context().Value(assumedKey{}).(int64); ok {
		// The console's playground and studio, acting for a signed-in user
		// with a key of theirs: the key as it is now, its allowlist too.
		k := d.idx.Load().byID[id]
		if k == nil || (!k.ExpiresAt.IsZero() && !d.now().Before(k.ExpiresAt)) {
			return nil, apierror.InvalidAPIKey()
		}
		if k.Disabled {
			return nil, apierror.KeyDisabled()
		}
		if len(k.IPAllow) > 0 && !k.allowsIP(clientIP) {
			return nil, apierror.IPNotAllowed()
		}
		k.used.mark(d.second())
		return k, nil
	}
	presented := PresentedKey(r)
	if presented == "" {
		return nil, apierror.InvalidAPIKey()
	}
	h := sha256.Sum256([]byte(presented))
	k, ok := d.idx.Load().byHash[h]
	if !ok || subtle.ConstantTimeCompare(k.hash[:], h[:]) != 1 {
		return nil, apierror.InvalidAPIKey()
	}
	if !k.ExpiresAt.IsZero() && !d.now().Before(k.ExpiresAt) {
		return nil, apierror.InvalidAPIKey()
	}
	if k.Disabled {
		return nil, apierror.KeyDisabled()
	}
	if len(k.IPAllow) > 0 && !k.allowsIP(clientIP) {
		return nil, apierror.IPNotAllowed()
	}
	k.used.mark(d.second())
	return k, nil
}

type assumedKey struct{}

// WithAssumedKey makes requests carrying ctx authenticate as the key with
// id, without its value (the gateway stores only hashes). Only trusted
// in-process callers set it — the console, after checking the signed-in
// user owns the key; no request can: context values never come from the
// wire.
func WithAssumedKey(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, assumedKey{}, id)
}

// ByID returns the active, unexpired key with id, or nil. Work done later
// on a key's behalf (async image tasks, their webhooks) uses it to see the
// key as it is now: disabled, revoked, expired or of a disabled user, it is
// nil.
func (d *Directory) ByID(id int64) *Key {
	k := d.idx.Load().byID[id]
	if k == nil || k.Disabled || (!k.ExpiresAt.IsZero() && !d.now().Before(k.ExpiresAt)) {
		return nil
	}
	return k
}

// Len is the number of keys loaded.
func (d *Directory) Len() int { return len(d.idx.Load().byHash) }

// Start follows changes until ctx ends or Close is called: every interval
// it reads the tenancy version and reloads when it changed. A failed check
// or reload is logged and retried at the next tick; the last good index
// keeps serving meanwhile.
func (d *Directory) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil || d.stopped {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.cancel, d.done = cancel, done
	go func() {
		defer close(done)
		t := time.NewTicker(d.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := d.reloadIfChanged(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("reload keys", "error", err.Error())
			}
		}
	}()
}

// Close stops the loops started by Start and StartLastUsed and waits for
// them (the latter flushes one last time); Start after Close does nothing.
// It is safe to call more than once, and on a Directory never started.
func (d *Directory) Close() {
	d.mu.Lock()
	d.stopped = true
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	d.stopLastUsed()
}

func (d *Directory) reloadIfChanged(ctx context.Context) error {
	v, _, err := d.db.GetSetting(ctx, VersionSetting)
	if err != nil {
		return err
	}
	if v == d.idx.Load().version {
		return nil
	}
	return d.Reload(ctx)
}

// Reload reads every active key now and swaps the index. The node that
// changed users or keys calls it at once.
func (d *Directory) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	// The version is read before the keys: a change that lands in between
	// leaves the stored version stale, which only costs one more reload.
	version, _, err := d.db.GetSetting(ctx, VersionSetting)
	if err != nil {
		return fmt.Errorf("reload keys: %w", err)
	}
	byHash, err := d.load(ctx)
	if err != nil {
		return fmt.Errorf("reload keys: %w", err)
	}
	byID := make(map[int64]*Key, len(byHash))
	old := d.idx.Load()
	for _, k := range byHash {
		k.used = &lastUse{}
		if old != nil {
			if o := old.byID[k.ID]; o != nil {
				k.used = o.used
			}
		}
		byID[k.ID] = k
	}
	d.idx.Store(&index{byHash: byHash, byID: byID, version: version})
	return nil
}

func (d *Directory) load(ctx context.Context) (map[[sha256.Size]byte]*Key, error) {
	rows, err := d.db.Read().QueryContext(ctx, d.db.Dialect().Rebind(`SELECT
		k.id, k.name, k.hash, k.expires_at, k.quota_micros, k.models, k.ip_allow, k.rpm, k.tpm, k.daily_requests,
		k.is_admin, u.id, u.email, g.name, g.ratio_ppm, g.rpm, g.tpm, g.daily_requests,
		k.image_response_format, g.image_response_format, k.webhook_url, k.webhook_secret, k.status
		FROM api_keys k JOIN users u ON u.id = k.user_id JOIN user_groups g ON g.id = u.group_id
		WHERE k.status IN (?, ?) AND u.status = ?`), StatusActive, StatusDisabled, StatusActive)
	if err != nil {
		return nil, fmt.Errorf("query keys: %w", err)
	}
	defer rows.Close()
	byHash := map[[sha256.Size]byte]*Key{}
	for rows.Next() {
		var (
			k           Key
			hash        string
			expires     sql.NullTime
			quota       sql.NullInt64
			models, ips string
			groupFormat string
			sealed      sql.NullString
			status      string
		)
		if err := rows.Scan(&k.ID, &k.Name, &hash, &expires, &quota, &models, &ips, &k.RPM, &k.TPM, &k.DailyRequests,
			&k.Admin, &k.UserID, &k.User, &k.Group, &k.GroupRatioPPM, &k.GroupRPM, &k.GroupTPM, &k.GroupDailyRequests,
			&k.ImageResponseFormat, &groupFormat, &k.WebhookURL, &sealed, &status); err != nil {
			return nil, fmt.Errorf("read keys: %w", err)
		}
		k.Disabled = status == StatusDisabled
		if k.ImageResponseFormat == "" {
			k.ImageResponseFormat = groupFormat
		}
		// A key that cannot be read is left out (refused) rather than failing
		// the whole reload, which would keep every other change from landing.
		if err := k.fill(hash, expires, quota, models, ips); err != nil {
			d.log.Error("key left out of the index", "key_id", k.ID, "error", err.Error())
			continue
		}
		if k.WebhookURL != "" || sealed.String != "" {
			d.openWebhook(&k, sealed.String)
		}
		byHash[k.hash] = &k
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return byHash, nil
}

// openWebhook unseals k's webhook secret. A webhook whose secret cannot be
// opened (no keyring, another secret_key, a value copied from another row)
// is turned off rather than the key refused: requests keep working, and no
// delivery ever goes out unsigned.
func (d *Directory) openWebhook(k *Key, sealed string) {
	var err error
	switch {
	case k.WebhookURL == "":
		err = errors.New("a webhook secret without a webhook url")
	case sealed == "":
		err = errors.New("a webhook url without a webhook secret")
	case d.kr == nil:
		err = errors.New("no secret key to open the webhook secret with")
	default:
		k.WebhookSecret, err = openWebhook(d.kr, k.ID, sealed)
	}
	if err != nil {
		d.log.Error("key's webhook turned off", "key_id", k.ID, "error", err.Error())
		k.WebhookURL, k.WebhookSecret = "", nil
	}
}

func (k *Key) fill(hash string, expires sql.NullTime, quota sql.NullInt64, models, ips string) error {
	if n, err := hex.Decode(k.hash[:], []byte(hash)); err != nil || n != sha256.Size {
		return fmt.Errorf("bad stored hash")
	}
	if expires.Valid {
		k.ExpiresAt = expires.Time.UTC()
	}
	k.QuotaMicros = NoQuota
	if quota.Valid {
		k.QuotaMicros = quota.Int64
	}
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return fmt.Errorf("decode models: %w", err)
	}
	if len(k.Models) == 0 {
		k.Models = nil // [] = every model
	}
	var allow []string
	if err := json.Unmarshal([]byte(ips), &allow); err != nil {
		return fmt.Errorf("decode ip_allow: %w", err)
	}
	for _, s := range allow {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("ip_allow: %w", err)
		}
		k.IPAllow = append(k.IPAllow, p)
	}
	return nil
}
