package billing

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/switchyard/switchyard/internal/usage"
)

// A journal record is one line. Reserve and settle lines are the money;
// usage lines carry a usage log row. The same text is used by the file
// journal (one node) and the Redis list (several nodes), where the settle
// line is built by a Lua script, so the format is plain words:
//
//	R <charge> <user> <key> <amount> <request id> <c|->   reserve (c: carried over)
//	P <charge>                                           its reserve row is on the ledger (file journal)
//	S <charge> <user> <key> <released> <charged>         settle and release
//	U <json>                                             usage row (Redis; files written before the compact form)
//	u <compact row>                                      usage row (file journal: usage.AppendCompact)
//
// The file journal writes usage rows in the compact form, which costs the
// request no JSON encoding and the drainer no decoding; the Redis journal
// keeps JSON, so that nodes of different versions sharing it during a
// rolling upgrade read each other's rows. A file written by an older
// version (JSON lines) is still read at start.
type record struct {
	kind     byte // 'R', 'S', 'U' or 'u'
	charge   string
	user     int64
	key      int64
	amount   Micros // R: the amount held
	released Micros // S: the hold given back (0 when a reaper already released it)
	charged  Micros // S: the cost charged
	request  string // R: the client's request id
	carried  bool   // R: a copy of a reservation still open when its file was rotated
	usage    []byte // U: the row's JSON
	row      string // u: the row's compact form
	// file numbers the journal file the record was read from (1, 2, …;
	// 0: not from a file). Only records of the same file fold (entries).
	file int
}

const (
	recReserve  = 'R'
	recSettle   = 'S'
	recUsage    = 'U'
	recUsageRow = 'u'
	// recPosted says that a reservation's reserve row is on the ledger:
	// the file journal writes one, when a drain is acknowledged, for each
	// hold it posted that is still open, into the file that already holds
	// the hold's carried copy. The copy then posts no reserve entry again
	// (the ledger would drop it, but only after the drain's optimistic
	// post met the repeat, rolled back and started over: nearly every
	// round under load). Lost in a crash, it only leaves the repeat to the
	// ledger; an older version skips the line as unreadable.
	recPosted = 'P'
)

// appendRecord appends rec's line, newline included, to b.
func appendRecord(b []byte, rec *record) []byte {
	b = append(b, rec.kind, ' ')
	switch rec.kind {
	case recUsage:
		b = append(b, rec.usage...)
	case recUsageRow:
		b = append(b, rec.row...)
	case recPosted:
		b = append(b, rec.charge...)
	case recReserve:
		b = appendWords(b, rec)
		b = strconv.AppendInt(b, int64(rec.amount), 10)
		b = append(b, ' ')
		req := rec.request
		if req == "" {
			req = "-"
		}
		b = append(b, req...)
		if rec.carried {
			b = append(b, " c"...)
		} else {
			b = append(b, " -"...)
		}
	case recSettle:
		b = appendWords(b, rec)
		b = strconv.AppendInt(b, int64(rec.released), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(rec.charged), 10)
	}
	return append(b, '\n')
}

// appendUsageRow appends the line of a usage row in the compact form.
func appendUsageRow(b []byte, row *usage.Row) []byte {
	b = append(b, recUsageRow, ' ')
	b = usage.AppendCompact(b, row)
	return append(b, '\n')
}

func appendWords(b []byte, rec *record) []byte {
	b = append(b, rec.charge...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, rec.user, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, rec.key, 10)
	return append(b, ' ')
}

// parseRecord reads one line, without its newline.
func parseRecord(line []byte) (record, error) {
	if len(line) >= 2 && line[0] == recUsage && line[1] == ' ' {
		return record{kind: recUsage, usage: bytes.Clone(line[2:])}, nil
	}
	return parseLine(string(line))
}

// parseLine reads one line, without its newline. The strings of the record
// share line's memory: a journal file is read as one string, and its
// records cost no allocation each.
func parseLine(line string) (record, error) {
	if len(line) < 2 || line[1] != ' ' {
		return record{}, fmt.Errorf("journal line %.40q: no kind", line)
	}
	rec := record{kind: line[0]}
	rest := line[2:]
	switch rec.kind {
	case recUsage:
		rec.usage = []byte(rest)
		return rec, nil
	case recUsageRow:
		rec.row = rest
		return rec, nil
	}
	// The words as strings.Fields splits them, without its slice.
	var f [7]string
	nf := 0
	for nf < len(f) {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			end = len(rest)
		}
		f[nf], rest = rest[:end], rest[end:]
		nf++
	}
	want := 0
	switch rec.kind {
	case recPosted:
		if nf != 1 {
			return record{}, fmt.Errorf("journal line %.40q: malformed", line)
		}
		rec.charge = f[0]
		return rec, nil
	case recReserve:
		want = 6
	case recSettle:
		want = 5
	}
	if want == 0 || nf != want {
		return record{}, fmt.Errorf("journal line %.40q: malformed", line)
	}
	var nums [4]int64
	last := 4 // R: user, key, amount; S: user, key, released, charged
	if rec.kind == recSettle {
		last = 5
	}
	for i, w := range f[1:last] {
		n, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return record{}, fmt.Errorf("journal line %.40q: %w", line, err)
		}
		nums[i] = n
	}
	rec.charge, rec.user, rec.key = f[0], nums[0], nums[1]
	if rec.kind == recReserve {
		rec.amount = Micros(nums[2])
		if rec.request = f[4]; rec.request == "-" {
			rec.request = ""
		}
		rec.carried = f[5] == "c"
	} else {
		rec.released, rec.charged = Micros(nums[2]), Micros(nums[3])
	}
	if rec.user <= 0 || rec.charge == "" || rec.amount < 0 || rec.released < 0 || rec.charged < 0 {
		return record{}, fmt.Errorf("journal line %.40q: bad values", line)
	}
	return rec, nil
}

