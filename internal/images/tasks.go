package images

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Task kinds.
const (
	KindGeneration = "generation"
	KindEdit       = "edit"
)

// Task statuses. Queued and running tasks are live; the other three are
// final and never change again.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Webhook states of a task; "" means it has no webhook or has not finished.
const (
	WebhookPending   = "pending"
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
)

// ErrorInterrupted is the error code of a task failed because the node
// running it stopped and its attempts ran out (or it was synchronous, so
// there is no client left to run it for).
const ErrorInterrupted = "interrupted"

// WebhookLease is how long DueWebhooks holds a webhook for the caller
// before another node may take it: a delivery must end well within it.
const WebhookLease = 2 * time.Minute

var (
	// ErrTaskNotFound is returned for a task that does not exist or, for
	// the owner-checked calls, belongs to someone else.
	ErrTaskNotFound = errors.New("image task not found")
	// ErrTaskFinished is returned by Cancel for a task that had already
	// ended; the task is returned with it.
	ErrTaskFinished = errors.New("image task already finished")
)

// Output is one stored result image.
type Output struct {
	Key         string `json:"key"`
	ContentType string `json:"content_type"`
	Bytes       int64  `json:"bytes"`
}

// Task is one image request, a row of image_tasks. Zero times are NULL.
type Task struct {
	ID             string
	UserID         int64
	KeyID          int64
	RequestID      string
	Kind           string // KindGeneration or KindEdit
	Model          string
	Async          bool
	Status         string
	Progress       int // 0 to 100
	N              int // images asked for
	Delivered      int // images produced
	ResponseFormat string
	// Params is the handler's own JSON to run an async task again; the
	// store never reads it. List leaves it nil.
	Params  json.RawMessage
	Outputs []Output
	// Inputs are storage keys of an async edit's uploaded images, deleted
	// once the task has ended.
	Inputs       []string
	Stored       bool // Outputs are in storage (until swept)
	ErrorCode    string
	ErrorMessage string
	CostMicros   int64
	Attempts     int    // times a node started it
	Node         string // the node running it, or that ran it last
	HeartbeatAt  time.Time
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time

	WebhookURL      string
	WebhookState    string // "", WebhookPending, WebhookDelivered, WebhookFailed
	WebhookAttempts int
	WebhookNextAt   time.Time
	WebhookError    string
}

// Finished reports whether the task has reached a final status.
func (t *Task) Finished() bool {
	return t.Status == StatusSucceeded || t.Status == StatusFailed || t.Status == StatusCancelled
}

// Finish is the outcome of running a task.
type Finish struct {
	Status       string // StatusSucceeded or StatusFailed
	Delivered    int
	CostMicros   int64
	Outputs      []Output
	ErrorCode    string
	ErrorMessage string
	Stored       bool // Outputs were written to storage
	// Attempt, when not 0, is the Task.Attempts the run was claimed with:
	// the outcome of a run that a requeue superseded, even on the same
	// node, is then dropped.
	Attempt int
	// Made describes the run for the gallery: when the outcome is recorded
	// with stored outputs, the Tasks' Recorder gets it with the outputs.
	// Nil records nothing.
	Made *Made
}

// Made is what the gallery keeps of a task's stored images.
type Made struct {
	TaskID  string
	UserID  int64
	Model   string
	Prompt  string
	Size    string
	Quality string
	Outputs []Output // in order; Output i is image i of the task
	At      time.Time
}

// Recorder keeps a record of stored images: the gallery. From the
// record on, the images are its to delete (see RunnerOptions.Kept). It
// reports (logs) its own failures: the task's outcome is recorded
// whatever becomes of the gallery's record.
type Recorder interface {
	Record(ctx context.Context, m Made)
}

// Column sizes, in characters, that strings are clipped to.
const (
	maxTaskID        = 40
	maxRequestIDLen  = 128
	maxModel         = 191
	maxShort         = 16 // kind, status, response_format, webhook_state
	maxErrorCode     = 64
	maxErrorMessage  = 1000
	maxNode          = 64
	maxWebhookURL    = 2048
	maxWebhookError  = 500
	claimCandidates  = 8
	claimRounds      = 4
	heartbeatChunk   = 500
	maxListLimit     = 1000
	defaultListLimit = 50
)

