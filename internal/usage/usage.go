package usage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Row is one request's usage log entry.
type Row struct {
	ChargeID  string    // the request's billing charge; unique in the log
	RequestID string    // the id the client sees (X-Request-Id)
	Time      time.Time // when the request started
	UserID    int64     // 0: none (the request was refused before authentication)
	KeyID     int64
	// Model is what the client asked for, ServedModel what the upstream
	// was asked for after mapping.
	Model, ServedModel string
	Channel            string
	CredentialID       int64
	Attempts           int // upstream attempts, retries included
	Stream             bool
	Status             int // HTTP status returned to the client
	Error              string
	PromptTokens       int64
	CompletionTokens   int64
	CachedTokens       int64
	ReasoningTokens    int64
	Images             int
	// Estimated is set when the gateway counted the tokens itself because
	// the upstream reported none.
	Estimated  bool
	CostMicros int64
	// TTFB and Duration are stored in whole milliseconds.
	TTFB, Duration time.Duration
	ClientIP       string
	// Route is the request's every attempt as compact JSON (EncodeRoute),
	// for a request that failed over; nil when its first attempt served
	// it, which the row's Channel, CredentialID and Status tell.
	Route json.RawMessage

	// ID is the row's number in the log, read back by Query and Get.
	ID int64
	// Filled by Query only: the user's email and the key's name, empty
	// when they were deleted since.
	User, KeyName string
}

