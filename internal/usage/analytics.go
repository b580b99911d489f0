package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Ranges the analytics answer for, and the bucket width of their series:
// minutes for a day, hours beyond.
var ranges = map[string]struct {
	span  time.Duration
	grain grain
}{
	"24h": {24 * time.Hour, minuteGrain},
	"7d":  {7 * 24 * time.Hour, hourGrain},
	"30d": {30 * 24 * time.Hour, hourGrain},
}

// ValidRange reports whether s names an analytics range (24h, 7d, 30d).
func ValidRange(s string) bool {
	_, ok := ranges[s]
	return ok
}

// Breakdown sizes.
const (
	DefaultTop = 10
	MaxTop     = 100
)

// ErrInvalidQuery is wrapped by the errors of an analytics query that
// cannot be answered; Field names the offending parameter.
var ErrInvalidQuery = errors.New("invalid analytics query")

// QueryError is an invalid analytics query parameter.
type QueryError struct{ Field, Msg string }

func (e *QueryError) Error() string { return e.Field + ": " + e.Msg }
func (e *QueryError) Unwrap() error { return ErrInvalidQuery }

// StatsQuery selects the analytics of a range.
type StatsQuery struct {
	Range  string // 24h, 7d or 30d
	By     Dim    // DimTotal: no breakdown
	UserID int64  // 0: the whole gateway; else that user's own figures
	Top    int    // breakdown rows: default 10, at most 100
	Now    time.Time
}

// Figures are the summed values of a bucket, a range or a group.
type Figures struct {
	Requests         int64 `json:"requests"`
	Errors           int64 `json:"errors"`
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	SpendMicros      int64 `json:"spend_micros"`
	// Latency percentiles of the requests' durations in milliseconds,
	// estimated from the histogram; 0 when there were no requests.
	LatencyP50Ms int64 `json:"latency_p50_ms"`
	LatencyP95Ms int64 `json:"latency_p95_ms"`
}

// Point is one series bucket, by its start.
type Point struct {
	Time time.Time `json:"time"`
	Figures
}

// Group is one breakdown row: Value is the model or channel name, or the
// credential, key or user id in decimal ("" for none); Label names the
// key, user or credential when it still exists.
type Group struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Figures
}

// Stats are a range's totals, its series (one point per bucket, empty
// buckets included) and the top groups of its breakdown.
type Stats struct {
	Range     string    `json:"range"`
	Bucket    string    `json:"bucket"` // minute or hour
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Totals    Figures   `json:"totals"`
	Series    []Point   `json:"series"`
	By        string    `json:"by,omitempty"`
	Breakdown []Group   `json:"breakdown"`
}

// Stats reads a range's analytics from the rollups: the series from the
// totals rows of its bucket width, the breakdown from whole days where the
// range covers them and finer buckets at its edges, so that a 30-day
// breakdown reads about 30 rows per group rather than 720.
func (s *Store) Stats(ctx context.Context, q StatsQuery) (*Stats, error) {
	rg, ok := ranges[q.Range]
	if !ok {
		return nil, &QueryError{"range", "must be 24h, 7d or 30d"}
	}
	if q.By < DimTotal || q.By > DimUser {
		return nil, &QueryError{"by", "must be model, channel, credential, key or user"}
	}
	top := q.Top
	switch {
	case top == 0:
		top = DefaultTop
	case top < 0 || top > MaxTop:
		return nil, &QueryError{"top", "must be between 1 and " + strconv.Itoa(MaxTop)}
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	g := rg.grain
	// The range ends with the bucket now is in and holds span/width
	// buckets.
	to := g.floor(q.Now.Unix()) + g.width
	from := to - int64(rg.span/time.Second)
	st := &Stats{Range: q.Range, Bucket: g.name,
		From: time.Unix(from, 0).UTC(), To: time.Unix(to, 0).UTC(), Series: []Point{}, Breakdown: []Group{}}
	// One read-only snapshot: the totals, the series and the breakdown
	// agree even while the writer adds to them.
	tx, err := s.db.Read().BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.db.Dialect().SnapshotIsolation()})
	if err != nil {
		return nil, fmt.Errorf("read usage analytics: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to keep
	if stmt := s.db.Dialect().SerialQueries(); stmt != "" {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("read usage analytics: %w", err)
		}
	}
	series, err := s.series(ctx, tx, g, q.UserID, from, to)
	if err != nil {
		return nil, err
	}
	var total sums
	for i := range series {
		total.add(&series[i].sums)
	}
	st.Totals = total.figures()
	for i, b := 0, from; b < to; b += g.width {
		p := Point{Time: time.Unix(b, 0).UTC()}
		if i < len(series) && series[i].bucket == b {
			p.Figures = series[i].sums.figures()
			i++
		}
		st.Series = append(st.Series, p)
	}
	if q.By != DimTotal {
		st.By = q.By.String()
		if st.Breakdown, err = s.breakdown(ctx, tx, g, q.UserID, q.By, from, to, top); err != nil {
			return nil, err
		}
	}
	return st, nil
}

