package usage

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Rollups are the usage log summed by time bucket, so that the console's
// analytics never scan the log itself (migration 00011). The usage writer
// adds each batch's rows to them in the transaction that stores the rows,
// counting only rows that were not stored before: a rollup always equals
// an aggregate of the log.

// Dim is what a rollup row is broken down by.
type Dim int8

// The dimensions; the values are stored in the rollup tables' dim column.
const (
	DimTotal Dim = iota
	DimModel
	DimChannel
	DimCredential
	DimKey
	DimUser
)

var dimNames = [...]string{DimTotal: "", DimModel: "model", DimChannel: "channel", DimCredential: "credential",
	DimKey: "key", DimUser: "user"}

func (d Dim) String() string { return dimNames[d] }

// ParseDim reads a breakdown name: model, channel, credential, key or user.
func ParseDim(s string) (Dim, bool) {
	for d, n := range dimNames {
		if n == s && d != int(DimTotal) {
			return Dim(d), true
		}
	}
	return DimTotal, false
}

// LatencyBounds are the upper bounds, in milliseconds, of the latency
// histogram's buckets but the last, which is unbounded. Request durations
// of an AI gateway run from a hundred milliseconds to minutes, so the
// bounds roughly double.
var LatencyBounds = [latencyBuckets - 1]int64{100, 200, 400, 800, 1500, 3000, 6000, 12000, 25000, 50000, 100000}

const latencyBuckets = 12

// latencyBucket is the histogram bucket of a duration in milliseconds.
func latencyBucket(ms int64) int {
	i, _ := slices.BinarySearch(LatencyBounds[:], ms)
	return i
}

// grain is one rollup table and its bucket width.
type grain struct {
	name  string
	table string
	width int64 // seconds
}

var (
	minuteGrain = grain{"minute", "usage_rollup_minute", 60}
	hourGrain   = grain{"hour", "usage_rollup_hour", 3600}
	dayGrain    = grain{"day", "usage_rollup_day", 86400}
	grains      = [...]grain{minuteGrain, hourGrain, dayGrain}
)

func (g grain) floor(t int64) int64 { return t - ((t%g.width)+g.width)%g.width }

var rollupKeyColumns = []string{"bucket", "scope", "dim", "val"}

var rollupSumColumns = func() []string {
	c := []string{"requests", "errors", "prompt_tokens", "completion_tokens", "cost_micros"}
	for i := range latencyBuckets {
		c = append(c, "lat_"+strconv.Itoa(i))
	}
	return c
}()

var rollupColumns = append(slices.Clone(rollupKeyColumns), rollupSumColumns...)

type rollupKey struct {
	bucket, scope int64
	dim           Dim
	val           string
}

// sums are the additive figures of a rollup row.
type sums struct {
	requests, errors, prompt, completion, cost int64
	lat                                        [latencyBuckets]int64
}

func (s *sums) add(o *sums) {
	s.requests += o.requests
	s.errors += o.errors
	s.prompt += o.prompt
	s.completion += o.completion
	s.cost += o.cost
	for i := range s.lat {
		s.lat[i] += o.lat[i]
	}
}

// rollup is a batch of rows summed in memory, per table.
type rollup [len(grains)]map[rollupKey]*sums

func newRollup() *rollup {
	var r rollup
	for i := range r {
		r[i] = map[rollupKey]*sums{}
	}
	return &r
}

// IsError says whether a request counts as an error in the rollups: any
// status but 2xx, like Filter.Status "error".
func IsError(status int) bool { return status < 200 || status > 299 }

// add sums r into every row it belongs to: the total and each dimension,
// for the whole gateway and for its user, in every table. ids keeps the
// id strings of the batch's rows (the rows of a batch mostly share their
// user, key and credential); nil computes them for this row.
func (ru *rollup) add(r *Row, ids map[int64]string) {
	vals := rollupVals(r, ids)
	for gi := range grains {
		ru.addVals(gi, r, &vals)
	}
}

// addTo sums r into the rows of one table.
func (ru *rollup) addTo(gi int, r *Row) {
	vals := rollupVals(r, nil)
	ru.addVals(gi, r, &vals)
}

// rollupVals are the values r is grouped by, per dimension. Values are
// clipped like the log's columns, so a rollup groups exactly as a GROUP BY
// on the log would.
func rollupVals(r *Row, ids map[int64]string) [DimUser + 1]string {
	return [...]string{
		DimTotal:      "",
		DimModel:      store.Clip(r.Model, maxName),
		DimChannel:    store.Clip(r.Channel, maxName),
		DimCredential: cachedIDVal(ids, r.CredentialID),
		DimKey:        cachedIDVal(ids, r.KeyID),
		DimUser:       cachedIDVal(ids, r.UserID),
	}
}

func cachedIDVal(ids map[int64]string, id int64) string {
	if ids == nil || id == 0 {
		return idVal(id)
	}
	v, ok := ids[id]
	if !ok {
		v = idVal(id)
		ids[id] = v
	}
	return v
}

