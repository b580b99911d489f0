package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/switchyard/switchyard/internal/usage"
)

// memState is the hot state of a single node: accounts in memory, every
// movement appended to a journal file before the call returns. A write(2)
// that returned is in the kernel's page cache and survives the process
// being killed (SIGKILL, a panic, the OOM killer); only a crash of the
// machine itself can lose the last instants unless the file system syncs.
//
// The drainer rotates the file: a new file starts with copies of the
// reservations still open (marked carried, so they move nothing twice),
// the old file is posted to the ledger and removed. At start, files left
// by a killed process are posted again (the ledger ignores what it has),
// and every reservation without its settle is released.
type memState struct {
	dir  string
	load loader
	log  *slog.Logger

	mu    sync.Mutex
	users map[int64]*account
	keys  map[int64]*account
	open  map[string]*hold
	f     *os.File
	seq   int64
	fresh int      // records written to f since it was opened, carried copies excluded
	spill []record // records a failed write could not journal: posted, not crash-safe
	// carried lists the holds carried into f when it was opened by take,
	// for ack to mark posted (recPosted).
	carried []string
	buf     []byte
}

type account struct{ base, pending Micros }

const journalPrefix = "journal-"

func journalName(seq int64) string { return fmt.Sprintf("%s%012d.log", journalPrefix, seq) }

// journalFiles lists the journal files in dir, oldest first.
func journalFiles(dir string) ([]string, int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("list billing journal %s: %w", dir, err)
	}
	var names []string
	var last int64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, journalPrefix) || !strings.HasSuffix(n, ".log") {
			continue
		}
		seq, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(n, journalPrefix), ".log"), 10, 64)
		if err != nil {
			continue
		}
		names = append(names, filepath.Join(dir, n))
		last = max(last, seq)
	}
	slices.Sort(names) // zero-padded: lexical is numeric
	return names, last, nil
}

// readJournal parses a journal file. A torn last line (the process was
// killed inside a write) is skipped; it was never acknowledged to anyone.
func readJournal(path string, log *slog.Logger) ([]record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read billing journal %s: %w", path, err)
	}
	return parseJournal(string(data), path, log), nil
}

// parseJournal parses the lines of a journal file's text. The records'
// strings share text's memory: one allocation for the file rather than
// several per record.
func parseJournal(text, path string, log *slog.Logger) []record {
	var out []record
	for len(text) > 0 {
		end := strings.IndexByte(text, '\n')
		if end < 0 {
			log.Warn("billing journal: torn last line skipped", "file", path, "bytes", len(text))
			break
		}
		rec, err := parseLine(text[:end])
		if err != nil {
			log.Error("billing journal: unreadable line skipped", "file", path, "error", err.Error())
		} else {
			out = append(out, rec)
		}
		text = text[end+1:]
	}
	return out
}

// newMemState opens the journal directory. Files left there by a previous
// process are returned as recovered, for the meter to post before it
// starts; the state itself starts empty and loads accounts on first use.
func newMemState(dir string, load loader, log *slog.Logger) (*memState, []string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create billing journal dir: %w", err)
	}
	old, last, err := journalFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	s := &memState{dir: dir, load: load, log: log, users: map[int64]*account{}, keys: map[int64]*account{},
		open: map[string]*hold{}, seq: last}
	if err := s.openNext(); err != nil {
		return nil, nil, err
	}
	return s, old, nil
}

// openNext starts the next journal file; s.mu is held or s is not shared.
func (s *memState) openNext() error {
	s.seq++
	f, err := os.OpenFile(filepath.Join(s.dir, journalName(s.seq)), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create billing journal file: %w", err)
	}
	s.f, s.fresh = f, 0
	return nil
}

// write journals rec; s.mu is held. Only a settle must reach the file
// before the call returns (sync): reserve and usage records wait in buf
// and go out with the next settle or rotation, one write(2) for all. A
// reserve lost with the process held nothing that outlives it, and its
// settle can never reach the file before it, since buf is written in order.
// A usage row waits at most until the next drain tick.
func (s *memState) write(rec *record, sync bool) error {
	s.buf = appendRecord(s.buf, rec)
	if !rec.carried {
		s.fresh++
	}
	if !sync {
		return nil
	}
	return s.flush()
}

// flush writes buf to the journal file. When the write fails the records
// stay in memory (spill): they are still posted, only not crash-safe.
func (s *memState) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.f.Write(s.buf)
	if err != nil {
		s.spill = append(s.spill, parseJournal(string(s.buf), "(unwritten)", s.log)...)
		err = fmt.Errorf("%w: write journal: %v", ErrHotState, err)
	}
	s.buf = s.buf[:0]
	return err
}

// accounts returns the accounts of h, loading any not yet held. The
// durable read happens outside the lock and at most once per account per
// process: accounts are never dropped.
func (s *memState) accounts(ctx context.Context, h *hold) (*account, *account, error) {
	u, k := s.users[h.user], s.keys[h.key]
	if u != nil && (h.key == 0 || k != nil) {
		return u, k, nil
	}
	s.mu.Unlock()
	bal, spent, err := s.load(ctx, h.user, h.key)
	s.mu.Lock()
	if err != nil {
		return nil, nil, err
	}
	// Another request may have loaded them meanwhile and moved them: its
	// account wins. No record of an account exists before it is loaded, so
	// what was read is still its whole durable value.
	if s.users[h.user] == nil {
		s.users[h.user] = &account{base: bal}
	}
	if h.key != 0 && s.keys[h.key] == nil {
		s.keys[h.key] = &account{base: spent}
	}
	return s.users[h.user], s.keys[h.key], nil
}

