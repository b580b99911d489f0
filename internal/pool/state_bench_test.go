package pool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// benchAcquireRelease leases and releases one of 8 credentials, round robin.
func benchAcquireRelease(b *testing.B, st State) {
	ctx := context.Background()
	q := &Acquire{Channel: "bench", Cands: cands(1, 2, 3, 4, 5, 6, 7, 8), Strategy: RoundRobin,
		Day: Day(base), Ratio: 1, LeaseTTL: time.Minute}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d", i)
	}
	o := Outcome{Kind: Success, TTFB: 100 * time.Millisecond, Tokens: 10, Day: Day(base)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q.Now, q.LeaseID = base.Add(time.Duration(i)*time.Millisecond), ids[i%len(ids)]
		g, err := st.Acquire(ctx, q)
		if err != nil || !g.Found {
			b.Fatalf("acquire: %+v %v", g, err)
		}
		if err := st.Release(ctx, g.CredID, q.LeaseID, o, q.Now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryStateAcquireRelease(b *testing.B) {
	benchAcquireRelease(b, NewMemoryState())
}

func BenchmarkRedisStateAcquireRelease(b *testing.B) {
	url := testenv.RedisURL(b)
	benchAcquireRelease(b, NewRedisState(testenv.RedisClient(b, url), testenv.RedisPrefix(b, url)))
}
