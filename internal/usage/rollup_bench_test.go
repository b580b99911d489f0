package usage

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// BenchmarkDashboard measures the console's dashboard queries over the
// rollups that 10 million usage rows spread over 30 days leave behind
// (SWITCHYARD_BENCH_USAGE_ROWS changes the count), on SQLite and, when
// SWITCHYARD_TEST_POSTGRES_URL is set, PostgreSQL:
//
//	go test -run '^$' -bench Dashboard -benchtime 20x -timeout 60m ./internal/usage/
//
// The queries read only the rollup tables, so what they cost depends on the
// rollup rows, not on the log: storing 10 M log rows first would take most
// of an hour and change nothing measured. The setup therefore generates the
// 10 M rows in memory with a realistic shape (50 users of Zipf-like
// activity, 4 keys each, 20 models each served by two of 10 channels, 10
// credentials per channel, 3% errors, log-normal durations), sums them
// with the writer's own aggregation (rollup.addTo: hours for every row,
// minutes for the last 25 hours; days summed from hours) and bulk-inserts
// only the rollup rows. TestRollupsEqualTheLog shows on all three dialects
// that the writer's rollups equal the log aggregated afresh, so these are
// the tables 10 M real rows would produce.
func BenchmarkDashboard(b *testing.B) {
	rows := 10_000_000
	if v := os.Getenv("SWITCHYARD_BENCH_USAGE_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SWITCHYARD_BENCH_USAGE_ROWS=%q: want a positive count", v)
		}
		rows = n
	}
	now := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	dbs := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return "sqlite://" + filepath.Join(tb.TempDir(), "bench.db") }},
		{"postgres", func(tb testing.TB) string {
			if os.Getenv("SWITCHYARD_TEST_POSTGRES_URL") == "" {
				return ""
			}
			return testenv.FreshPostgresURL(tb)
		}},
	}
	for _, d := range dbs {
		b.Run(d.name, func(b *testing.B) {
			url := d.url(b)
			if url == "" {
				b.Skip("SWITCHYARD_TEST_POSTGRES_URL is unset")
			}
			db, err := store.Open(b.Context(), url, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			s := NewStore(db)
			start := time.Now()
			counts, err := loadSyntheticRollups(b.Context(), db, s, rows, now)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d usage rows over 30 days → rollup rows: %d minute, %d hour, %d day (loaded in %v)",
				d.name, rows, counts[0], counts[1], counts[2], time.Since(start).Round(time.Second))
			for _, q := range []StatsQuery{
				{Range: "30d", By: DimModel}, {Range: "30d", By: DimChannel}, {Range: "30d", By: DimCredential},
				{Range: "30d", By: DimKey}, {Range: "30d", By: DimUser}, {Range: "30d", By: DimModel, UserID: 1},
				{Range: "7d", By: DimKey}, {Range: "24h", By: DimKey},
			} {
				q.Now = now
				name := q.Range + "-by-" + q.By.String()
				if q.UserID != 0 {
					name += "-one-user"
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						st, err := s.Stats(b.Context(), q)
						if err != nil {
							b.Fatal(err)
						}
						if st.Totals.Requests == 0 || len(st.Breakdown) == 0 {
							b.Fatalf("empty answer: %+v", st.Totals)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/query")
					b.ReportMetric(float64(counts[0]+counts[1]+counts[2]), "rollup-rows")
				})
			}
		})
	}
}

// synthetic is the shape of the generated traffic.
type synthetic struct {
	rng        *rand.Rand
	userWeight []float64 // cumulative
	keyModels  [][]string
	modelChans [][]string
}

const (
	synUsers, synKeysPerUser, synModels, synChannels, synCredsPerChannel = 50, 4, 20, 10, 10
)