// Column sizes, in characters, that Insert clips strings to.
const (
	maxChargeID  = 40
	maxRequestID = 128
	maxName      = 191 // model, served model, channel
	maxError     = 500
	maxClientIP  = 64
	// maxRoute bounds the stored routing story; MySQL's TEXT holds 64 KB.
	// A route longer than that (thousands of attempts) is dropped rather
	// than cut into invalid JSON.
	maxRoute = 60_000
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// txAttempts bounds how often a batch the database aborted for a
// deadlock or lock timeout is run again; the insert is idempotent.
const txAttempts = 5

var columns = []string{"charge_id", "request_id", "created_at", "user_id", "key_id", "model", "served_model", "channel",
	"credential_id", "attempts", "stream", "status", "error", "prompt_tokens", "completion_tokens", "cached_tokens",
	"reasoning_tokens", "images", "estimated", "cost_micros", "ttfb_ms", "duration_ms", "client_ip", "route"}

// Store reads and writes the usage log.
type Store struct {
	db      *store.DB
	rows    *store.BatchInsert
	rollups *rollupWriter
}

// NewStore returns the usage log of db.
func NewStore(db *store.DB) *Store {
	return &Store{db: db, rows: db.NewBatchInsert("usage_logs", columns, []string{"charge_id"}), rollups: newRollupWriter(db)}
}

// Insert writes rows in a few multi-row INSERTs (store.BatchInsert) in
// one transaction, ignoring rows whose charge_id is
// already stored, and adds the new ones to the rollups (rollup.go); strings are clipped to their column sizes (by
// characters, not bytes). Safe to call again with the same rows. Every row
// needs a ChargeID and a Time.
func (s *Store) Insert(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	if err := check(rows); err != nil {
		return err
	}
	var err error
	for range txAttempts {
		err = s.insertTx(ctx, rows)
		if err == nil || !(store.IsRetryable(err) || errors.Is(err, errRaced)) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("insert %d usage rows: %w", len(rows), err)
	}
	return nil
}

func check(rows []Row) error {
	for i := range rows {
		switch {
		case rows[i].ChargeID == "":
			return fmt.Errorf("insert usage rows: row %d (request %q) has no charge id", i, rows[i].RequestID)
		case rows[i].Time.IsZero():
			return fmt.Errorf("insert usage rows: row %d (charge %s) has no time", i, rows[i].ChargeID)
		}
	}
	return nil
}

func (s *Store) insertTx(ctx context.Context, rows []Row) error {
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	tx, err := s.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := s.insert(ctx, tx, rows, true); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Prepare prepares the INSERT statements, once; InsertTx uses them when
// Prepare was called before its transaction began.
func (s *Store) Prepare(ctx context.Context) error {
	if err := s.rows.Prepare(ctx); err != nil {
		return err
	}
	return s.rollups.prepare(ctx)
}

// InsertTx is Insert inside the caller's transaction tx (of this store's
// database), which the caller commits: the billing drainer writes a
// batch's usage rows in the transaction that posts its ledger entries.
func (s *Store) InsertTx(ctx context.Context, tx *sql.Tx, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	if err := check(rows); err != nil {
		return err
	}
	if err := s.insert(ctx, tx, rows, true); err != nil {
		return fmt.Errorf("insert %d usage rows: %w", len(rows), err)
	}
	return nil
}

// ErrStored is returned by InsertNewTx when a row of the batch was stored
// before.
var ErrStored = errors.New("usage rows stored before")

// InsertNewTx is InsertTx for rows the caller expects to be new, as the
// billing drainer's are but after a crash between posting a batch and
// acknowledging it: it does not look the batch's charge ids up first. When
// some row was stored before, it returns an error wrapping ErrStored, and
// the caller must roll tx back (the rows inserted meanwhile would be
// missing from the rollups) and insert again with InsertTx.
func (s *Store) InsertNewTx(ctx context.Context, tx *sql.Tx, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	if err := check(rows); err != nil {
		return err
	}
	if err := s.insert(ctx, tx, rows, false); err != nil {
		return fmt.Errorf("insert %d new usage rows: %w", len(rows), err)
	}
	return nil
}

// errRaced reports that another transaction stored some of a batch's rows
// between the check for stored rows and the insert: the rollups would
// count them twice, so the transaction is rolled back and run again.
var errRaced = errors.New("usage rows stored concurrently")

// insert writes the rows not yet stored, and adds them to the rollups.
// Without lookup, it takes every row as new and fails with ErrStored when
// one was not.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, rows []Row, lookup bool) error {
	fresh, err := s.unstored(ctx, tx, rows, lookup)
	if err != nil {
		return err
	}
	if len(fresh) == 0 {
		return nil
	}
	chunk := s.rows.MaxRows()
	args := make([]any, 0, min(len(fresh), chunk)*len(columns))
	boxes := store.NewArgBoxes(len(columns))
	var inserted int64
	for start := 0; start < len(fresh); start += chunk {
		args = args[:0]
		for _, r := range fresh[start:min(start+chunk, len(fresh))] {
			args = appendArgs(args, r, boxes)
		}
		n, err := s.rows.Exec(ctx, tx, args)
		if err != nil {
			return err
		}
		inserted += n
	}
	switch {
	case inserted == int64(len(fresh)):
	case !lookup:
		return fmt.Errorf("%w: %d of %d rows inserted", ErrStored, inserted, len(fresh))
	default:
		return fmt.Errorf("%w: %d of %d new rows inserted", errRaced, inserted, len(fresh))
	}
	ru := newRollup()
	ids := map[int64]string{}
	for _, r := range fresh {
		ru.add(r, ids)
	}
	return s.rollups.write(ctx, tx, ru)
}

// unstored returns the rows of the batch whose charge id is neither stored
// (looked up only with lookup) nor taken by an earlier row of the batch: a
// batch may be posted again after a crash, and only rows stored now may
// count in the rollups.
func (s *Store) unstored(ctx context.Context, tx *sql.Tx, rows []Row, lookup bool) ([]*Row, error) {
	seen := make(map[string]bool, len(rows))
	var ids []any // boxed for the lookup only: a box is an allocation per row
	if lookup {
		ids = make([]any, 0, len(rows))
	}
	for i := range rows {
		id := store.Clip(rows[i].ChargeID, maxChargeID)
		if _, dup := seen[id]; !dup {
			seen[id] = false
			if lookup {
				ids = append(ids, id)
			}
		}
	}
	const perQuery = 500
	for start := 0; lookup && start < len(ids); start += perQuery {
		part := ids[start:min(start+perQuery, len(ids))]
		q := "SELECT charge_id FROM usage_logs WHERE charge_id IN (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ") + ")"
		found, err := tx.QueryContext(ctx, s.db.Dialect().Rebind(q), part...)
		if err != nil {
			return nil, fmt.Errorf("find stored usage rows: %w", err)
		}
		for found.Next() {
			var id string
			if err := found.Scan(&id); err != nil {
				found.Close()
				return nil, fmt.Errorf("find stored usage rows: %w", err)
			}
			seen[id] = true
		}
		err = found.Err()
		found.Close()
		if err != nil {
			return nil, fmt.Errorf("find stored usage rows: %w", err)
		}
	}
	fresh := make([]*Row, 0, len(rows))
	for i := range rows {
		id := store.Clip(rows[i].ChargeID, maxChargeID)
		if stored, ok := seen[id]; ok && !stored {
			fresh = append(fresh, &rows[i])
			seen[id] = true // a later row with this id is a duplicate
		}
	}
	return fresh, nil
}

