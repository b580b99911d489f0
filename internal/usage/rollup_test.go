package usage

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// randomRows makes n usage rows over the two days before end, with a
// handful of users, keys, models, channels and credentials.
func randomRows(rng *rand.Rand, prefix string, n int, end time.Time) []Row {
	rows := make([]Row, n)
	for i := range rows {
		user := rng.Int64N(4) // 0: refused before authentication
		r := Row{
			ChargeID: fmt.Sprintf("%s-%d", prefix, i), RequestID: fmt.Sprintf("req-%d", i),
			Time:   end.Add(-time.Duration(rng.Int64N(int64(48 * time.Hour)))).Truncate(time.Microsecond),
			UserID: user, Model: []string{"gpt-4o", "claude", "gemini"}[rng.IntN(3)],
			Channel: []string{"main", "backup", ""}[rng.IntN(3)], CredentialID: rng.Int64N(5),
			Status: []int{200, 200, 200, 201, 429, 502, 499}[rng.IntN(7)], PromptTokens: rng.Int64N(5000),
			CompletionTokens: rng.Int64N(2000), CostMicros: rng.Int64N(100_000),
			Duration: time.Duration(rng.Int64N(150_000)) * time.Millisecond,
		}
		if user != 0 {
			r.KeyID = user*10 + rng.Int64N(2)
		}
		rows[i] = r
	}
	return rows
}

// rollupRow is a stored rollup row, for comparisons.
type rollupRow struct {
	Table         string
	Bucket, Scope int64
	Dim           Dim
	Val           string
	Sums          [5 + latencyBuckets]int64
}