type bucketSums struct {
	bucket int64
	sums
}

var sumSelect = func() string {
	var b strings.Builder
	for i, c := range rollupSumColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("SUM(" + c + ")")
	}
	return b.String()
}()

func (s *sums) targets() []any {
	t := []any{&s.requests, &s.errors, &s.prompt, &s.completion, &s.cost}
	for i := range s.lat {
		t = append(t, &s.lat[i])
	}
	return t
}

func (s *Store) series(ctx context.Context, tx *sql.Tx, g grain, scope, from, to int64) ([]bucketSums, error) {
	q := "SELECT bucket, " + strings.Join(rollupSumColumns, ", ") + " FROM " + g.table +
		" WHERE scope = ? AND dim = 0 AND bucket >= ? AND bucket < ? ORDER BY bucket"
	rows, err := tx.QueryContext(ctx, s.db.Dialect().Rebind(q), scope, from, to)
	if err != nil {
		return nil, fmt.Errorf("read usage series: %w", err)
	}
	defer rows.Close()
	var out []bucketSums
	for rows.Next() {
		var b bucketSums
		if err := rows.Scan(append([]any{&b.bucket}, b.targets()...)...); err != nil {
			return nil, fmt.Errorf("read usage series: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage series: %w", err)
	}
	return out, nil
}

// segment is a part of a range read from one table.
type segment struct {
	g        grain
	from, to int64
}

// segments cuts [from, to), whose ends are multiples of fine's width, into
// the coarsest buckets that tile it: whole days in the middle, whole hours
// around them, and fine buckets at the ends.
func segments(fine grain, from, to int64) []segment {
	var out []segment
	var cut func(i int, from, to int64)
	cut = func(i int, from, to int64) {
		if from >= to {
			return
		}
		g := grains[i]
		if g.width == fine.width {
			out = append(out, segment{g, from, to})
			return
		}
		lo, hi := g.floor(from+g.width-1), g.floor(to)
		if lo >= hi {
			cut(i-1, from, to)
			return
		}
		cut(i-1, from, lo)
		out = append(out, segment{g, lo, hi})
		cut(i-1, hi, to)
	}
	cut(len(grains)-1, from, to)
	return out
}

// breakdown reads the top groups in two steps: the top values by requests
// summing one column, then every figure of those values only. Summing the
// seventeen columns of every group costs most of a one-step query.
func (s *Store) breakdown(ctx context.Context, tx *sql.Tx, fine grain, scope int64, by Dim, from, to int64, top int) ([]Group, error) {
	dim := by
	if scope != 0 && by == DimUser {
		// A user's own rows have no user breakdown: it is their total.
		dim = DimTotal
	}
	union := func(cols, extra string, extraArgs []any) (string, []any) {
		var (
			parts []string
			args  []any
		)
		for _, sg := range segments(fine, from, to) {
			parts = append(parts, "SELECT "+cols+" FROM "+sg.g.table+
				" WHERE scope = ? AND dim = ? AND bucket >= ? AND bucket < ?"+extra)
			args = append(append(args, scope, int16(dim), sg.from, sg.to), extraArgs...)
		}
		return strings.Join(parts, " UNION ALL "), args
	}
	from1, args := union("val, requests", "", nil)
	q := "SELECT val FROM (" + from1 + ") r GROUP BY val ORDER BY SUM(requests) DESC, val LIMIT " + strconv.Itoa(top)
	rows, err := tx.QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read usage breakdown by %s: %w", by, err)
	}
	var vals []any
	order := map[string]int{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read usage breakdown by %s: %w", by, err)
		}
		order[v] = len(vals)
		vals = append(vals, v)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("read usage breakdown by %s: %w", by, err)
	}
	out := make([]Group, len(vals))
	if len(vals) == 0 {
		return out, nil
	}
	in := " AND val IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")"
	from2, args := union("val, "+strings.Join(rollupSumColumns, ", "), in, vals)
	q = "SELECT val, " + sumSelect + " FROM (" + from2 + ") r GROUP BY val"
	rows, err = tx.QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read usage breakdown by %s: %w", by, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v  string
			sm sums
		)
		if err := rows.Scan(append([]any{&v}, sm.targets()...)...); err != nil {
			return nil, fmt.Errorf("read usage breakdown by %s: %w", by, err)
		}
		g := Group{Value: v, Figures: sm.figures()}
		if dim != by {
			g.Value = idVal(scope)
		}
		out[order[v]] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage breakdown by %s: %w", by, err)
	}
	rows.Close()
	if err := s.label(ctx, tx, by, out); err != nil {
		return nil, err
	}
	return out, nil
}