// appendArgs appends r's values in the order of columns, boxed by boxes.
// Ids of 0 are stored as NULL; times in UTC to the microsecond, the finest
// that PostgreSQL and MySQL keep, so that a row reads back the same
// everywhere. The small ints (attempts, status, images) are boxed without
// allocating.
func appendArgs(args []any, r *Row, b *store.ArgBoxes) []any {
	return append(args,
		b.String(0, store.Clip(r.ChargeID, maxChargeID)), b.String(1, store.Clip(r.RequestID, maxRequestID)),
		b.Time(2, r.Time.UTC().Truncate(time.Microsecond)),
		nullID(b, 3, r.UserID), nullID(b, 4, r.KeyID), b.String(5, store.Clip(r.Model, maxName)),
		b.String(6, store.Clip(r.ServedModel, maxName)), b.String(7, store.Clip(r.Channel, maxName)),
		nullID(b, 8, r.CredentialID), r.Attempts, r.Stream, r.Status, b.String(12, store.Clip(r.Error, maxError)),
		b.Int64(13, r.PromptTokens), b.Int64(14, r.CompletionTokens), b.Int64(15, r.CachedTokens),
		b.Int64(16, r.ReasoningTokens), r.Images, r.Estimated, b.Int64(19, r.CostMicros),
		b.Int64(20, r.TTFB.Milliseconds()), b.Int64(21, r.Duration.Milliseconds()),
		b.String(22, store.Clip(r.ClientIP, maxClientIP)), nullRoute(r.Route))
}

func nullRoute(r json.RawMessage) any {
	if len(r) == 0 || len(r) > maxRoute {
		return nil
	}
	return string(r)
}

func nullID(b *store.ArgBoxes, col int, id int64) any {
	if id == 0 {
		return nil
	}
	return b.Int64(col, id)
}

// Filter selects log rows; zero fields select everything.
type Filter struct {
	User         string // the user's email
	UserID       int64
	KeyID        int64
	KeyName      string // every key of that name (names are unique per user only)
	Model        string // the model the client asked for
	Channel      string
	CredentialID int64
	RequestID    string
	Stream       *bool     // nil: both
	Since        time.Time // requests that started at or after
	Until        time.Time // requests that started before
	// Status is "ok" (2xx), "error" (anything else), a class ("2xx",
	// "4xx", "5xx"…) or a status code.
	Status string
	// BeforeID keeps rows logged before the row of that id: the keyset
	// cursor of the console's pages (rows are listed by id, newest first).
	BeforeID int64
	Limit    int // rows Query returns, newest first: default 100, at most 10000
}

// ErrInvalidFilter is wrapped by the errors of a filter that cannot be
// applied (an unknown Status).
var ErrInvalidFilter = errors.New("invalid usage filter")

// ErrNotFound is returned by Get for an id the log does not hold.
var ErrNotFound = errors.New("usage row not found")

// ParseStatus checks a Filter.Status value.
func ParseStatus(s string) error {
	_, _, err := statusRange(s)
	return err
}