const taskColumns = `id, user_id, key_id, request_id, kind, model, async, status, progress, n, delivered,
	response_format, params, outputs, inputs, stored, error_code, error_message, cost_micros, attempts, node,
	heartbeat_at, created_at, started_at, finished_at,
	webhook_url, webhook_state, webhook_attempts, webhook_next_at, webhook_error`

// listColumns is taskColumns without params, which may be large and which
// a gallery never needs.
var listColumns = strings.Replace(taskColumns, "params,", "'' AS params,", 1)

// finalStatuses is the SQL list of final statuses.
const finalStatuses = "('succeeded', 'failed', 'cancelled')"

// Tasks keeps image tasks in the database.
type Tasks struct {
	db       *store.DB
	now      func() time.Time
	recorder Recorder
}

// SetRecorder makes Finish and KeepCancelled hand the stored images of
// every outcome they record (with a Made) to rec. Call it before use.
func (ts *Tasks) SetRecorder(rec Recorder) { ts.recorder = rec }

// record hands a recorded outcome's stored images to the recorder.
func (ts *Tasks) record(ctx context.Context, id string, r Finish) {
	if ts.recorder == nil || r.Made == nil || !r.Stored || len(r.Outputs) == 0 {
		return
	}
	m := *r.Made
	m.TaskID, m.Outputs = id, r.Outputs
	if m.At.IsZero() {
		m.At = ts.clock()
	}
	ts.recorder.Record(ctx, m)
}

// NewTasks returns the image tasks of db; now is the clock (time.Now when
// nil).
func NewTasks(db *store.DB, now func() time.Time) *Tasks {
	if now == nil {
		now = time.Now
	}
	return &Tasks{db: db, now: now}
}

// NewTaskID returns a new random task id: "imgt_" and 22 base62
// characters (131 bits), valid for ValidTask and storage keys.
func NewTaskID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 0, 27)
	b = append(b, "imgt_"...)
	var buf [32]byte
	for len(b) < 27 {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			// 248 = 4×62: rejecting bytes above it keeps every character
			// equally likely.
			if c < 248 && len(b) < 27 {
				b = append(b, alphabet[c%62])
			}
		}
	}
	return string(b)
}

// clock returns the current time as stored: UTC, to the microsecond, the
// finest PostgreSQL and MySQL keep.
func (ts *Tasks) clock() time.Time { return dbTime(ts.now()) }

func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return dbTime(t)
}

func (ts *Tasks) q(query string) string { return ts.db.Dialect().Rebind(query) }