func readRollups(t *testing.T, db *store.DB) map[string]rollupRow {
	t.Helper()
	out := map[string]rollupRow{}
	for _, g := range grains {
		rows, err := db.Read().QueryContext(t.Context(), "SELECT "+strings.Join(rollupColumns, ", ")+" FROM "+g.table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			r := rollupRow{Table: g.table}
			dest := []any{&r.Bucket, &r.Scope, &r.Dim, &r.Val}
			for i := range r.Sums {
				dest = append(dest, &r.Sums[i])
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprint(r.Table, r.Bucket, r.Scope, r.Dim, r.Val)] = r
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// expectRollups aggregates rows read back from the log, written
// independently of rollup.add.
func expectRollups(rows []Row) map[string]rollupRow {
	out := map[string]rollupRow{}
	id := func(v int64) string {
		if v == 0 {
			return ""
		}
		return fmt.Sprint(v)
	}
	bounds := []int64{100, 200, 400, 800, 1500, 3000, 6000, 12000, 25000, 50000, 100000}
	for _, r := range rows {
		hist := len(bounds)
		for i, b := range bounds {
			if r.Duration.Milliseconds() <= b {
				hist = i
				break
			}
		}
		for _, g := range []struct {
			table string
			w     int64
		}{{"usage_rollup_minute", 60}, {"usage_rollup_hour", 3600}, {"usage_rollup_day", 86400}} {
			b := r.Time.Unix() / g.w * g.w
			vals := map[Dim]string{DimTotal: "", DimModel: r.Model, DimChannel: r.Channel,
				DimCredential: id(r.CredentialID), DimKey: id(r.KeyID), DimUser: id(r.UserID)}
			for d, v := range vals {
				for _, scope := range []int64{0, r.UserID} {
					if scope != 0 && d == DimUser {
						continue
					}
					k := fmt.Sprint(g.table, b, scope, d, v)
					e := out[k]
					e.Table, e.Bucket, e.Scope, e.Dim, e.Val = g.table, b, scope, d, v
					e.Sums[0]++
					if r.Status < 200 || r.Status > 299 {
						e.Sums[1]++
					}
					e.Sums[2] += r.PromptTokens
					e.Sums[3] += r.CompletionTokens
					e.Sums[4] += r.CostMicros
					e.Sums[5+hist]++
					out[k] = e
					if r.UserID == 0 {
						break
					}
				}
			}
		}
	}
	return out
}

// TestRollupsEqualTheLog writes rows through the writer in batches, some
// of them twice and some repeated inside a batch, and checks that the
// rollups equal the log aggregated afresh, row by row and by SQL.
func TestRollupsEqualTheLog(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		s := NewStore(db)
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(1, 2))
		end := time.Now()
		rows := randomRows(rng, "c", 1500, end)
		for start := 0; start < len(rows); start += 400 {
			batch := rows[start:min(start+400, len(rows))]
			if start > 0 {
				// A replay of part of the previous batch, and a duplicate
				// inside this one.
				batch = append(append(append([]Row{}, rows[start-50:start]...), batch...), batch[0])
			}
			if err := s.Insert(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		// The drainer's path: inside the caller's transaction.
		if err := s.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		tx, err := db.Write().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.InsertTx(ctx, tx, append(rows[:100:100], randomRows(rng, "tx", 200, end)...)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		logged, err := s.Query(ctx, Filter{Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(logged) != 1700 {
			t.Fatalf("%d rows logged, want 1700", len(logged))
		}
		got, want := readRollups(t, db), expectRollups(logged)
		if len(got) != len(want) {
			t.Errorf("%d rollup rows, want %d", len(got), len(want))
		}
		for k, w := range want {
			if g := got[k]; !reflect.DeepEqual(g, w) {
				t.Errorf("rollup %s:\n got %+v\nwant %+v", k, g, w)
			}
		}

		// The same by SQL on the log: per model over everything, against
		// the day rollups.
		q := `SELECT model, COUNT(*), SUM(CASE WHEN status BETWEEN 200 AND 299 THEN 0 ELSE 1 END),
			SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micros) FROM usage_logs GROUP BY model`
		res, err := db.Read().QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		bySQL := map[string][5]int64{}
		for res.Next() {
			var (
				m string
				v [5]int64
			)
			if err := res.Scan(&m, &v[0], &v[1], &v[2], &v[3], &v[4]); err != nil {
				t.Fatal(err)
			}
			bySQL[m] = v
		}
		byRollup := map[string][5]int64{}
		for _, r := range got {
			if r.Table == "usage_rollup_day" && r.Scope == 0 && r.Dim == DimModel {
				v := byRollup[r.Val]
				for i := range v {
					v[i] += r.Sums[i]
				}
				byRollup[r.Val] = v
			}
		}
		if !reflect.DeepEqual(bySQL, byRollup) {
			t.Errorf("per model: SQL on the log %v, rollups %v", bySQL, byRollup)
		}
	})
}

func TestStats(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		s := NewStore(db)
		ctx := t.Context()
		users, keys := tenants(t, db)
		now := time.Date(2026, 3, 10, 12, 30, 15, 0, time.UTC)
		ann, bob := users["ann"], users["bob"]
		at := func(d time.Duration) time.Time { return now.Add(-d) }
		rows := []Row{
			{ChargeID: "a1", Time: at(time.Minute), UserID: ann, KeyID: keys["ann/laptop"], Model: "gpt-4o", Channel: "main",
				Status: 200, PromptTokens: 100, CompletionTokens: 10, CostMicros: 1000, Duration: 300 * time.Millisecond},
			{ChargeID: "a2", Time: at(2 * time.Hour), UserID: ann, KeyID: keys["ann/ci"], Model: "claude", Channel: "main",
				Status: 502, PromptTokens: 50, CostMicros: 0, Duration: 5 * time.Second},
			{ChargeID: "b1", Time: at(3 * 24 * time.Hour), UserID: bob, KeyID: keys["bob/laptop"], Model: "gpt-4o", Channel: "backup",
				Status: 200, PromptTokens: 7, CompletionTokens: 3, CostMicros: 70, Duration: 150 * time.Millisecond},
			{ChargeID: "b2", Time: at(20 * 24 * time.Hour), UserID: bob, KeyID: keys["bob/laptop"], Model: "gpt-4o", Channel: "backup",
				Status: 200, PromptTokens: 1, CompletionTokens: 1, CostMicros: 1, Duration: 150 * time.Millisecond},
			{ChargeID: "old", Time: at(40 * 24 * time.Hour), UserID: bob, Model: "gpt-4o", Status: 200},
		}
		if err := s.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		// Groups with as many requests go in the order of their values.
		annKeys := []string{fmt.Sprintf("%d=laptop:1", keys["ann/laptop"]), fmt.Sprintf("%d=ci:1", keys["ann/ci"])}
		if fmt.Sprint(keys["ann/ci"]) < fmt.Sprint(keys["ann/laptop"]) {
			annKeys[0], annKeys[1] = annKeys[1], annKeys[0]
		}
		for _, tc := range []struct {
			q                StatsQuery
			requests, errors int64
			points           int
			groups           []string // value=label:requests
		}{
			{StatsQuery{Range: "24h", By: DimModel}, 2, 1, 1440, []string{"claude=claude:1", "gpt-4o=gpt-4o:1"}},
			{StatsQuery{Range: "7d", By: DimUser}, 3, 1, 168,
				[]string{fmt.Sprintf("%d=ann@example.com:2", ann), fmt.Sprintf("%d=bob@example.com:1", bob)}},
			{StatsQuery{Range: "30d", By: DimKey}, 4, 1, 720,
				append([]string{fmt.Sprintf("%d=laptop:2", keys["bob/laptop"])}, annKeys...)},
			{StatsQuery{Range: "30d", By: DimKey, Top: 1}, 4, 1, 720, []string{fmt.Sprintf("%d=laptop:2", keys["bob/laptop"])}},
			{StatsQuery{Range: "30d", By: DimUser, UserID: ann}, 2, 1, 720, []string{fmt.Sprintf("%d=ann@example.com:2", ann)}},
			{StatsQuery{Range: "30d", By: DimChannel, UserID: bob}, 2, 0, 720, []string{"backup=backup:2"}},
			{StatsQuery{Range: "24h", UserID: bob}, 0, 0, 1440, nil},
		} {
			tc.q.Now = now
			st, err := s.Stats(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s by %s user %d", tc.q.Range, tc.q.By, tc.q.UserID)
			if st.Totals.Requests != tc.requests || st.Totals.Errors != tc.errors || len(st.Series) != tc.points {
				t.Errorf("%s: requests %d errors %d points %d, want %d %d %d", name, st.Totals.Requests, st.Totals.Errors,
					len(st.Series), tc.requests, tc.errors, tc.points)
			}
			var sum int64
			for _, p := range st.Series {
				sum += p.Requests
			}
			if sum != st.Totals.Requests || !st.Series[len(st.Series)-1].Time.Equal(st.To.Add(-map[string]time.Duration{
				"minute": time.Minute, "hour": time.Hour}[st.Bucket])) {
				t.Errorf("%s: series sums to %d, last point %v, to %v", name, sum, st.Series[len(st.Series)-1].Time, st.To)
			}
			var groups []string
			for _, g := range st.Breakdown {
				groups = append(groups, fmt.Sprintf("%s=%s:%d", g.Value, g.Label, g.Requests))
			}
			if !reflect.DeepEqual(groups, tc.groups) {
				t.Errorf("%s: breakdown %v, want %v", name, groups, tc.groups)
			}
		}
		st, err := s.Stats(ctx, StatsQuery{Range: "24h", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if st.Totals.PromptTokens != 150 || st.Totals.SpendMicros != 1000 || st.Totals.LatencyP50Ms != 400 ||
			st.Totals.LatencyP95Ms != 5700 {
			t.Errorf("24h totals %+v", st.Totals)
		}
		for _, q := range []StatsQuery{{Range: "1y"}, {Range: "24h", Top: -1}, {Range: "24h", Top: 101}} {
			if _, err := s.Stats(ctx, q); err == nil {
				t.Errorf("%+v: no error", q)
			}
		}

		// Pruning keeps what the ranges read.
		if _, err := s.PruneRollups(ctx, now); err != nil {
			t.Fatal(err)
		}
		again, err := s.Stats(ctx, StatsQuery{Range: "30d", Now: now})
		if err != nil || again.Totals.Requests != 4 {
			t.Fatalf("after pruning: %+v, %v", again, err)
		}
		var hours int
		if err := db.Read().QueryRow("SELECT COUNT(*) FROM usage_rollup_hour WHERE scope = 0 AND dim = 0").Scan(&hours); err != nil {
			t.Fatal(err)
		}
		if hours != 4 {
			t.Errorf("%d hour totals rows after pruning, want 4 (the 40-day-old one gone)", hours)
		}
	})
}

func TestSegments(t *testing.T) {
	day := int64(86400)
	from := 10*day + 3*3600 + 120 // 03:02 on day 10
	to := 14*day + 5*3600 + 60    // 05:01 on day 14
	got := segments(minuteGrain, from, to)
	var covered int64
	prev := from
	for _, s := range got {
		if s.from != prev || s.from >= s.to || s.from%s.g.width != 0 || s.to%s.g.width != 0 {
			t.Fatalf("bad segment %+v after %d in %+v", s, prev, got)
		}
		covered += s.to - s.from
		prev = s.to
	}
	if prev != to || covered != to-from {
		t.Fatalf("segments %+v do not tile [%d, %d)", got, from, to)
	}
	if len(got) != 5 || got[2].g != dayGrain {
		t.Errorf("segments %+v, want minutes, hours, days, hours, minutes", got)
	}
}

func TestPercentile(t *testing.T) {
	var s sums
	if s.percentile(0.5) != 0 {
		t.Error("empty histogram")
	}
	s.lat[latencyBucket(50)] = 10 // [0, 100]
	if got := s.percentile(0.5); got != 50 {
		t.Errorf("p50 %d, want 50", got)
	}
	s.lat[latencyBucket(500_000)] = 90
	if got := s.percentile(0.95); got != 100000 {
		t.Errorf("p95 %d, want the last bound", got)
	}
	for ms, want := range map[int64]int{0: 0, 100: 0, 101: 1, 200: 1, 100000: 10, 100001: 11} {
		if got := latencyBucket(ms); got != want {
			t.Errorf("latencyBucket(%d) = %d, want %d", ms, got, want)
		}
	}
}

// Summing a row into keys the batch already has allocates nothing: the id
// strings are made once per batch, not per row and table.
func TestRollupAddAllocs(t *testing.T) {
	r := Row{ChargeID: "c", Time: time.Unix(1_800_000_000, 0), UserID: 123456, KeyID: 654321, CredentialID: 777,
		Model: "m", Channel: "ch", Status: 200, PromptTokens: 5}
	ru := newRollup()
	ids := map[int64]string{}
	ru.add(&r, ids)
	if n := testing.AllocsPerRun(100, func() { ru.add(&r, ids) }); n != 0 {
		t.Fatalf("rollup.add: %v allocations per row", n)
	}
}