func newSynthetic() *synthetic {
	g := &synthetic{rng: rand.New(rand.NewPCG(7, 11))}
	var sum float64
	for u := range synUsers {
		sum += 1 / math.Pow(float64(u+1), 0.8)
		g.userWeight = append(g.userWeight, sum)
	}
	for i := range g.userWeight {
		g.userWeight[i] /= sum
	}
	for k := range synUsers * synKeysPerUser {
		// Each key calls three models, most often the first.
		g.keyModels = append(g.keyModels, []string{
			"model-" + strconv.Itoa(k%synModels), "model-" + strconv.Itoa((k*7+3)%synModels),
			"model-" + strconv.Itoa((k*13+5)%synModels)})
	}
	for m := range synModels {
		g.modelChans = append(g.modelChans, []string{"channel-" + strconv.Itoa(m%synChannels),
			"channel-" + strconv.Itoa((m+3)%synChannels)})
	}
	return g
}

func (g *synthetic) row(t time.Time) Row {
	u := 0
	for x := g.rng.Float64(); g.userWeight[u] < x; u++ {
	}
	key := u*synKeysPerUser + g.rng.IntN(synKeysPerUser)
	models := g.keyModels[key]
	model := models[min(g.rng.IntN(4), 2)]
	m, _ := strconv.Atoi(model[len("model-"):])
	ch := g.rng.IntN(2)
	channel := g.modelChans[m][ch]
	c, _ := strconv.Atoi(channel[len("channel-"):])
	status := 200
	if g.rng.IntN(100) < 3 {
		status = []int{429, 500, 502, 499}[g.rng.IntN(4)]
	}
	prompt := g.rng.Int64N(4000) + 10
	completion := g.rng.Int64N(1000)
	return Row{
		Time: t, UserID: int64(u + 1), KeyID: int64(key + 1), Model: model, Channel: channel,
		CredentialID: int64(c*synCredsPerChannel + g.rng.IntN(synCredsPerChannel) + 1), Status: status,
		PromptTokens: prompt, CompletionTokens: completion, CostMicros: prompt*2 + completion*8,
		Duration: time.Duration(math.Exp(7+g.rng.NormFloat64())) * time.Millisecond,
	}
}

// loadSyntheticRollups writes the rollups of n generated usage rows spread
// evenly over the 30 days before now, hour by hour, and returns how many
// rows each table got.
func loadSyntheticRollups(ctx context.Context, db *store.DB, s *Store, n int, now time.Time) ([len(grains)]int, error) {
	var counts [len(grains)]int
	g := newSynthetic()
	end := hourGrain.floor(now.Unix()) + 3600
	begin := end - 30*86400
	step := float64(30*86400) / float64(n)
	minuteFrom := now.Add(-25 * time.Hour).Unix()
	days := map[rollupKey]*sums{}
	i := 0
	for h := begin; h < end; h += 3600 {
		ru := newRollup()
		for ; i < n && begin+int64(float64(i)*step) < h+3600; i++ {
			t := float64(begin) + float64(i)*step
			r := g.row(time.Unix(int64(t), int64((t-math.Floor(t))*1e9)))
			ru.addTo(1, &r)
			if r.Time.Unix() >= minuteFrom {
				ru.addTo(0, &r)
			}
		}
		for k, v := range ru[1] {
			k.bucket = dayGrain.floor(k.bucket)
			if cur, ok := days[k]; ok {
				cur.add(v)
			} else {
				c := *v
				days[k] = &c
			}
		}
		if err := writeRollup(ctx, db, s, ru); err != nil {
			return counts, err
		}
		counts[0] += len(ru[0])
		counts[1] += len(ru[1])
	}
	ru := newRollup()
	ru[2] = days
	counts[2] = len(days)
	if err := writeRollup(ctx, db, s, ru); err != nil {
		return counts, err
	}
	if db.Dialect() == store.Postgres {
		// What autovacuum does after a load like this one.
		if _, err := db.Write().ExecContext(ctx, "ANALYZE"); err != nil {
			return counts, fmt.Errorf("analyze: %w", err)
		}
	}
	return counts, nil
}

func writeRollup(ctx context.Context, db *store.DB, s *Store, ru *rollup) error {
	tx, err := db.Write().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := s.rollups.write(ctx, tx, ru); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