// Create inserts t. An empty ID is filled with NewTaskID. An async task
// is created queued; a synchronous one running on t.Node (required), as
// its handler is already working on it. Status, CreatedAt (when zero),
// StartedAt, HeartbeatAt and Attempts are set on t; FinishedAt is cleared.
func (ts *Tasks) Create(ctx context.Context, t *Task) error {
	if t.ID == "" {
		t.ID = NewTaskID()
	}
	if err := ValidTask(t.ID); err != nil || len(t.ID) > maxTaskID {
		return fmt.Errorf("create image task %q: invalid id", t.ID)
	}
	if t.Kind != KindGeneration && t.Kind != KindEdit {
		return fmt.Errorf("create image task %s: kind %q is not %s or %s", t.ID, t.Kind, KindGeneration, KindEdit)
	}
	now := ts.clock()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.CreatedAt = dbTime(t.CreatedAt)
	t.FinishedAt = time.Time{} // a new task has not ended: the sweeper relies on it
	if t.Async {
		t.Status, t.Node, t.Attempts = StatusQueued, "", 0
		t.StartedAt, t.HeartbeatAt = time.Time{}, time.Time{}
	} else {
		if t.Node == "" {
			return fmt.Errorf("create image task %s: a synchronous task needs the node running it", t.ID)
		}
		t.Status, t.Attempts = StatusRunning, 1
		t.StartedAt, t.HeartbeatAt = now, now
	}
	outputs, err := marshalOutputs(t.Outputs)
	if err != nil {
		return fmt.Errorf("create image task %s: %w", t.ID, err)
	}
	inputs, err := marshalInputs(t.Inputs)
	if err != nil {
		return fmt.Errorf("create image task %s: %w", t.ID, err)
	}
	_, err = ts.db.Write().ExecContext(ctx, ts.q(`INSERT INTO image_tasks (`+taskColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.UserID, t.KeyID, store.Clip(t.RequestID, maxRequestIDLen), t.Kind, store.Clip(t.Model, maxModel), t.Async,
		t.Status, clamp(t.Progress), t.N, t.Delivered, store.Clip(t.ResponseFormat, maxShort), string(t.Params), outputs,
		inputs, t.Stored, store.Clip(t.ErrorCode, maxErrorCode), store.Clip(t.ErrorMessage, maxErrorMessage), t.CostMicros,
		t.Attempts, store.Clip(t.Node, maxNode), nullTime(t.HeartbeatAt), t.CreatedAt, nullTime(t.StartedAt),
		nullTime(t.FinishedAt), store.Clip(t.WebhookURL, maxWebhookURL), "", 0, nil, "")
	if err != nil {
		return fmt.Errorf("create image task %s: %w", t.ID, err)
	}
	return nil
}

// Get returns the task id, or ErrTaskNotFound.
func (ts *Tasks) Get(ctx context.Context, id string) (Task, error) {
	t, err := ts.get(ctx, ts.db.Read(), id, 0)
	if err != nil {
		return Task{}, fmt.Errorf("get image task %s: %w", id, err)
	}
	return t, nil
}

// GetOwned is Get for a task of userID: someone else's task is
// ErrTaskNotFound too, so its existence does not leak.
func (ts *Tasks) GetOwned(ctx context.Context, id string, userID int64) (Task, error) {
	t, err := ts.get(ctx, ts.db.Read(), id, userID)
	if err != nil {
		return Task{}, fmt.Errorf("get image task %s: %w", id, err)
	}
	return t, nil
}

// get reads a task, checking its owner unless userID is 0.
func (ts *Tasks) get(ctx context.Context, q store.Querier, id string, userID int64) (Task, error) {
	query := "SELECT " + taskColumns + " FROM image_tasks WHERE id = ?"
	args := []any{id}
	if userID != 0 {
		query += " AND user_id = ?"
		args = append(args, userID)
	}
	t, err := scanTask(q.QueryRowContext(ctx, ts.q(query), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, ErrTaskNotFound
	}
	return t, err
}

// List returns userID's tasks newest first, at most limit (50 when not
// positive, at most 1000), starting after the task before ("" for the
// newest). Params is left nil. A before that is not the user's task is
// ErrTaskNotFound.
func (ts *Tasks) List(ctx context.Context, userID int64, limit int, before string) ([]Task, error) {
	switch {
	case limit <= 0:
		limit = defaultListLimit
	case limit > maxListLimit:
		limit = maxListLimit
	}
	query := "SELECT " + listColumns + " FROM image_tasks WHERE user_id = ?"
	args := []any{userID}
	if before != "" {
		var at time.Time
		err := ts.db.Read().QueryRowContext(ctx, ts.q("SELECT created_at FROM image_tasks WHERE id = ? AND user_id = ?"),
			before, userID).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("list image tasks before %s: %w", before, ErrTaskNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("list image tasks before %s: %w", before, err)
		}
		// Ties on created_at are broken by id, so paging never skips or
		// repeats a task.
		query += " AND (created_at < ? OR (created_at = ? AND id < ?))"
		args = append(args, dbTime(at), dbTime(at), before)
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT " + strconv.Itoa(limit)
	out, err := ts.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list image tasks of user %d: %w", userID, err)
	}
	for i := range out {
		out[i].Params = nil
	}
	return out, nil
}

// TaskFilter selects tasks for Find; zero fields select everything.
type TaskFilter struct {
	UserID int64
	Status string // one of the Status constants
	Model  string
	// Before is the keyset cursor: tasks listed after the task of this id
	// (newest first, by created_at then id).
	Before string
	Limit  int // default 50, at most 1000
}

// Find lists every user's tasks newest first, for the console; Params is
// left nil. A Before that is no task is ErrTaskNotFound.
func (ts *Tasks) Find(ctx context.Context, f TaskFilter) ([]Task, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultListLimit
	case limit > maxListLimit:
		limit = maxListLimit
	}
	var (
		conds []string
		args  []any
	)
	if f.UserID != 0 {
		conds, args = append(conds, "user_id = ?"), append(args, f.UserID)
	}
	if f.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, f.Status)
	}
	if f.Model != "" {
		conds, args = append(conds, "model = ?"), append(args, f.Model)
	}
	if f.Before != "" {
		var at time.Time
		err := ts.db.Read().QueryRowContext(ctx, ts.q("SELECT created_at FROM image_tasks WHERE id = ?"), f.Before).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("list image tasks before %s: %w", f.Before, ErrTaskNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("list image tasks before %s: %w", f.Before, err)
		}
		conds = append(conds, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, dbTime(at), dbTime(at), f.Before)
	}
	query := "SELECT " + listColumns + " FROM image_tasks"
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT " + strconv.Itoa(limit)
	out, err := ts.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list image tasks: %w", err)
	}
	for i := range out {
		out[i].Params = nil
	}
	return out, nil
}

