package gallery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// benchImages is how many images the benchmark user has (and another
// user a tenth of that). SWITCHYARD_GALLERY_BENCH_N overrides it.
func benchImages() int {
	if n, err := strconv.Atoi(os.Getenv("SWITCHYARD_GALLERY_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

var (
	benchEN = []string{"a red fox", "in the snow", "a lighthouse", "at dusk", "watercolour", "cyberpunk city", "neon lights",
		"portrait of a cat", "mountain lake", "isometric", "studio lighting", "oil painting", "a tiny robot", "on the moon",
		"pixel art", "cinematic", "soft focus", "an old library", "rainy street", "golden hour"}
	benchZH = []string{"一只红色的狐狸", "在雪地里", "海边的灯塔", "黄昏时分", "水彩画", "赛博朋克城市", "霓虹灯", "猫的肖像",
		"山间湖泊", "等距视角", "摄影棚灯光", "油画", "小机器人", "在月球上", "像素艺术", "电影感", "柔焦", "古老的图书馆",
		"雨中的街道", "金色时刻"}
)

// benchPrompt is a prompt of three to five phrases, English or Chinese;
// every 500th has the rare phrase.
func benchPrompt(r *rand.Rand, i int) string {
	words := benchEN
	if i%2 == 1 {
		words = benchZH
	}
	n := 3 + r.IntN(3)
	parts := make([]string, n)
	for j := range parts {
		parts[j] = words[r.IntN(len(words))]
	}
	if i%500 == 0 {
		parts = append(parts, "稀有的蓝色独角兽 rare unicorn")
	}
	return strings.Join(parts, "，")
}

func seedBench(b testing.TB, url string) *Store {
	b.Helper()
	db := openDB(b, url)
	s, err := New(context.Background(), db, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	n := benchImages()
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]Image, 0, 5000)
	flush := func() {
		if _, err := s.Insert(context.Background(), rows); err != nil {
			b.Fatal(err)
		}
		rows = rows[:0]
	}
	total := n + n/10
	for i := range total {
		user := int64(2)
		if i%11 == 10 {
			user = 3
		}
		rows = append(rows, Image{UserID: user, TaskID: fmt.Sprintf("imgt_b%07d", i/2), OutputIndex: i % 2,
			Prompt: benchPrompt(r, i), Model: []string{"gpt-image-1", "dall-e-3"}[i%2], Size: "1024x1024",
			Key: fmt.Sprintf("imgt_b%07d/%d", i/2, i%2), Bytes: 1 << 20, MIME: "image/png", Favourite: i%50 == 0,
			ThumbState: ThumbReady, CreatedAt: at.Add(time.Duration(i) * time.Minute)})
		if len(rows) == cap(rows) {
			flush()
		}
	}
	flush()
	switch db.Dialect() {
	case store.Postgres:
		_, err = db.Write().Exec("ANALYZE gallery_images")
	case store.SQLite:
		_, err = db.Write().Exec("ANALYZE")
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d images (%d of user 2) in %s", db.Dialect(), total, total-total/11, time.Since(start).Round(time.Millisecond))
	return s
}

// BenchmarkGallery lists a page and searches prompts among 100 000
// images of one user, on SQLite and PostgreSQL (and MySQL when its URL
// is set):
//
//	SWITCHYARD_TEST_POSTGRES_URL=… go test -run '^$' -bench Gallery -benchtime 200x ./internal/gallery/
func BenchmarkGallery(b *testing.B) {
	dbs := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "sy.db") }},
		{"postgres", testenv.FreshPostgresURL},
		{"mysql", testenv.FreshMySQLURL},
	}
	for _, d := range dbs {
		b.Run(d.name, func(b *testing.B) {
			s := seedBench(b, d.url(b))
			ctx := context.Background()
			first, err := s.List(ctx, Filter{UserID: 2, Limit: 50})
			if err != nil || len(first.Images) != 50 {
				b.Fatal(len(first.Images), err)
			}
			deep := first.NextCursor
			for range 100 { // page 101
				p, err := s.List(ctx, Filter{UserID: 2, Limit: 50, After: deep})
				if err != nil {
					b.Fatal(err)
				}
				deep = p.NextCursor
			}
			fav := true
			for _, c := range []struct {
				name string
				f    Filter
			}{
				{"page1", Filter{UserID: 2, Limit: 50}},
				{"page101", Filter{UserID: 2, Limit: 50, After: deep}},
				{"favourites", Filter{UserID: 2, Limit: 50, Favourite: &fav}},
				{"model", Filter{UserID: 2, Limit: 50, Model: "dall-e-3"}},
				{"search_common_zh", Filter{UserID: 2, Limit: 50, Query: "赛博朋克"}},
				{"search_common_en", Filter{UserID: 2, Limit: 50, Query: "lighthouse"}},
				{"search_rare_zh", Filter{UserID: 2, Limit: 50, Query: "蓝色独角兽"}},
				{"search_rare_en", Filter{UserID: 2, Limit: 50, Query: "unicorn"}},
				{"search_none", Filter{UserID: 2, Limit: 50, Query: "zebra crossing"}},
				{"search_2char_common", Filter{UserID: 2, Limit: 50, Query: "油画"}},
				{"search_2char_rare", Filter{UserID: 2, Limit: 50, Query: "稀有"}},
			} {
				b.Run(c.name, func(b *testing.B) {
					var got int
					for b.Loop() {
						p, err := s.List(ctx, c.f)
						if err != nil {
							b.Fatal(err)
						}
						got = len(p.Images)
					}
					b.ReportMetric(float64(got), "images")
				})
			}
		})
	}
}
