// Package luabatch runs several Redis Lua scripts as one script call.
//
// A request on the Redis deployment runs a script of the limiter, one of
// billing and one of the pool before its upstream call, and three again
// after the answer. Sent as a pipeline they were one round trip but still
// six EVALSHA for Redis to parse and run and six replies for go-redis to
// read. Here each script is a Fragment: its body becomes a Lua function
// of (KEYS, ARGV) inside one dispatcher script, and a Batch sends the
// calls queued on it as one EVALSHA whose reply holds each call's own.
//
// Each call sees the KEYS and ARGV it was given, as if it ran alone, and
// the calls run in the order they were queued. A call that raises an
// error answers that error and the next calls still run, as in a
// pipeline; unlike a pipeline, no other client's command runs between
// them. On Redis Cluster every key of a batch must hash to one slot, so
// the prefixes of all packages whose scripts share a batch need one hash
// tag (e.g. "{sy}:limit:", "{sy}:bill:", "{sy}:pool:").
package luabatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Fragment is a script that can run in a Batch. Make them at package
// initialization (NewFragment), before the first Batch runs.
type Fragment struct {
	id   int // 1-based, its function's index in the dispatcher
	name string
}

var (
	regMu     sync.Mutex
	fragments []string // function sources, by id-1
	names     []string
	built     bool
	script    *redis.Script
	buildOnce sync.Once
)

// NewFragment registers body, a script written for EVAL (it reads KEYS
// and ARGV and returns its answer), under name (for errors). It panics
// once a Batch has run: the dispatcher is built then, once.
func NewFragment(name, body string) *Fragment {
	regMu.Lock()
	defer regMu.Unlock()
	if built {
		panic("luabatch: fragment " + name + " registered after the first batch ran")
	}
	fragments = append(fragments, body)
	names = append(names, name)
	return &Fragment{id: len(fragments), name: name}
}

// dispatch splits the flat KEYS and ARGV among the calls: ARGV[1] is the
// number of calls n, then for each its fragment, key count and argument
// count; the calls' arguments follow. Each call answers its value, or an
// error reply, in the array returned. A nil answer becomes false (a nil
// reply), which keeps the array's length.
const dispatch = `
local n = tonumber(ARGV[1])
local out = {}
local k, a = 0, 1 + 3 * n
for c = 1, n do
  local h = 1 + 3 * (c - 1)
  local f, nk, na = tonumber(ARGV[h + 1]), tonumber(ARGV[h + 2]), tonumber(ARGV[h + 3])
  local keys, args = {}, {}
  for i = 1, nk do keys[i] = KEYS[k + i] end
  for i = 1, na do args[i] = ARGV[a + i] end
  k, a = k + nk, a + na
  local ok, r = pcall(F[f], keys, args)
  if not ok then
    if type(r) == 'table' and r.err then r = r.err end
    r = redis.error_reply(tostring(r))
  elseif r == nil then
    r = false
  end
  out[c] = r
end
return out
`

// source is the dispatcher with every fragment registered so far.
func source() string {
	var b strings.Builder
	b.WriteString("local F = {}\n")
	for i, body := range fragments {
		fmt.Fprintf(&b, "-- %s\nF[%d] = function(KEYS, ARGV)\n%s\nend\n", names[i], i+1, body)
	}
	b.WriteString(dispatch)
	return b.String()
}

func dispatcher() *redis.Script {
	buildOnce.Do(func() {
		regMu.Lock()
		defer regMu.Unlock()
		built = true
		script = redis.NewScript(source())
	})
	return script
}

// Reply is one call's answer, written by Exec.
type Reply struct {
	val any
	err error
}

// Err is the call's error: the batch's, when it could not run, or the
// one its script raised.
func (r *Reply) Err() error { return r.err }