func (ts *Tasks) query(ctx context.Context, query string, args ...any) ([]Task, error) {
	rows, err := ts.db.Read().QueryContext(ctx, ts.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Claim moves the oldest queued task to running on node and returns it;
// false when none is queued. Several nodes may claim at once: a task is
// taken by a conditional UPDATE that only one of them can win, and a
// loser tries the next candidates.
func (ts *Tasks) Claim(ctx context.Context, node string) (Task, bool, error) {
	for range claimRounds {
		rows, err := ts.db.Read().QueryContext(ctx, ts.q(`SELECT id FROM image_tasks WHERE status = 'queued'
			ORDER BY created_at, id LIMIT `+strconv.Itoa(claimCandidates)))
		if err != nil {
			return Task{}, false, fmt.Errorf("claim image task: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return Task{}, false, fmt.Errorf("claim image task: %w", err)
			}
			ids = append(ids, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return Task{}, false, fmt.Errorf("claim image task: %w", err)
		}
		if len(ids) == 0 {
			return Task{}, false, nil
		}
		for _, id := range ids {
			now := ts.clock()
			res, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET status = 'running', node = ?,
				started_at = ?, heartbeat_at = ?, attempts = attempts + 1, progress = 0
				WHERE id = ? AND status = 'queued'`), store.Clip(node, maxNode), now, now, id)
			if err != nil {
				if store.IsRetryable(err) {
					continue
				}
				return Task{}, false, fmt.Errorf("claim image task %s: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				continue // another node won it
			}
			t, err := ts.get(ctx, ts.db.Write(), id, 0)
			if err != nil {
				return Task{}, false, fmt.Errorf("read claimed image task %s: %w", id, err)
			}
			return t, true, nil
		}
	}
	// Every candidate went to others several times over: the queue is
	// being drained fast, and the caller's next poll tries again.
	return Task{}, false, nil
}

// Heartbeat marks node's running tasks ids as alive and returns those of
// ids that are no longer running on node (cancelled, finished, or
// requeued and taken by another node), whose work should stop.
func (ts *Tasks) Heartbeat(ctx context.Context, node string, ids []string) ([]string, error) {
	var gone []string
	for start := 0; start < len(ids); start += heartbeatChunk {
		chunk := ids[start:min(start+heartbeatChunk, len(ids))]
		in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + ")"
		args := make([]any, 0, len(chunk)+2)
		args = append(args, ts.clock(), node)
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET heartbeat_at = ?
			WHERE node = ? AND status = 'running' AND id IN `+in), args...); err != nil {
			return nil, fmt.Errorf("heartbeat %d image tasks: %w", len(chunk), err)
		}
		rows, err := ts.db.Read().QueryContext(ctx, ts.q(`SELECT id FROM image_tasks
			WHERE node = ? AND status = 'running' AND id IN `+in), args[1:]...)
		if err != nil {
			return nil, fmt.Errorf("heartbeat %d image tasks: %w", len(chunk), err)
		}
		alive := make(map[string]bool, len(chunk))
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("heartbeat %d image tasks: %w", len(chunk), err)
			}
			alive[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("heartbeat %d image tasks: %w", len(chunk), err)
		}
		for _, id := range chunk {
			if !alive[id] {
				gone = append(gone, id)
			}
		}
	}
	return gone, nil
}

// Progress records how far a running task is, in percent (clamped to 0–100).
func (ts *Tasks) Progress(ctx context.Context, id string, pct int) error {
	if _, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET progress = ?
		WHERE id = ? AND status = 'running'`), clamp(pct), id); err != nil {
		return fmt.Errorf("record progress of image task %s: %w", id, err)
	}
	return nil
}

// webhookOnEnd is the SET fragment that schedules a task's webhook, if it
// has one, as it ends; its one argument is the time. PostgreSQL cannot
// infer a parameter's type inside CASE, so there it is cast.
func (ts *Tasks) webhookOnEnd() string {
	param := "?"
	if ts.db.Dialect() == store.Postgres {
		param = "CAST(? AS TIMESTAMPTZ)"
	}
	return `webhook_state = CASE WHEN webhook_url <> '' THEN 'pending' ELSE '' END,
	webhook_next_at = CASE WHEN webhook_url <> '' THEN ` + param + ` ELSE NULL END`
}

// Finish records the outcome of task id run by node. It applies only while
// the task is still running on node (and, with r.Attempt, in that
// attempt): false means it was cancelled or taken over meanwhile, and the
// outcome was dropped. A webhook, if the task has
// one, becomes due at once.
func (ts *Tasks) Finish(ctx context.Context, id, node string, r Finish) (bool, error) {
	if r.Status != StatusSucceeded && r.Status != StatusFailed {
		return false, fmt.Errorf("finish image task %s: status %q is not %s or %s", id, r.Status, StatusSucceeded, StatusFailed)
	}
	outputs, err := marshalOutputs(r.Outputs)
	if err != nil {
		return false, fmt.Errorf("finish image task %s: %w", id, err)
	}
	progress := "progress"
	if r.Status == StatusSucceeded {
		progress = "100"
	}
	now := ts.clock()
	res, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET status = ?, progress = `+progress+`,
		delivered = ?, cost_micros = ?, outputs = ?, stored = ?, error_code = ?, error_message = ?,
		finished_at = ?, heartbeat_at = ?, `+ts.webhookOnEnd()+`
		WHERE id = ? AND status = 'running' AND node = ? AND (? = 0 OR attempts = ?)`),
		r.Status, r.Delivered, r.CostMicros, outputs, r.Stored, store.Clip(r.ErrorCode, maxErrorCode),
		store.Clip(r.ErrorMessage, maxErrorMessage), now, now, now, id, node, r.Attempt, r.Attempt)
	if err != nil {
		return false, fmt.Errorf("finish image task %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("finish image task %s: %w", id, err)
	}
	if n == 1 {
		ts.record(ctx, id, r)
	}
	return n == 1, nil
}