func (ru *rollup) addVals(gi int, r *Row, vals *[DimUser + 1]string) {
	one := sums{requests: 1, prompt: r.PromptTokens, completion: r.CompletionTokens, cost: r.CostMicros}
	if IsError(r.Status) {
		one.errors = 1
	}
	one.lat[latencyBucket(r.Duration.Milliseconds())] = 1
	b := grains[gi].floor(r.Time.Unix())
	for d, v := range vals {
		ru.put(gi, rollupKey{bucket: b, dim: Dim(d), val: v}, &one)
		if r.UserID != 0 && Dim(d) != DimUser {
			ru.put(gi, rollupKey{bucket: b, scope: r.UserID, dim: Dim(d), val: v}, &one)
		}
	}
}

func (ru *rollup) put(gi int, k rollupKey, s *sums) {
	if cur, ok := ru[gi][k]; ok {
		cur.add(s)
		return
	}
	c := *s
	ru[gi][k] = &c
}

func idVal(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// rollupWriter adds rollups to the tables, one multi-row upsert per chunk
// of distinct keys.
type rollupWriter struct {
	tables [len(grains)]*store.BatchInsert
}

func newRollupWriter(db *store.DB) *rollupWriter {
	var w rollupWriter
	for i, g := range grains {
		w.tables[i] = db.NewBatchUpsertAdd(g.table, rollupColumns, []string{"scope", "dim", "bucket", "val"}, rollupSumColumns)
	}
	return &w
}

func (w *rollupWriter) prepare(ctx context.Context) error {
	for _, t := range w.tables {
		if err := t.Prepare(ctx); err != nil {
			return err
		}
	}
	return nil
}

// write upserts ru in tx. Keys go in primary key order, so that two
// writers lock rows in the same order and cannot deadlock each other.
func (w *rollupWriter) write(ctx context.Context, tx *sql.Tx, ru *rollup) error {
	for gi, m := range ru {
		if len(m) == 0 {
			continue
		}
		keys := make([]rollupKey, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b rollupKey) int {
			return cmp.Or(cmp.Compare(a.scope, b.scope), cmp.Compare(a.dim, b.dim), cmp.Compare(a.bucket, b.bucket),
				cmp.Compare(a.val, b.val))
		})
		t := w.tables[gi]
		chunk := t.MaxRows()
		args := make([]any, 0, min(len(keys), chunk)*len(rollupColumns))
		for start := 0; start < len(keys); start += chunk {
			args = args[:0]
			for _, k := range keys[start:min(start+chunk, len(keys))] {
				s := m[k]
				args = append(args, k.bucket, k.scope, int16(k.dim), k.val, s.requests, s.errors, s.prompt, s.completion, s.cost)
				for _, c := range s.lat {
					args = append(args, c)
				}
			}
			if _, err := t.Exec(ctx, tx, args); err != nil {
				return fmt.Errorf("add to %s: %w", grains[gi].table, err)
			}
		}
	}
	return nil
}

// Retention of the rollup tables: a day of minutes (and an hour to spare),
// a month of hours, about a year of days.
var retention = [len(grains)]time.Duration{25 * time.Hour, 32 * 24 * time.Hour, 400 * 24 * time.Hour}

// PruneRollups deletes rollup rows older than their table's retention at
// now. It is idempotent, so every node may run it. The tables have no
// index on bucket alone, so it walks the primary key: each scope found by
// an index seek (SELECT MIN(scope) ... WHERE scope > ?), then one range
// delete per (scope, dim), each a short statement that holds SQLite's one
// writer briefly.
func (s *Store) PruneRollups(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	d := s.db.Dialect()
	for gi, g := range grains {
		cutoff := g.floor(now.Add(-retention[gi]).Unix())
		del := d.Rebind("DELETE FROM " + g.table + " WHERE scope = ? AND dim = ? AND bucket < ?")
		next := d.Rebind("SELECT MIN(scope) FROM " + g.table + " WHERE scope > ?")
		for scope := int64(-1); ; {
			var found sql.NullInt64
			if err := s.db.Read().QueryRowContext(ctx, next, scope).Scan(&found); err != nil {
				return total, fmt.Errorf("prune %s: %w", g.table, err)
			}
			if !found.Valid {
				break
			}
			scope = found.Int64
			for dim := DimTotal; dim <= DimUser; dim++ {
				res, err := s.db.Write().ExecContext(ctx, del, scope, int16(dim), cutoff)
				if err != nil {
					return total, fmt.Errorf("prune %s: %w", g.table, err)
				}
				n, _ := res.RowsAffected()
				total += n
			}
		}
	}
	return total, nil
}

// RunPruning prunes the rollups every interval until ctx ends, logging
// failures: a missed round only leaves old rows a little longer.
func (s *Store) RunPruning(ctx context.Context, every time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.PruneRollups(ctx, now())
			if err != nil && ctx.Err() == nil {
				log.Warn("usage rollup pruning failed; will retry", "error", err.Error())
			} else if n > 0 {
				log.Debug("usage rollups pruned", "rows", n)
			}
		}
	}
}