// entries turns money records into ledger entries, in order. Every entry
// may go below zero: the hot state already decided within the overdraft
// bound, and the ledger only records what happened.
//
// A reservation and its settle read from the same journal file fold into
// one settle row carrying the reservation's note, when the settle gave the
// whole hold back (released equal to the amount): the reserve and release
// rows would cancel out. Folding is decided by the file alone, so a file
// posted twice (a crash between post and ack, then recovery) gives the
// same rows and the ledger's unique (request_id, kind) drops the repeat.
// A reservation that was still open when its file was drained has been
// posted as a reserve row, and its settle, in a later file beside a
// carried copy (never folded), posts release and settle as before. A
// folded charge of zero posts nothing.
func entries(recs []record) []Entry {
	folded := foldable(recs)
	var posted map[string]bool // recPosted
	for _, r := range recs {
		if r.kind == recPosted {
			if posted == nil {
				posted = map[string]bool{}
			}
			posted[r.charge] = true
		}
	}
	var out []Entry
	for i, r := range recs {
		switch r.kind {
		case recReserve:
			if at, ok := folded[r.charge]; (ok && at.reserve == i) || (r.carried && posted[r.charge]) {
				continue
			}
			out = append(out, Entry{UserID: r.user, KeyID: r.key, RequestID: r.charge, Kind: KindReserve,
				Amount: -r.amount, Note: reserveNote(r), AllowNegative: true})
		case recSettle:
			if at, ok := folded[r.charge]; ok && at.settle == i {
				if r.charged > 0 {
					out = append(out, Entry{UserID: r.user, KeyID: r.key, RequestID: r.charge, Kind: KindSettle,
						Amount: -r.charged, Note: reserveNote(recs[at.reserve]), AllowNegative: true})
				}
				continue
			}
			if r.released > 0 {
				out = append(out, Entry{UserID: r.user, KeyID: r.key, RequestID: r.charge, Kind: KindRelease,
					Amount: r.released, AllowNegative: true})
			}
			if r.charged > 0 {
				out = append(out, Entry{UserID: r.user, KeyID: r.key, RequestID: r.charge, Kind: KindSettle,
					Amount: -r.charged, AllowNegative: true})
			}
		}
	}
	return out
}

func reserveNote(r record) string {
	if r.request != "" {
		return "request " + r.request
	}
	return "reserve"
}

// fold is where a folded charge's reserve and settle records are.
type fold struct{ reserve, settle int }

// foldable finds the charges whose reserve and settle fold (see entries).
func foldable(recs []record) map[string]fold {
	var out map[string]fold
	reserves := map[string]int{}
	for i, r := range recs {
		if r.file == 0 {
			continue
		}
		switch {
		case r.kind == recReserve && !r.carried:
			reserves[r.charge] = i
		case r.kind == recSettle:
			j, ok := reserves[r.charge]
			if !ok {
				continue
			}
			delete(reserves, r.charge)
			res := recs[j]
			if res.file != r.file || res.user != r.user || res.key != r.key || res.amount != r.released {
				continue
			}
			if out == nil {
				out = map[string]fold{}
			}
			out[r.charge] = fold{reserve: j, settle: i}
		}
	}
	return out
}

// deltas is what a set of records moved in the hot state that the ledger
// does not hold yet: per user the signed change of the balance, per key the
// change of its spend. Carried-over copies moved nothing.
type deltas struct {
	users map[int64]Micros
	keys  map[int64]Micros
}

func recordDeltas(recs []record) deltas {
	d := deltas{users: map[int64]Micros{}, keys: map[int64]Micros{}}
	for _, r := range recs {
		var m Micros
		switch {
		case r.kind == recReserve && !r.carried:
			m = -r.amount
		case r.kind == recSettle:
			m = r.released - r.charged
		default:
			continue
		}
		d.users[r.user] += m
		if r.key != 0 {
			d.keys[r.key] -= m
		}
	}
	return d
}