// KeepCancelled records on task id, cancelled while node ran it, what
// that run delivered anyway (images that arrived, and were charged,
// before the cancellation reached it): the delivered count, the cost and
// the stored outputs, which the task then shows and the sweeper deletes
// like any finished task's. The status stays cancelled. false means the
// task is not a cancelled task of node's (with r.Attempt, of that
// attempt), and nothing was written.
func (ts *Tasks) KeepCancelled(ctx context.Context, id, node string, r Finish) (bool, error) {
	outputs, err := marshalOutputs(r.Outputs)
	if err != nil {
		return false, fmt.Errorf("keep outputs of cancelled image task %s: %w", id, err)
	}
	res, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET delivered = ?, cost_micros = ?,
		outputs = ?, stored = ? WHERE id = ? AND status = 'cancelled' AND node = ? AND (? = 0 OR attempts = ?)`),
		r.Delivered, r.CostMicros, outputs, r.Stored, id, node, r.Attempt, r.Attempt)
	if err != nil {
		return false, fmt.Errorf("keep outputs of cancelled image task %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("keep outputs of cancelled image task %s: %w", id, err)
	}
	if n == 1 {
		ts.record(ctx, id, r)
	}
	return n == 1, nil
}

// Cancel cancels userID's task id if it is queued or running, and returns
// it as cancelled; the node running it notices at its next heartbeat. A
// task that had already ended is returned with ErrTaskFinished; a missing
// task, or someone else's, is ErrTaskNotFound. A webhook, if any, becomes
// due as for Finish. A userID of 0 cancels anyone's task (an admin).
func (ts *Tasks) Cancel(ctx context.Context, id string, userID int64) (Task, error) {
	owner := " AND user_id = ?"
	if userID == 0 {
		owner = " AND ? = 0"
	}
	// A task may go from queued to running between the UPDATE and the
	// read-back; both are still cancellable, so try again.
	for range claimRounds {
		now := ts.clock()
		res, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET status = 'cancelled',
			finished_at = ?, `+ts.webhookOnEnd()+`
			WHERE id = ?`+owner+` AND status IN ('queued', 'running')`), now, now, id, userID)
		if err != nil {
			return Task{}, fmt.Errorf("cancel image task %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return Task{}, fmt.Errorf("cancel image task %s: %w", id, err)
		}
		t, err := ts.get(ctx, ts.db.Write(), id, userID)
		if err != nil {
			return Task{}, fmt.Errorf("cancel image task %s: %w", id, err)
		}
		switch {
		case n == 1:
			return t, nil
		case t.Finished():
			return t, fmt.Errorf("cancel image task %s: %w (%s)", id, ErrTaskFinished, t.Status)
		}
	}
	return Task{}, fmt.Errorf("cancel image task %s: it kept changing", id)
}

