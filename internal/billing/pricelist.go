package billing

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
)

// The price list lives in the prices table: the file's pricing: entries,
// written at every start and marked managed by the file, and the entries
// set through the console. Every node serves from a PriceTable, an
// immutable Prices swapped atomically when the list changes.

// PriceSpec is a price as stored and as the console shows it, in exact
// integer micro-USD: token prices per 1M tokens (USD per 1M × 1e6), the
// others per request, web search or image. CachedInputMicros 0 means the
// input price, as cached_input 0 does in the file.
type PriceSpec struct {
	Free               bool             `json:"free"`
	InputMicros        int64            `json:"input_micros"`
	CachedInputMicros  int64            `json:"cached_input_micros"`
	OutputMicros       int64            `json:"output_micros"`
	PerRequestMicros   int64            `json:"per_request_micros"`
	PerWebSearchMicros int64            `json:"per_web_search_micros"`
	PerImageMicros     map[string]int64 `json:"per_image_micros,omitempty"` // "1024x1024", "1024x1024/hd", "default"
}

func (s PriceSpec) compile() Price {
	pr := Price{
		Free: s.Free, Input: Micros(s.InputMicros), CachedInput: Micros(s.CachedInputMicros),
		Output: Micros(s.OutputMicros), PerRequest: Micros(s.PerRequestMicros),
		PerWebSearch: Micros(s.PerWebSearchMicros),
	}
	if s.CachedInputMicros == 0 {
		pr.CachedInput = pr.Input
	}
	if len(s.PerImageMicros) > 0 {
		pr.PerImage = make(map[string]Micros, len(s.PerImageMicros))
		for k, v := range s.PerImageMicros {
			pr.PerImage[k] = Micros(v)
		}
	}
	return pr
}

// FieldError is a refused value, named by its JSON member
// ("per_image_micros.1024x1024").
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// maxModelName is the prices.model column's length.
const maxModelName = 191

// ValidatePrice checks a price the console sets for model; the error is a
// *FieldError naming the first bad member ("model" for the name).
func ValidatePrice(model string, s PriceSpec) error {
	switch {
	case strings.TrimSpace(model) == "" || model != strings.TrimSpace(model):
		return &FieldError{"model", "must be a model name or pattern without surrounding spaces"}
	case len(model) > maxModelName:
		return &FieldError{"model", fmt.Sprintf("must be at most %d bytes", maxModelName)}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"input_micros", s.InputMicros}, {"cached_input_micros", s.CachedInputMicros},
		{"output_micros", s.OutputMicros}, {"per_request_micros", s.PerRequestMicros},
		{"per_web_search_micros", s.PerWebSearchMicros},
	} {
		if f.v < 0 {
			return &FieldError{f.name, "must be 0 or more"}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.PerImageMicros)) {
		field := "per_image_micros." + k
		if !config.ValidImagePriceKey(k) {
			return &FieldError{field, fmt.Sprintf("%q is not default, WxH or WxH/quality; write it like 1024x1024 or 1024x1024/hd", k)}
		}
		if s.PerImageMicros[k] < 0 {
			return &FieldError{field, "must be 0 or more"}
		}
	}
	return nil
}

// PriceEntry is one row of the price list.
type PriceEntry struct {
	Model string
	PriceSpec
	ManagedByFile bool
	UpdatedAt     time.Time
}

// Errors of the PriceStore, wrapped with the model concerned.
var (
	ErrPriceNotFound = errors.New("no price for this model")
	ErrManagedByFile = errors.New("the price is set by the configuration file")
)

// PriceStore keeps the price list in the database.
type PriceStore struct {
	db  *store.DB
	now func() time.Time
	log *slog.Logger
}

// NewPriceStore returns a PriceStore over db; now and log may be nil.
func NewPriceStore(db *store.DB, now func() time.Time, log *slog.Logger) *PriceStore {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PriceStore{db: db, now: now, log: log}
}

// ApplyConfig makes the stored list follow the file's pricing: every file
// entry is upserted and marked managed by the file (a console entry of the
// same name is taken over: the file wins), and file entries that left the
// file are deleted. Console entries are left alone. Its errors name the
// setting, as NewPrices's do.
func (s *PriceStore) ApplyConfig(ctx context.Context, m map[string]config.Price) error {
	specs, err := SpecsFromConfig(m)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	q := s.db.Dialect().Upsert("prices", []string{"model", "price", "managed_by_file", "updated_at"}, []string{"model"},
		[]string{"price", "managed_by_file", "updated_at"})
	for _, model := range slices.Sorted(maps.Keys(specs)) {
		b, err := json.Marshal(specs[model])
		if err != nil {
			return fmt.Errorf("store %s: %w", keyPath("pricing", model), err)
		}
		if _, err := s.db.Write().ExecContext(ctx, q, model, string(b), true, now); err != nil {
			return fmt.Errorf("store %s: %w", keyPath("pricing", model), err)
		}
	}
	del := "DELETE FROM prices WHERE managed_by_file = ?"
	args := []any{true}
	if len(specs) > 0 {
		del += " AND model NOT IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(specs)), ", ") + ")"
		for _, model := range slices.Sorted(maps.Keys(specs)) {
			args = append(args, model)
		}
	}
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(del), args...); err != nil {
		return fmt.Errorf("delete prices that left the file: %w", err)
	}
	return nil
}