// labelQueries name the ids of a breakdown.
var labelQueries = map[Dim]string{
	DimKey:        "SELECT id, name FROM api_keys WHERE id IN ",
	DimUser:       "SELECT id, email FROM users WHERE id IN ",
	DimCredential: "SELECT id, email FROM credentials WHERE id IN ",
}

func (s *Store) label(ctx context.Context, tx *sql.Tx, by Dim, groups []Group) error {
	q, ok := labelQueries[by]
	if !ok || len(groups) == 0 {
		for i := range groups {
			groups[i].Label = groups[i].Value
		}
		return nil
	}
	var ids []string
	for _, g := range groups {
		if _, err := strconv.ParseInt(g.Value, 10, 64); err == nil {
			ids = append(ids, g.Value)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, q+"("+strings.Join(ids, ", ")+")")
	if err != nil {
		return fmt.Errorf("name the %ss of a usage breakdown: %w", by, err)
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var (
			id   int64
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("name the %ss of a usage breakdown: %w", by, err)
		}
		names[strconv.FormatInt(id, 10)] = name
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("name the %ss of a usage breakdown: %w", by, err)
	}
	for i := range groups {
		groups[i].Label = names[groups[i].Value]
	}
	return nil
}

func (s *sums) figures() Figures {
	return Figures{Requests: s.requests, Errors: s.errors, PromptTokens: s.prompt, CompletionTokens: s.completion,
		SpendMicros: s.cost, LatencyP50Ms: s.percentile(0.50), LatencyP95Ms: s.percentile(0.95)}
}

// percentile estimates the q-quantile of the durations in milliseconds,
// interpolating linearly inside its histogram bucket; in the unbounded
// last bucket it is that bucket's lower bound.
func (s *sums) percentile(q float64) int64 {
	var n int64
	for _, c := range s.lat {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var below int64
	for i, c := range s.lat {
		if c == 0 || float64(below+c) < rank {
			below += c
			continue
		}
		lo := int64(0)
		if i > 0 {
			lo = LatencyBounds[i-1]
		}
		if i == len(LatencyBounds) {
			return lo
		}
		frac := (rank - float64(below)) / float64(c)
		return lo + int64(math.Round(frac*float64(LatencyBounds[i]-lo)))
	}
	return LatencyBounds[len(LatencyBounds)-1]
}