// Requeue recovers running tasks whose heartbeat is older than
// staleBefore, left by a node that stopped: an async task goes back to
// the queue while it has been started fewer than maxAttempts times, and
// fails with ErrorInterrupted after that. A synchronous task always
// fails: its client is gone.
func (ts *Tasks) Requeue(ctx context.Context, staleBefore time.Time, maxAttempts int) (requeued, failed int, err error) {
	return ts.recover(ctx, "heartbeat_at < ?", dbTime(staleBefore), maxAttempts)
}

// RecoverNode does what Requeue does, at once, for every task running on
// node: a node calls it as it starts, when nothing of its own can be
// running any more.
func (ts *Tasks) RecoverNode(ctx context.Context, node string, maxAttempts int) (requeued, failed int, err error) {
	return ts.recover(ctx, "node = ?", node, maxAttempts)
}

func (ts *Tasks) recover(ctx context.Context, cond string, arg any, maxAttempts int) (requeued, failed int, err error) {
	res, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET status = 'queued', progress = 0,
		heartbeat_at = NULL WHERE status = 'running' AND async = ? AND attempts < ? AND `+cond), true, maxAttempts, arg)
	if err != nil {
		return 0, 0, fmt.Errorf("requeue stale image tasks: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, fmt.Errorf("requeue stale image tasks: %w", err)
	}
	now := ts.clock()
	res, err = ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET status = 'failed', error_code = ?,
		error_message = ?, finished_at = ?, `+ts.webhookOnEnd()+` WHERE status = 'running' AND `+cond),
		ErrorInterrupted, "the gateway node running this task stopped before it finished", now, now, arg)
	if err != nil {
		return int(n), 0, fmt.Errorf("fail stale image tasks: %w", err)
	}
	m, err := res.RowsAffected()
	if err != nil {
		return int(n), 0, fmt.Errorf("fail stale image tasks: %w", err)
	}
	return int(n), int(m), nil
}

// SweepCandidates returns up to limit ended tasks, finished before
// finishedBefore, that still have objects in storage: stored outputs, or
// input images left by a task cancelled while queued or failed by
// Requeue. Live tasks are never returned.
//
// The inputs half of the condition is not indexed; it is only ever true
// for the few tasks whose inputs their runner could not delete, and the
// query is run every few minutes, not per request.
func (ts *Tasks) SweepCandidates(ctx context.Context, finishedBefore time.Time, limit int) ([]Task, error) {
	if limit <= 0 {
		limit = defaultListLimit
	}
	out, err := ts.query(ctx, "SELECT "+listColumns+" FROM image_tasks WHERE status IN "+finalStatuses+`
		AND finished_at < ? AND (stored = ? OR inputs <> '[]') ORDER BY finished_at LIMIT `+strconv.Itoa(limit),
		dbTime(finishedBefore), true)
	if err != nil {
		return nil, fmt.Errorf("find image tasks to sweep: %w", err)
	}
	return out, nil
}

// MarkSwept records that an ended task's objects were deleted: stored
// becomes false and inputs empty. Outputs are kept as history (how many
// images, how large); with stored false they are no longer served.
func (ts *Tasks) MarkSwept(ctx context.Context, id string) error {
	if _, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET stored = ?, inputs = '[]'
		WHERE id = ? AND status IN `+finalStatuses), false, id); err != nil {
		return fmt.Errorf("mark image task %s swept: %w", id, err)
	}
	return nil
}

// ClearInputs records that an ended task's input images were deleted.
func (ts *Tasks) ClearInputs(ctx context.Context, id string) error {
	if _, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET inputs = '[]'
		WHERE id = ? AND status IN `+finalStatuses), id); err != nil {
		return fmt.Errorf("clear inputs of image task %s: %w", id, err)
	}
	return nil
}

