package gallery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/store"
)

// Image is one row of the gallery.
type Image struct {
	ID          int64
	UserID      int64
	TaskID      string // "" for an imported image
	OutputIndex int
	Prompt      string
	Model       string
	Size        string
	Quality     string
	Key         string // the image's object in image storage
	Bytes       int64
	MIME        string
	Width       int // 0 until the thumbnailer has read the image
	Height      int
	Favourite   bool
	ThumbKey    string // "" until the thumbnail is made
	ThumbState  string // ThumbPending, ThumbReady or ThumbFailed
	CreatedAt   time.Time
}

// Thumbnail states.
const (
	ThumbPending = "pending"
	ThumbReady   = "ready"
	ThumbFailed  = "failed"
)

// Errors.
var (
	// ErrNotFound is a missing image, or one of another user's.
	ErrNotFound = errors.New("gallery: no such image")
	// ErrBadCursor is a cursor List did not give out.
	ErrBadCursor = errors.New("gallery: malformed cursor")
)

// Column sizes, in characters.
const (
	maxPrompt  = 32000
	maxModel   = 191
	maxSize    = 32
	maxQuality = 16
	maxMIME    = 64
)

// MinSearch is the shortest query the search index answers; shorter
// ones are matched with LIKE.
const MinSearch = 3

// Filter selects and pages images. Zero fields do not filter.
type Filter struct {
	UserID    int64 // 0: everyone's (admins)
	Model     string
	Size      string
	Since     time.Time // created at or after
	Until     time.Time // created before
	Favourite *bool
	Query     string // a substring of the prompt, case-insensitive
	// After is the NextCursor of the previous page; "" for the first.
	After string
	Limit int // 1…1000; default 50
}

// Page is one page of a listing, newest first.
type Page struct {
	Images []Image
	// NextCursor continues the listing; "" on the last page.
	NextCursor string
}

// Store is the gallery of db, whose images live in files.
type Store struct {
	db    *store.DB
	files images.Store
	now   func() time.Time
	log   *slog.Logger
	// fulltext: MySQL with the ngram FULLTEXT index (not MariaDB).
	fulltext bool
	kick     func()
	// shortScan is ShortScan; tests lower it.
	shortScan int
}