// statusRange is the inclusive range of statuses a Filter.Status selects;
// "error" is reported as lo > hi, the complement of 2xx.
func statusRange(s string) (lo, hi int, err error) {
	switch s {
	case "":
		return 0, 0, nil
	case "ok":
		return 200, 299, nil
	case "error":
		return 300, 199, nil
	}
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
		c := int(s[0]-'0') * 100
		return c, c + 99, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
		return n, n, nil
	}
	return 0, 0, fmt.Errorf("%w: status %q is not ok, error, a class such as 5xx or an HTTP status code", ErrInvalidFilter, s)
}

// where returns the WHERE clause of f (with a leading space, or empty) and
// its arguments. It reads usage_logs as l and joins nothing, so Query and
// Totals share it; a user or key name is matched through a subquery, which
// lets the (user_id, id) and (key_id, id) indexes serve it.
func where(f Filter) (string, []any, error) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if f.User != "" {
		add("l.user_id = (SELECT id FROM users WHERE email = ?)", strings.ToLower(strings.TrimSpace(f.User)))
	}
	if f.UserID != 0 {
		add("l.user_id = ?", f.UserID)
	}
	if f.KeyID != 0 {
		add("l.key_id = ?", f.KeyID)
	}
	if f.KeyName != "" {
		add("l.key_id IN (SELECT id FROM api_keys WHERE name = ?)", f.KeyName)
	}
	if f.Model != "" {
		add("l.model = ?", f.Model)
	}
	if f.Channel != "" {
		add("l.channel = ?", f.Channel)
	}
	if f.CredentialID != 0 {
		add("l.credential_id = ?", f.CredentialID)
	}
	if f.RequestID != "" {
		add("l.request_id = ?", f.RequestID)
	}
	if f.Stream != nil {
		add("l.stream = ?", *f.Stream)
	}
	if !f.Since.IsZero() {
		add("l.created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		add("l.created_at < ?", f.Until.UTC())
	}
	if f.BeforeID != 0 {
		add("l.id < ?", f.BeforeID)
	}
	lo, hi, err := statusRange(f.Status)
	switch {
	case err != nil:
		return "", nil, err
	case f.Status == "":
	case lo > hi:
		add("(l.status < ? OR l.status > ?)", hi+1, lo-1)
	case lo == hi:
		add("l.status = ?", lo)
	default:
		add("l.status BETWEEN ? AND ?", lo, hi)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// selectRows is the SELECT of Query, Get and Each, joined with users.email
// and api_keys.name (LEFT JOIN: rows of deleted users and keys still show).
var selectRows = "SELECT l.id, l." + strings.Join(columns, ", l.") + `, u.email, k.name FROM usage_logs l
	LEFT JOIN users u ON u.id = l.user_id LEFT JOIN api_keys k ON k.id = l.key_id`

// Query returns matching rows newest first.
// Newest means most recently logged: rows are numbered as they are
// inserted, which follows the order requests end, and that order is served
// by the indexes without sorting a user's whole history.
func (s *Store) Query(ctx context.Context, f Filter) ([]Row, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	out := []Row{}
	err := s.scan(ctx, f, limit, func(r *Row) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query usage log: %w", err)
	}
	return out, nil
}

// Get returns the row of id, or an error wrapping ErrNotFound. A userID
// other than 0 must own the row: someone else's is not found either.
func (s *Store) Get(ctx context.Context, id, userID int64) (Row, error) {
	q := selectRows + " WHERE l.id = ?"
	args := []any{id}
	if userID != 0 {
		q += " AND l.user_id = ?"
		args = append(args, userID)
	}
	var r Row
	err := scanRow(s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind(q), args...), &r)
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, fmt.Errorf("usage row %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Row{}, fmt.Errorf("usage row %d: %w", id, err)
	}
	return r, nil
}

// eachChunk is how many rows Each reads per query. Each query is short, so
// a slow reader of a long export holds no connection (nor, on SQLite, a
// read snapshot that stops the WAL from being checkpointed) between them.
const eachChunk = 500

// Each calls fn with every row f selects, newest first, ignoring f.Limit,
// as they are read: the result set is never held whole. fn's row is
// reused for the next call. An error from fn stops it and is returned.
func (s *Store) Each(ctx context.Context, f Filter, fn func(*Row) error) error {
	for {
		n, last := 0, int64(0)
		err := s.scan(ctx, f, eachChunk, func(r *Row) error {
			n, last = n+1, r.ID
			return fn(r)
		})
		if err != nil {
			return err
		}
		if n < eachChunk {
			return nil
		}
		f.BeforeID = last
	}
}

// scan runs the query for f with limit and calls fn per row, reusing one Row.
func (s *Store) scan(ctx context.Context, f Filter, limit int, fn func(*Row) error) error {
	cond, args, err := where(f)
	if err != nil {
		return err
	}
	q := selectRows + cond + " ORDER BY l.id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r Row
	for rows.Next() {
		if err := scanRow(rows, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanRow(sc interface{ Scan(...any) error }, r *Row) error {
	var (
		user, key, cred sql.NullInt64
		email, keyName  sql.NullString
		route           sql.NullString
		ttfb, duration  int64
	)
	*r = Row{}
	if err := sc.Scan(&r.ID, &r.ChargeID, &r.RequestID, &r.Time, &user, &key, &r.Model, &r.ServedModel, &r.Channel,
		&cred, &r.Attempts, &r.Stream, &r.Status, &r.Error, &r.PromptTokens, &r.CompletionTokens, &r.CachedTokens,
		&r.ReasoningTokens, &r.Images, &r.Estimated, &r.CostMicros, &ttfb, &duration, &r.ClientIP, &route,
		&email, &keyName); err != nil {
		return err
	}
	r.Time = r.Time.UTC()
	r.UserID, r.KeyID, r.CredentialID = user.Int64, key.Int64, cred.Int64
	r.TTFB, r.Duration = time.Duration(ttfb)*time.Millisecond, time.Duration(duration)*time.Millisecond
	r.User, r.KeyName = email.String, keyName.String
	if route.String != "" {
		r.Route = json.RawMessage(route.String)
	}
	return nil
}

// Totals sums requests, tokens, images and cost over a filter.
type Totals struct {
	Requests         int64 `json:"requests"`
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	CachedTokens     int64 `json:"cached_tokens"`
	Images           int64 `json:"images"`
	CostMicros       int64 `json:"cost_micros"`
}

// Totals sums the rows Query would return, ignoring f.Limit.
func (s *Store) Totals(ctx context.Context, f Filter) (Totals, error) {
	cond, args, err := where(f)
	if err != nil {
		return Totals{}, fmt.Errorf("sum usage log: %w", err)
	}
	// SUM is DECIMAL on MySQL and NUMERIC on PostgreSQL; both scan into
	// int64 from their text form.
	q := `SELECT COUNT(*), COALESCE(SUM(l.prompt_tokens), 0), COALESCE(SUM(l.completion_tokens), 0),
		COALESCE(SUM(l.cached_tokens), 0), COALESCE(SUM(l.images), 0), COALESCE(SUM(l.cost_micros), 0)
		FROM usage_logs l` + cond
	var t Totals
	if err := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind(q), args...).Scan(&t.Requests, &t.PromptTokens,
		&t.CompletionTokens, &t.CachedTokens, &t.Images, &t.CostMicros); err != nil {
		return Totals{}, fmt.Errorf("sum usage log: %w", err)
	}
	return t, nil
}

// rowJSON is Row's JSON form, the same for the billing journal and for
// `switchyard usage --json`: durations in milliseconds like the table.
type rowJSON struct {
	ChargeID         string    `json:"charge_id"`
	RequestID        string    `json:"request_id"`
	Time             time.Time `json:"time"`
	UserID           int64     `json:"user_id"`
	KeyID            int64     `json:"key_id"`
	Model            string    `json:"model"`
	ServedModel      string    `json:"served_model"`
	Channel          string    `json:"channel"`
	CredentialID     int64     `json:"credential_id"`
	Attempts         int       `json:"attempts"`
	Stream           bool      `json:"stream"`
	Status           int       `json:"status"`
	Error            string    `json:"error"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	CachedTokens     int64     `json:"cached_tokens"`
	ReasoningTokens  int64     `json:"reasoning_tokens"`
	Images           int       `json:"images"`
	Estimated        bool      `json:"estimated"`
	CostMicros       int64     `json:"cost_micros"`
	TTFBMs           int64     `json:"ttfb_ms"`
	DurationMs       int64     `json:"duration_ms"`
	ClientIP         string    `json:"client_ip"`
	// Route is the routing story as stored (EncodeRoute), kept as JSON
	// rather than a string so that the journal and --json show it as is.
	Route   json.RawMessage `json:"route,omitempty"`
	ID      int64           `json:"id,omitempty"`
	User    string          `json:"user_email,omitempty"`
	KeyName string          `json:"key_name,omitempty"`
}

// MarshalJSON writes r with snake_case names and durations in whole
// milliseconds (ttfb_ms, duration_ms).
func (r Row) MarshalJSON() ([]byte, error) {
	return json.Marshal(rowJSON{
		ChargeID: r.ChargeID, RequestID: r.RequestID, Time: r.Time, UserID: r.UserID, KeyID: r.KeyID,
		Model: r.Model, ServedModel: r.ServedModel, Channel: r.Channel, CredentialID: r.CredentialID,
		Attempts: r.Attempts, Stream: r.Stream, Status: r.Status, Error: r.Error,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, CachedTokens: r.CachedTokens,
		ReasoningTokens: r.ReasoningTokens, Images: r.Images, Estimated: r.Estimated, CostMicros: r.CostMicros,
		TTFBMs: r.TTFB.Milliseconds(), DurationMs: r.Duration.Milliseconds(), ClientIP: r.ClientIP,
		Route: r.Route, ID: r.ID, User: r.User, KeyName: r.KeyName,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Row) UnmarshalJSON(b []byte) error {
	var j rowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	// A time.Duration holds about 292 years of milliseconds; beyond that
	// the multiplication would wrap around.
	const maxMs = int64(math.MaxInt64 / int64(time.Millisecond))
	if j.TTFBMs > maxMs || j.TTFBMs < -maxMs || j.DurationMs > maxMs || j.DurationMs < -maxMs {
		return fmt.Errorf("usage row %q: ttfb_ms or duration_ms out of range", j.ChargeID)
	}
	// Compacted, so that a row reads back byte for byte what it writes
	// (encoding/json compacts a RawMessage it writes).
	var route json.RawMessage
	if len(j.Route) > 0 && string(j.Route) != "null" {
		var b bytes.Buffer
		if err := json.Compact(&b, j.Route); err != nil {
			return fmt.Errorf("usage row %q: route: %w", j.ChargeID, err)
		}
		route = b.Bytes()
	}
	*r = Row{
		ChargeID: j.ChargeID, RequestID: j.RequestID, Time: j.Time, UserID: j.UserID, KeyID: j.KeyID,
		Model: j.Model, ServedModel: j.ServedModel, Channel: j.Channel, CredentialID: j.CredentialID,
		Attempts: j.Attempts, Stream: j.Stream, Status: j.Status, Error: j.Error,
		PromptTokens: j.PromptTokens, CompletionTokens: j.CompletionTokens, CachedTokens: j.CachedTokens,
		ReasoningTokens: j.ReasoningTokens, Images: j.Images, Estimated: j.Estimated, CostMicros: j.CostMicros,
		TTFB: time.Duration(j.TTFBMs) * time.Millisecond, Duration: time.Duration(j.DurationMs) * time.Millisecond,
		ClientIP: j.ClientIP, Route: route, ID: j.ID, User: j.User, KeyName: j.KeyName,
	}
	return nil
}
