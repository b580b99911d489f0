package luabatch

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// The dispatcher carries a nonce, so the first batch of a run finds Redis
// without it (NOSCRIPT) and must fall back to EVAL.
var (
	echo = NewFragment("echo", "-- "+strconv.FormatInt(time.Now().UnixNano(), 10)+`
redis.call('SET', KEYS[1], ARGV[1])
local out = {#KEYS, #ARGV}
for i = 1, #ARGV do out[#out + 1] = tonumber(ARGV[i]) end
out[#out + 1] = '-12'

return out`)
	fail  = NewFragment("fail", `redis.call('INCRBY', KEYS[1], 'x') return 1`)
	text  = NewFragment("text", `return redis.call('GET', KEYS[1])`)
	none  = NewFragment("none", `local x = ARGV[1]`)
	raise = NewFragment("raise", `error('plain lua error')`)
)

// TestBatch: each call sees its own KEYS and ARGV, answers its own value,
// and an error in one leaves the next running; one script call in all.
func TestBatch(t *testing.T) {
	url := testenv.RedisURL(t)
	rdb := testenv.RedisClient(t, url)
	p := testenv.RedisPrefix(t, url)
	ctx := context.Background()
	var b Batch
	for round := range 2 { // the first loads the script, the second reuses b
		var r [6]Reply
		b.Add(echo, &r[0], []string{p + "a"}, 7, 8)
		b.Add(fail, &r[1], []string{p + "a"})
		b.Add(text, &r[2], []string{p + "a"})
		b.Add(none, &r[3], nil, "x")
		b.Add(raise, &r[4], nil)
		b.Add(echo, &r[5], []string{p + "b"}, 9)
		if b.Len() != 6 {
			t.Fatalf("Len %d", b.Len())
		}
		if err := b.Exec(ctx, rdb); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if b.Len() != 0 {
			t.Fatalf("Len after Exec %d", b.Len())
		}
		if got, err := r[0].Int64s(nil); err != nil || len(got) != 5 || got[0] != 1 || got[1] != 2 || got[2] != 7 || got[3] != 8 || got[4] != -12 {
			t.Errorf("echo: %v %v", got, err)
		}
		if err := r[1].Err(); err == nil {
			t.Error("fail: no error")
		}
		if s, err := r[2].Text(); err != nil || s != "7" {
			t.Errorf("text: %q %v, want the first call's write", s, err)
		}
		if err := r[3].Err(); err == nil {
			t.Error("none: a nil answer read as a value")
		}
		if err := r[4].Err(); err == nil {
			t.Error("raise: no error")
		}
		if got, err := r[5].Int64s(nil); err != nil || len(got) != 4 || got[0] != 1 || got[1] != 1 || got[2] != 9 {
			t.Errorf("echo after errors: %v %v", got, err)
		}
	}
	var r Reply
	if err := r.Err(); err != nil {
		t.Errorf("zero Reply: %v", err)
	}
	b.Add(text, &r, []string{p + "a"})
	if r.Err() != ErrNotRun {
		t.Errorf("queued Reply before Exec: %v", r.Err())
	}
	b.reset()
	if err := b.Exec(ctx, rdb); err != nil || r.Err() != ErrNotRun {
		t.Errorf("empty Exec: %v, reply %v", err, r.Err())
	}
}