// New returns the gallery of db; files is the image storage (deletes go
// there), now the clock (time.Now when nil). On MySQL it looks for the
// ngram FULLTEXT index the migration creates where the server has the
// parser.
func New(ctx context.Context, db *store.DB, files images.Store, now func() time.Time, log *slog.Logger) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: db, files: files, now: now, log: log.With("component", "gallery"), shortScan: ShortScan}
	if db.Dialect() == store.MySQL {
		var n int
		err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.STATISTICS
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'gallery_images' AND INDEX_NAME = 'gallery_images_prompt_ft'`).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("gallery: look for the prompt index: %w", err)
		}
		s.fulltext = n > 0
	}
	return s, nil
}

func (s *Store) q(query string) string { return s.db.Dialect().Rebind(query) }

// clock is now in UTC at microseconds, what all three databases keep.
func (s *Store) clock() time.Time { return dbTime(s.now()) }

func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

const columns = `id, user_id, task_id, output_index, prompt, model, size, quality, storage_key, bytes, mime,
	width, height, favourite, thumb_key, thumb_state, created_at`

// gColumns are the columns of gallery_images g.
var gColumns = "g." + strings.Join(strings.Fields(strings.ReplaceAll(columns, ",", " ")), ", g.")

func scan(sc interface{ Scan(...any) error }) (Image, error) {
	var im Image
	err := sc.Scan(&im.ID, &im.UserID, &im.TaskID, &im.OutputIndex, &im.Prompt, &im.Model, &im.Size, &im.Quality,
		&im.Key, &im.Bytes, &im.MIME, &im.Width, &im.Height, &im.Favourite, &im.ThumbKey, &im.ThumbState, &im.CreatedAt)
	im.CreatedAt = im.CreatedAt.UTC()
	return im, err
}

// Record adds the stored images of a finished task (images.Recorder).
// Recording the same task again adds nothing. Failures are logged.
func (s *Store) Record(ctx context.Context, m images.Made) {
	if m.UserID == 0 {
		return
	}
	at := dbTime(m.At)
	if m.At.IsZero() {
		at = s.clock()
	}
	rows := make([]Image, 0, len(m.Outputs))
	for i, o := range m.Outputs {
		index := i
		if _, n, ok := strings.Cut(o.Key, "/"); ok {
			if v, err := strconv.Atoi(n); err == nil {
				index = v
			}
		}
		rows = append(rows, Image{UserID: m.UserID, TaskID: m.TaskID, OutputIndex: index, Prompt: m.Prompt, Model: m.Model,
			Size: m.Size, Quality: m.Quality, Key: o.Key, Bytes: o.Bytes, MIME: o.ContentType, CreatedAt: at})
	}
	if _, err := s.Insert(ctx, rows); err != nil {
		s.log.Error("record images in the gallery", "task", m.TaskID, "user", m.UserID, "err", err)
		return
	}
	if s.kick != nil {
		s.kick()
	}
}

// insertBatch is how many rows one INSERT writes.
const insertBatch = 200

var insertColumns = []string{"user_id", "task_id", "output_index", "prompt", "model", "size", "quality", "storage_key",
	"bytes", "mime", "width", "height", "favourite", "thumb_key", "thumb_state", "created_at"}

// Insert adds rows (their ID is ignored; a zero CreatedAt is now, an empty
// ThumbState pending). A row whose storage key is already in the gallery
// is skipped. It returns how many rows were added.
func (s *Store) Insert(ctx context.Context, rows []Image) (int, error) {
	added := 0
	for len(rows) > 0 {
		n := min(len(rows), insertBatch)
		args := make([]any, 0, n*len(insertColumns))
		for _, im := range rows[:n] {
			if err := images.ValidKey(im.Key); err != nil {
				return added, fmt.Errorf("gallery: %w", err)
			}
			at := dbTime(im.CreatedAt)
			if im.CreatedAt.IsZero() {
				at = s.clock()
			}
			state := im.ThumbState
			if state == "" {
				state = ThumbPending
			}
			args = append(args, im.UserID, im.TaskID, im.OutputIndex, store.Clip(im.Prompt, maxPrompt),
				store.Clip(im.Model, maxModel), store.Clip(im.Size, maxSize), store.Clip(im.Quality, maxQuality), im.Key,
				im.Bytes, store.Clip(im.MIME, maxMIME), im.Width, im.Height, im.Favourite, im.ThumbKey, state, at)
		}
		q := s.db.Dialect().InsertIgnoreRows("gallery_images", insertColumns, []string{"storage_key"}, n)
		res, err := s.db.Write().ExecContext(ctx, q, args...)
		if err != nil {
			return added, fmt.Errorf("gallery: insert images: %w", err)
		}
		if c, err := res.RowsAffected(); err == nil {
			added += int(c)
		}
		rows = rows[n:]
	}
	return added, nil
}

// Kept returns which of keys are images in the gallery, for the image
// task sweeper (images.RunnerOptions.Kept): those are the gallery's to
// delete.
func (s *Store) Kept(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.db.Read().QueryContext(ctx, s.q(`SELECT storage_key FROM gallery_images WHERE storage_key IN (`+
		placeholders(len(keys))+`)`), args...)
	if err != nil {
		return nil, fmt.Errorf("gallery: kept images: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("gallery: kept images: %w", err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gallery: kept images: %w", err)
	}
	return out, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// Get returns image id of userID (0: anyone's).
func (s *Store) Get(ctx context.Context, id, userID int64) (Image, error) {
	im, err := scan(s.db.Read().QueryRowContext(ctx, s.q(`SELECT `+columns+` FROM gallery_images
		WHERE id = ? AND (? = 0 OR user_id = ?)`), id, userID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return Image{}, ErrNotFound
	}
	if err != nil {
		return Image{}, fmt.Errorf("gallery: image %d: %w", id, err)
	}
	return im, nil
}

// cursor is the position after an image in the listing's order.
func cursor(im Image) string { return strconv.FormatInt(im.ID, 10) }

func parseCursor(c string) (int64, error) {
	id, err := strconv.ParseInt(c, 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrBadCursor
	}
	return id, nil
}

// escapeLike escapes LIKE's wildcards (with '\' as the escape).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// List returns a page of images, newest first: in the order they were
// added to the gallery (by id), which is the order they were made in
// except for imports.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var (
		where []string
		args  []any
	)
	from, id := `gallery_images g`, `g.id`
	if q := strings.TrimSpace(f.Query); q != "" {
		if s.db.Dialect() == store.SQLite && len([]rune(q)) >= MinSearch {
			// The FTS table leads: it yields its matches in rowid order,
			// newest first, and the LIMIT stops it early for a common
			// phrase. An FTS5 string has its double quotes doubled; the
			// trigram tokenizer matches it as a substring, whatever the
			// case.
			from, id = `gallery_images_fts JOIN gallery_images g ON g.id = gallery_images_fts.rowid`, `gallery_images_fts.rowid`
			where = append(where, `gallery_images_fts MATCH ?`)
			args = append(args, `"`+strings.ReplaceAll(q, `"`, `""`)+`"`)
		} else {
			cond, a := s.search(q)
			where, args = append(where, cond), append(args, a...)
		}
	}
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.UserID != 0 {
		add("g.user_id = ?", f.UserID)
	}
	if f.Model != "" {
		add("g.model = ?", f.Model)
	}
	if f.Size != "" {
		add("g.size = ?", f.Size)
	}
	if !f.Since.IsZero() {
		add("g.created_at >= ?", dbTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("g.created_at < ?", dbTime(f.Until))
	}
	if f.Favourite != nil {
		add("g.favourite = ?", *f.Favourite)
	}
	var after int64
	if f.After != "" {
		var err error
		if after, err = parseCursor(f.After); err != nil {
			return Page{}, err
		}
		add(id+" < ?", after)
	}
	// A short query has no index to narrow it: it is checked row by row
	// over a window of the user's newest images (see shortWindow).
	var floor int64
	if q := strings.TrimSpace(f.Query); q != "" && len([]rune(q)) < MinSearch {
		var err error
		if floor, err = s.shortWindow(ctx, f.UserID, after); err != nil {
			return Page{}, err
		}
		if floor > 0 {
			add("g.id >= ?", floor)
		}
	}
	query := `SELECT ` + gColumns + ` FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY ` + id + ` DESC LIMIT ` + strconv.Itoa(limit+1)
	rows, err := s.db.Read().QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return Page{}, fmt.Errorf("gallery: list: %w", err)
	}
	defer rows.Close()
	out := Page{Images: make([]Image, 0, min(limit, 64))}
	for rows.Next() {
		im, err := scan(rows)
		if err != nil {
			return Page{}, fmt.Errorf("gallery: list: %w", err)
		}
		out.Images = append(out.Images, im)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("gallery: list: %w", err)
	}
	if len(out.Images) > limit {
		out.Images = out.Images[:limit]
		out.NextCursor = cursor(out.Images[limit-1])
	} else if floor > 0 {
		// The window ended before the page filled: the next page goes
		// on below it, and may itself be short, or empty.
		out.NextCursor = strconv.FormatInt(floor, 10)
	}
	return out, nil
}