// Int64s appends the call's answer, an array of integers (or of strings
// that hold one, as a script formats numbers past 2^53), to dst.
func (r *Reply) Int64s(dst []int64) ([]int64, error) {
	if r.err != nil {
		return dst, r.err
	}
	vs, ok := r.val.([]any)
	if !ok {
		return dst, fmt.Errorf("luabatch: answer %T, want an array", r.val)
	}
	for _, v := range vs {
		switch v := v.(type) {
		case int64:
			dst = append(dst, v)
		case string:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return dst, fmt.Errorf("luabatch: answer element %q: %w", v, err)
			}
			dst = append(dst, n)
		default:
			return dst, fmt.Errorf("luabatch: answer element %T, want an integer", v)
		}
	}
	return dst, nil
}

// Text is the call's answer as a string (a bulk string or an integer).
func (r *Reply) Text() (string, error) {
	if r.err != nil {
		return "", r.err
	}
	switch v := r.val.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	}
	return "", fmt.Errorf("luabatch: answer %T, want a string", r.val)
}

// Batch collects script calls for one Exec. The zero value is ready; a
// Batch that ran is empty again and may be reused. Not safe for
// concurrent use.
type Batch struct {
	keys []string
	hdr  []any // n, then fragment, key count, argument count per call
	args []any
	all  []any // hdr then args, for Exec
	outs []*Reply
}

// Len is the number of calls queued.
func (b *Batch) Len() int { return len(b.outs) }

// Add queues a call of f with keys and args; Exec writes its answer to
// out, which must stay valid until then.
func (b *Batch) Add(f *Fragment, out *Reply, keys []string, args ...any) {
	bk, ba := b.Buffers()
	b.Commit(f, out, append(bk, keys...), append(ba, args...))
}

// Buffers returns the batch's key and argument buffers, for a caller to
// append one call's keys and arguments to and hand back to Commit: a
// call built so needs no slices of its own.
func (b *Batch) Buffers() ([]string, []any) { return b.keys, b.args }

// Commit queues a call of f whose keys and args are what was appended to
// the buffers Buffers returned (nothing else may be queued in between);
// Exec writes its answer to out, which must stay valid until then.
func (b *Batch) Commit(f *Fragment, out *Reply, keys []string, args []any) {
	b.hdr = append(b.hdr, f.id, len(keys)-len(b.keys), len(args)-len(b.args))
	b.keys, b.args = keys, args
	*out = Reply{err: ErrNotRun}
	b.outs = append(b.outs, out)
}

// Exec runs the queued calls in one script call on c and writes each
// answer; an error that kept the script from running is every call's.
// It returns that error, and leaves b empty.
func (b *Batch) Exec(ctx context.Context, c redis.Scripter) error {
	defer b.reset()
	if len(b.outs) == 0 {
		return nil
	}
	b.all = append(append(append(b.all[:0], len(b.outs)), b.hdr...), b.args...)
	vals, err := dispatcher().Run(ctx, c, b.keys, b.all...).Slice()
	if err == nil && len(vals) != len(b.outs) {
		err = fmt.Errorf("luabatch: %d answers for %d calls", len(vals), len(b.outs))
	}
	if err != nil {
		err = fmt.Errorf("run script batch: %w", err)
		for _, o := range b.outs {
			o.err = err
		}
		return err
	}
	for i, o := range b.outs {
		switch v := vals[i].(type) {
		case redis.Error:
			*o = Reply{err: v}
		case nil:
			*o = Reply{err: redis.Nil}
		default:
			*o = Reply{val: v}
		}
	}
	return nil
}

// reset empties b, dropping what it referenced.
func (b *Batch) reset() {
	clear(b.args)
	clear(b.all)
	clear(b.outs)
	clear(b.keys)
	b.keys, b.hdr, b.args, b.all, b.outs = b.keys[:0], b.hdr[:0], b.args[:0], b.all[:0], b.outs[:0]
}

// ErrNotRun is a Reply's error when it was read before its batch ran.
var ErrNotRun = errors.New("luabatch: batch not run")