func (s *memState) reserve(ctx context.Context, h *hold) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, k, err := s.accounts(ctx, h)
	if err != nil {
		return err
	}
	if avail := u.base + u.pending; avail < h.amount {
		return &ShortError{Need: h.amount, Available: avail}
	}
	if h.quota >= 0 {
		if room := h.quota - k.base - k.pending; room < h.amount {
			return &ShortError{Quota: true, Need: h.amount, Available: max(room, 0)}
		}
	}
	rec := record{kind: recReserve, charge: h.charge, user: h.user, key: h.key, amount: h.amount, request: h.request}
	_ = s.write(&rec, false) // buffered: cannot fail
	u.pending -= h.amount
	if k != nil {
		k.pending += h.amount
	}
	s.open[h.charge] = h
	return nil
}

func (s *memState) settle(_ context.Context, h *hold, cost, overdraft Micros) (Micros, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[h.charge] == nil {
		return 0, fmt.Errorf("settle %s: not reserved", h.charge)
	}
	u, k := s.users[h.user], s.keys[h.key]
	quota, spent := NoCap, Micros(0)
	if h.quota >= 0 && k != nil {
		quota, spent = h.quota, k.base+k.pending-h.amount
	}
	charged := capCharge(cost, u.base+u.pending+h.amount, overdraft, quota, spent)
	rec := record{kind: recSettle, charge: h.charge, user: h.user, key: h.key, released: h.amount, charged: charged}
	// On a failed write the money still moves and is posted from memory
	// (flush keeps the records); it is only not crash-safe. Refusing now
	// would not un-send the answer.
	err := s.write(&rec, true)
	u.pending += h.amount - charged
	if k != nil {
		k.pending -= h.amount - charged
	}
	delete(s.open, h.charge)
	return charged, err
}

// usage journals one usage row in the compact form, written straight
// into the buffer (written out with the next record or flush).
func (s *memState) usage(_ context.Context, row *usage.Row) error {
	s.mu.Lock()
	s.buf = appendUsageRow(s.buf, row)
	s.fresh++
	s.mu.Unlock()
	return nil
}

// take rotates the journal when it holds anything new and hands the old
// file to the drainer. The new file first receives a carried copy of each
// open reservation, so that the journal on disk always holds every
// reservation not yet settled.
func (s *memState) take(_ context.Context, _ int) (*batch, error) {
	s.mu.Lock()
	if s.fresh == 0 && len(s.spill) == 0 {
		s.mu.Unlock()
		return nil, nil
	}
	flushErr := s.flush() // what waits in buf belongs to the old file
	old, oldPath := s.f, s.f.Name()
	spill := s.spill
	s.spill = nil
	if err := s.openNext(); err != nil {
		s.f, s.spill = old, spill
		s.mu.Unlock()
		return nil, err
	}
	s.carried = s.carried[:0]
	for _, h := range s.open {
		rec := record{kind: recReserve, charge: h.charge, user: h.user, key: h.key, amount: h.amount, request: h.request, carried: true}
		_ = s.write(&rec, false)
		s.carried = append(s.carried, h.charge)
	}
	carryErr := s.flush()
	s.mu.Unlock()
	if flushErr != nil {
		s.log.Error("billing journal: write failed; the records are posted from memory", "error", flushErr.Error())
	}
	if carryErr != nil {
		s.log.Error("billing journal: could not carry open reservations over; a crash now would leave them to the ledger scan", "error", carryErr.Error())
	}
	if err := old.Close(); err != nil {
		return nil, fmt.Errorf("close billing journal: %w", err)
	}
	recs, err := readJournal(oldPath, s.log)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		recs[i].file = 1 // the spill was never in a file: recovery cannot see it, so it never folds
	}
	return &batch{recs: append(recs, spill...), path: oldPath}, nil
}

func (s *memState) ack(_ context.Context, b *batch, fresh balances) error {
	d := recordDeltas(b.recs)
	s.mu.Lock()
	// b held the reserve (or a carried copy) of every hold carried into the
	// current file when b was taken, settled since or not: their reserve
	// rows are on the ledger now, which the current file says after their
	// copies (recPosted). Not counted as fresh: no reason to rotate.
	for _, c := range s.carried {
		s.buf = appendRecord(s.buf, &record{kind: recPosted, charge: c})
	}
	s.carried = s.carried[:0]
	for id, m := range d.users {
		if a := s.users[id]; a != nil {
			a.pending -= m
			if v, ok := fresh.users[id]; ok {
				a.base = v
			}
		}
	}
	for id, m := range d.keys {
		if a := s.keys[id]; a != nil {
			a.pending -= m
			if v, ok := fresh.keys[id]; ok {
				a.base = v
			}
		}
	}
	s.mu.Unlock()
	if b.path != "" {
		if err := os.Remove(b.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove posted billing journal: %w", err)
		}
	}
	return nil
}

func (s *memState) known(context.Context) ([]int64, []int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make([]int64, 0, len(s.users))
	for id := range s.users {
		users = append(users, id)
	}
	keys := make([]int64, 0, len(s.keys))
	for id := range s.keys {
		keys = append(keys, id)
	}
	return users, keys, nil
}

func (s *memState) refresh(_ context.Context, fresh balances) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, v := range fresh.users {
		if a := s.users[id]; a != nil {
			a.base = v
		}
	}
	for id, v := range fresh.keys {
		if a := s.keys[id]; a != nil {
			a.base = v
		}
	}
	return nil
}

func (s *memState) reap(context.Context, Micros) error { return nil }

func (s *memState) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ferr := s.flush()
	return errors.Join(ferr, s.f.Close())
}
