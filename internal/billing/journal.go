package billing

import (
	"bytes"
	"fmt"
	"strconv"
)

// A journal record is one line. Reserve and settle lines are the money;
// usage lines carry a usage log row as JSON. The same text is used by the
// file journal (one node) and the Redis list (several nodes), where the
// settle line is built by a Lua script, so the format is plain words:
//
//	R <charge> <user> <key> <amount> <request id> <c|->   reserve (c: carried over)
//	S <charge> <user> <key> <released> <charged>         settle and release
//	U <json>                                             usage row
type record struct {
	kind     byte // 'R', 'S' or 'U'
	charge   string
	user     int64
	key      int64
	amount   Micros // R: the amount held
	released Micros // S: the hold given back (0 when a reaper already released it)
	charged  Micros // S: the cost charged
	request  string // R: the client's request id
	carried  bool   // R: a copy of a reservation still open when its file was rotated
	usage    []byte // U: the row's JSON
	// file numbers the journal file the record was read from (1, 2, …;
	// 0: not from a file). Only records of the same file fold (entries).
	file int
}

const (
	recReserve = 'R'
	recSettle  = 'S'
	recUsage   = 'U'
)

// appendRecord appends rec's line, newline included, to b.
func appendRecord(b []byte, rec *record) []byte {
	b = append(b, rec.kind, ' ')
	switch rec.kind {
	case recUsage:
		b = append(b, rec.usage...)
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
	if len(line) < 2 || line[1] != ' ' {
		return record{}, fmt.Errorf("journal line %.40q: no kind", line)
	}
	rec := record{kind: line[0]}
	rest := line[2:]
	if rec.kind == recUsage {
		rec.usage = bytes.Clone(rest)
		return rec, nil
	}
	f := bytes.Fields(rest)
	want := map[byte]int{recReserve: 6, recSettle: 5}[rec.kind]
	if want == 0 || len(f) != want {
		return record{}, fmt.Errorf("journal line %.40q: malformed", line)
	}
	nums := make([]int64, 0, 4)
	last := 4 // R: user, key, amount; S: user, key, released, charged
	if rec.kind == recSettle {
		last = 5
	}
	for _, w := range f[1:last] {
		n, err := strconv.ParseInt(string(w), 10, 64)
		if err != nil {
			return record{}, fmt.Errorf("journal line %.40q: %w", line, err)
		}
		nums = append(nums, n)
	}
	rec.charge, rec.user, rec.key = string(f[0]), nums[0], nums[1]
	if rec.kind == recReserve {
		rec.amount = Micros(nums[2])
		if rec.request = string(f[4]); rec.request == "-" {
			rec.request = ""
		}
		rec.carried = string(f[5]) == "c"
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
	var out []Entry
	for i, r := range recs {
		switch r.kind {
		case recReserve:
			if at, ok := folded[r.charge]; ok && at.reserve == i {
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