// ShortScan is how many images one page of a search shorter than
// MinSearch examines. Such a query has no trigram for an index to use,
// so its page is found by checking the newest images one by one; for a
// rare substring that would read most of the gallery. Bounding the scan
// bounds the page's time (a few milliseconds for 5 000 images): a page
// may then hold fewer matches than asked, or none, with a NextCursor
// that carries on where the scan stopped.
const ShortScan = 5000

// shortWindow returns the lowest id among the ShortScan newest images of
// userID (0: everyone's) below after (0: from the newest), or 0 when
// fewer remain, so the scan needs no bound. It reads the (user_id, id)
// index only.
func (s *Store) shortWindow(ctx context.Context, userID, after int64) (int64, error) {
	var (
		where []string
		args  []any
	)
	if userID != 0 {
		where, args = append(where, "user_id = ?"), append(args, userID)
	}
	if after > 0 {
		where, args = append(where, "id < ?"), append(args, after)
	}
	q := `SELECT id FROM gallery_images`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// The ShortScan-th id, if there is one.
	q += ` ORDER BY id DESC LIMIT 1 OFFSET ` + strconv.Itoa(s.shortScan-1)
	var floor int64
	err := s.db.Read().QueryRowContext(ctx, s.q(q), args...).Scan(&floor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gallery: search window: %w", err)
	}
	return floor, nil
}