// DueWebhooks returns up to limit tasks whose webhook is due at now, and
// leases each to the caller for WebhookLease (its webhook_next_at moves to
// now+WebhookLease) so that another node does not deliver it at the same
// time; the caller ends the lease with WebhookDone. A lease that runs out
// (the node stopped) makes the webhook due again.
func (ts *Tasks) DueWebhooks(ctx context.Context, now time.Time, limit int) ([]Task, error) {
	if limit <= 0 {
		limit = defaultListLimit
	}
	now = dbTime(now)
	due, err := ts.query(ctx, "SELECT "+listColumns+` FROM image_tasks WHERE webhook_state = 'pending'
		AND webhook_next_at <= ? ORDER BY webhook_next_at LIMIT `+strconv.Itoa(limit), now)
	if err != nil {
		return nil, fmt.Errorf("find due image webhooks: %w", err)
	}
	out := due[:0]
	for _, t := range due {
		res, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET webhook_next_at = ?
			WHERE id = ? AND webhook_state = 'pending' AND webhook_next_at <= ?`), now.Add(WebhookLease), t.ID, now)
		if err != nil {
			return nil, fmt.Errorf("lease image webhook %s: %w", t.ID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			out = append(out, t)
		}
	}
	return out, nil
}

// WebhookDone records a delivery attempt: the new state, the attempts
// made so far, when to try next (zero: never) and the last error.
func (ts *Tasks) WebhookDone(ctx context.Context, id, state string, attempts int, next time.Time, errMsg string) error {
	switch state {
	case WebhookPending, WebhookDelivered, WebhookFailed:
	default:
		return fmt.Errorf("record webhook of image task %s: unknown state %q", id, state)
	}
	if state == WebhookPending && next.IsZero() {
		return fmt.Errorf("record webhook of image task %s: a pending webhook needs a next time", id)
	}
	if _, err := ts.db.Write().ExecContext(ctx, ts.q(`UPDATE image_tasks SET webhook_state = ?,
		webhook_attempts = ?, webhook_next_at = ?, webhook_error = ? WHERE id = ?`),
		state, attempts, nullTime(next), store.Clip(errMsg, maxWebhookError), id); err != nil {
		return fmt.Errorf("record webhook of image task %s: %w", id, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanTask(s scanner) (Task, error) {
	var (
		t                                  Task
		params, outputs, inputs            string
		heartbeat, started, finished, next sql.NullTime
	)
	if err := s.Scan(&t.ID, &t.UserID, &t.KeyID, &t.RequestID, &t.Kind, &t.Model, &t.Async, &t.Status, &t.Progress,
		&t.N, &t.Delivered, &t.ResponseFormat, &params, &outputs, &inputs, &t.Stored, &t.ErrorCode,
		&t.ErrorMessage, &t.CostMicros, &t.Attempts, &t.Node, &heartbeat, &t.CreatedAt, &started, &finished,
		&t.WebhookURL, &t.WebhookState, &t.WebhookAttempts, &next, &t.WebhookError); err != nil {
		return Task{}, err
	}
	if params != "" {
		t.Params = json.RawMessage(params)
	}
	if err := json.Unmarshal([]byte(outputs), &t.Outputs); err != nil {
		return Task{}, fmt.Errorf("image task %s: outputs: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(inputs), &t.Inputs); err != nil {
		return Task{}, fmt.Errorf("image task %s: inputs: %w", t.ID, err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.HeartbeatAt, t.StartedAt, t.FinishedAt, t.WebhookNextAt =
		utcOrZero(heartbeat), utcOrZero(started), utcOrZero(finished), utcOrZero(next)
	return t, nil
}

func utcOrZero(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func marshalOutputs(o []Output) (string, error) {
	if len(o) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("outputs: %w", err)
	}
	return string(b), nil
}

func marshalInputs(in []string) (string, error) {
	if len(in) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("inputs: %w", err)
	}
	return string(b), nil
}

func clamp(pct int) int { return min(max(pct, 0), 100) }