// List returns every entry, by model name.
func (s *PriceStore) List(ctx context.Context) ([]PriceEntry, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT model, price, managed_by_file, updated_at FROM prices ORDER BY model")
	if err != nil {
		return nil, fmt.Errorf("list prices: %w", err)
	}
	defer rows.Close()
	var out []PriceEntry
	for rows.Next() {
		e, err := scanPrice(rows)
		if err != nil {
			return nil, fmt.Errorf("list prices: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list prices: %w", err)
	}
	return out, nil
}

// Get returns model's entry (an exact entry: a pattern is looked up by the
// pattern itself), or ErrPriceNotFound.
func (s *PriceStore) Get(ctx context.Context, model string) (PriceEntry, error) {
	row := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind(
		"SELECT model, price, managed_by_file, updated_at FROM prices WHERE model = ?"), model)
	e, err := scanPrice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return PriceEntry{}, fmt.Errorf("price %s: %w", model, ErrPriceNotFound)
	}
	if err != nil {
		return PriceEntry{}, fmt.Errorf("get price %s: %w", model, err)
	}
	return e, nil
}

// Put sets model's price, creating the entry (created true) or replacing
// a console entry; an entry from the file is refused with
// ErrManagedByFile. The price is checked with ValidatePrice first.
func (s *PriceStore) Put(ctx context.Context, model string, spec PriceSpec) (e PriceEntry, created bool, err error) {
	if err := ValidatePrice(model, spec); err != nil {
		return PriceEntry{}, false, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return PriceEntry{}, false, fmt.Errorf("set price %s: %w", model, err)
	}
	now := s.now().UTC()
	w := s.db.Write()
	// Insert, else update only a console row: each is one statement, so a
	// file entry written concurrently by a starting node is never
	// overwritten.
	res, err := w.ExecContext(ctx, s.db.Dialect().InsertIgnore("prices",
		[]string{"model", "price", "managed_by_file", "updated_at"}, []string{"model"}), model, string(b), false, now)
	if err != nil {
		return PriceEntry{}, false, fmt.Errorf("set price %s: %w", model, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		res, err = w.ExecContext(ctx, s.db.Dialect().Rebind(
			"UPDATE prices SET price = ?, updated_at = ? WHERE model = ? AND managed_by_file = ?"), string(b), now, model, false)
		if err != nil {
			return PriceEntry{}, false, fmt.Errorf("set price %s: %w", model, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// A file entry, or (MySQL counts changed rows only) the
			// same update twice in the same microsecond.
			cur, err := s.Get(ctx, model)
			if err != nil {
				return PriceEntry{}, false, err
			}
			if cur.ManagedByFile {
				return PriceEntry{}, false, fmt.Errorf("price %s: %w", model, ErrManagedByFile)
			}
		}
	} else {
		created = true
	}
	return PriceEntry{Model: model, PriceSpec: spec, UpdatedAt: now}, created, nil
}

// Delete removes model's console entry; ErrPriceNotFound when there is
// none, ErrManagedByFile for a file entry.
func (s *PriceStore) Delete(ctx context.Context, model string) error {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"DELETE FROM prices WHERE model = ? AND managed_by_file = ?"), model, false)
	if err != nil {
		return fmt.Errorf("delete price %s: %w", model, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	cur, err := s.Get(ctx, model)
	if err != nil {
		return err
	}
	if cur.ManagedByFile {
		return fmt.Errorf("price %s: %w", model, ErrManagedByFile)
	}
	return fmt.Errorf("price %s: %w", model, ErrPriceNotFound) // deleted meanwhile
}

// Load compiles the stored list. An entry that cannot be read or fails
// ValidatePrice (written by hand, say) is left out and logged rather than
// failing the whole list, which would keep every other change from landing.
func (s *PriceStore) Load(ctx context.Context) (*Prices, error) {
	entries, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	specs := make(map[string]PriceSpec, len(entries))
	for _, e := range entries {
		if err := ValidatePrice(e.Model, e.PriceSpec); err != nil {
			s.log.Error("price left out of the price list", "model", e.Model, "error", err.Error())
			continue
		}
		specs[e.Model] = e.PriceSpec
	}
	return buildPrices(specs), nil
}

type scanner interface{ Scan(dest ...any) error }

func scanPrice(r scanner) (PriceEntry, error) {
	var (
		e   PriceEntry
		raw string
	)
	if err := r.Scan(&e.Model, &raw, &e.ManagedByFile, &e.UpdatedAt); err != nil {
		return PriceEntry{}, err
	}
	if err := json.Unmarshal([]byte(raw), &e.PriceSpec); err != nil {
		return PriceEntry{}, fmt.Errorf("decode price of %s: %w", e.Model, err)
	}
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e, nil
}

// PriceTable is the price list requests are charged from: a *Prices
// swapped atomically, so Lookup takes no lock.
type PriceTable struct{ p atomic.Pointer[Prices] }

// NewPriceTable returns a table serving p.
func NewPriceTable(p *Prices) *PriceTable {
	t := &PriceTable{}
	t.p.Store(p)
	return t
}

// Lookup is Prices.Lookup on the current list.
func (t *PriceTable) Lookup(model string) (Price, bool) { return t.p.Load().Lookup(model) }

// Swap makes p the current list.
func (t *PriceTable) Swap(p *Prices) { t.p.Store(p) }