// search is the condition matching prompts that contain q, whatever the
// case, but for SQLite's FTS (see List): through the dialect's index for
// MinSearch characters or more, with LIKE below that (an index of
// trigrams has nothing to offer).
func (s *Store) search(q string) (string, []any) {
	like := "%" + escapeLike(q) + "%"
	short := len([]rune(q)) < MinSearch
	switch s.db.Dialect() {
	case store.SQLite:
		// LIKE is case-insensitive for ASCII in SQLite.
		return `g.prompt LIKE ? ESCAPE '\'`, []any{like}
	case store.Postgres:
		// The trigram GIN index serves ILIKE for three characters or more.
		// A shorter pattern has no trigram: the index would return every
		// row to be checked, so a shorter one is a strpos, which keeps the
		// planner off it (the page then comes from the user's rows, newest
		// first, checked one by one) and is cheaper than ILIKE per row.
		if short {
			return `strpos(lower(g.prompt), lower(?)) > 0`, []any{q}
		}
		return `g.prompt ILIKE ? ESCAPE '\'`, []any{like}
	default:
		if short || !s.fulltext {
			// prompt's collation is case-insensitive.
			return `g.prompt LIKE ? ESCAPE '\\'`, []any{like}
		}
		// The ngram index finds candidates by the phrase's n-grams; LIKE
		// keeps the exact substrings.
		phrase := `"` + strings.ReplaceAll(q, `"`, ` `) + `"`
		return `MATCH (g.prompt) AGAINST (? IN BOOLEAN MODE) AND g.prompt LIKE ? ESCAPE '\\'`, []any{phrase, like}
	}
}

// SetFavourite marks or unmarks image id of userID (0: anyone's).
func (s *Store) SetFavourite(ctx context.Context, id, userID int64, fav bool) (Image, error) {
	res, err := s.db.Write().ExecContext(ctx, s.q(`UPDATE gallery_images SET favourite = ?
		WHERE id = ? AND (? = 0 OR user_id = ?)`), fav, id, userID, userID)
	if err != nil {
		return Image{}, fmt.Errorf("gallery: favourite %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// MySQL counts only changed rows: read to tell "unchanged" from
		// "missing".
		return s.Get(ctx, id, userID)
	}
	return s.Get(ctx, id, userID)
}

// MaxDelete is how many images one Delete takes.
const MaxDelete = 500

// Delete removes images ids of userID (0: anyone's) and their objects in
// storage, and returns the images it removed (others' and missing ids are
// skipped). An object that cannot be deleted is logged and left behind.
func (s *Store) Delete(ctx context.Context, ids []int64, userID int64) ([]Image, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxDelete {
		return nil, fmt.Errorf("gallery: at most %d images at once", MaxDelete)
	}
	args := make([]any, 0, len(ids)+2)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, userID, userID)
	cond := `id IN (` + placeholders(len(ids)) + `) AND (? = 0 OR user_id = ?)`
	rows, err := s.db.Read().QueryContext(ctx, s.q(`SELECT `+columns+` FROM gallery_images WHERE `+cond), args...)
	if err != nil {
		return nil, fmt.Errorf("gallery: delete: %w", err)
	}
	var gone []Image
	for rows.Next() {
		im, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("gallery: delete: %w", err)
		}
		gone = append(gone, im)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gallery: delete: %w", err)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if _, err := s.db.Write().ExecContext(ctx, s.q(`DELETE FROM gallery_images WHERE `+cond), args...); err != nil {
		return nil, fmt.Errorf("gallery: delete: %w", err)
	}
	if s.files != nil {
		dctx := context.WithoutCancel(ctx)
		for _, im := range gone {
			for _, k := range []string{im.Key, im.ThumbKey} {
				if k == "" {
					continue
				}
				if err := s.files.Delete(dctx, k); err != nil {
					s.log.Warn("delete a gallery image's object", "image", im.ID, "key", k, "err", err)
				}
			}
		}
	}
	return gone, nil
}

// Models lists the models userID's images (0: everyone's) were made with,
// for the filter.
func (s *Store) Models(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.db.Read().QueryContext(ctx, s.q(`SELECT DISTINCT model FROM gallery_images
		WHERE (? = 0 OR user_id = ?) ORDER BY model`), userID, userID)
	if err != nil {
		return nil, fmt.Errorf("gallery: models: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("gallery: models: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
