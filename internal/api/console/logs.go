package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/audit"
	"github.com/switchyard/switchyard/internal/backup"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/usage"
)

// UsageLog is the usage log the logs routes read (usage.Store).
type UsageLog interface {
	Query(ctx context.Context, f usage.Filter) ([]usage.Row, error)
	Get(ctx context.Context, id, userID int64) (usage.Row, error)
	WriteCSV(ctx context.Context, w io.Writer, f usage.Filter, view usage.CSVView) error
}

// AuditLog is the audit log the logs routes read (audit.Store).
type AuditLog interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
}

// Backups makes, lists and opens database backups (backup.Dir).
type Backups interface {
	Create(ctx context.Context) (backup.Info, error)
	List(ctx context.Context) ([]backup.Info, error)
	Open(name string) (*os.File, backup.Info, error)
}

// ImageTasks lists and cancels image tasks (images.Tasks).
type ImageTasks interface {
	Find(ctx context.Context, f images.TaskFilter) ([]images.Task, error)
	Cancel(ctx context.Context, id string, userID int64) (images.Task, error)
}

// LogsDeps is what the logs slice needs.
type LogsDeps struct {
	Usage   UsageLog
	Audit   AuditLog
	Backups Backups
	Images  ImageTasks
}

// MountLogs adds the usage log, audit log, backup and image task routes.
func MountLogs(a *API, d LogsDeps) {
	a.Add(
		Route{Method: "GET", Path: "/api/v1/admin/usage", Access: Admin, Handle: d.adminUsage},
		Route{Method: "GET", Path: "/api/v1/admin/usage.csv", Access: Admin, Raw: d.adminUsageCSV},
		Route{Method: "GET", Path: "/api/v1/admin/usage/{id}", Access: Admin, Handle: d.adminUsageRow},
		Route{Method: "GET", Path: "/api/v1/me/usage", Access: User, Handle: d.myUsage},
		Route{Method: "GET", Path: "/api/v1/me/usage.csv", Access: User, Raw: d.myUsageCSV},
		Route{Method: "GET", Path: "/api/v1/me/usage/{id}", Access: User, Handle: d.myUsageRow},
		Route{Method: "GET", Path: "/api/v1/admin/audit", Access: Admin, Handle: d.auditList},
		Route{Method: "POST", Path: "/api/v1/admin/backups", Access: Admin, Handle: d.backupCreate},
		Route{Method: "GET", Path: "/api/v1/admin/backups", Access: Admin, Handle: d.backupList},
		// A backup holds every password hash and sealed credential: taking
		// one away is as risky as revealing a credential.
		Route{Method: "GET", Path: "/api/v1/admin/backups/{name}", Access: Admin, StepUp: true, Raw: d.backupDownload},
		Route{Method: "GET", Path: "/api/v1/admin/image-tasks", Access: Admin, Handle: d.adminImageTasks},
		Route{Method: "POST", Path: "/api/v1/admin/image-tasks/{id}/cancel", Access: Admin, Handle: d.adminCancelTask},
		Route{Method: "GET", Path: "/api/v1/me/image-tasks", Access: User, Handle: d.myImageTasks},
		Route{Method: "POST", Path: "/api/v1/me/image-tasks/{id}/cancel", Access: User, Handle: d.myCancelTask},
	)
}

// --- query parameters

// logsInt reads a positive integer parameter; 0 when absent.
func logsInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, Invalid(name, "Must be a positive integer.")
	}
	return n, nil
}

// logsTime reads an RFC 3339 time parameter; zero when absent.
func logsTime(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, Invalid(name, "Must be an RFC 3339 time such as 2026-01-02T15:04:05Z.")
	}
	return t, nil
}

// logsTimeRange reads ?since and ?until.
func logsTimeRange(r *http.Request) (since, until time.Time, err error) {
	if since, err = logsTime(r, "since"); err != nil {
		return
	}
	if until, err = logsTime(r, "until"); err != nil {
		return
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		err = Invalid("until", "Must be after since.")
	}
	return
}

// usageFilter reads the usage filters; a user (admin false) has no user,
// channel or credential filter: the log is theirs and the routing is not.
func usageFilter(r *http.Request, admin bool) (usage.Filter, error) {
	q := r.URL.Query()
	var (
		f   usage.Filter
		err error
	)
	if f.Since, f.Until, err = logsTimeRange(r); err != nil {
		return f, err
	}
	if f.KeyID, err = logsInt(r, "key_id"); err != nil {
		return f, err
	}
	f.Model, f.RequestID = q.Get("model"), q.Get("request_id")
	if f.Status = q.Get("status"); usage.ParseStatus(f.Status) != nil {
		return f, Invalid("status", "Must be ok, error, a class such as 2xx, 4xx or 5xx, or a status code such as 429.")
	}
	switch s := q.Get("stream"); s {
	case "":
	case "true", "false":
		b := s == "true"
		f.Stream = &b
	default:
		return f, Invalid("stream", "Must be true or false.")
	}
	if admin {
		if f.UserID, err = logsInt(r, "user_id"); err != nil {
			return f, err
		}
		if f.CredentialID, err = logsInt(r, "credential_id"); err != nil {
			return f, err
		}
		f.Channel = q.Get("channel")
	}
	return f, nil
}

// --- usage

// UsageItem is a usage log row as the console shows it. The routing
// members (channel, credential, served model, upstream error, attempts)
// are shown to admins only.
type UsageItem struct {
	ID               int64            `json:"id"`
	Time             time.Time        `json:"time"`
	RequestID        string           `json:"request_id"`
	UserID           *int64           `json:"user_id,omitempty"`
	UserEmail        *string          `json:"user_email,omitempty"`
	KeyID            *int64           `json:"key_id"`
	KeyName          string           `json:"key_name"`
	Model            string           `json:"model"`
	ServedModel      *string          `json:"served_model,omitempty"`
	Channel          *string          `json:"channel,omitempty"`
	CredentialID     *int64           `json:"credential_id,omitempty"`
	Attempts         *int             `json:"attempts,omitempty"`
	Stream           bool             `json:"stream"`
	Status           int              `json:"status"`
	Error            *string          `json:"error,omitempty"`
	PromptTokens     int64            `json:"prompt_tokens"`
	CompletionTokens int64            `json:"completion_tokens"`
	CachedTokens     int64            `json:"cached_tokens"`
	ReasoningTokens  int64            `json:"reasoning_tokens"`
	Images           int              `json:"images"`
	Estimated        bool             `json:"estimated"`
	CostMicros       int64            `json:"cost_micros"`
	TTFBMs           int64            `json:"ttfb_ms"`
	DurationMs       int64            `json:"duration_ms"`
	ClientIP         string           `json:"client_ip"`
	Route            *[]usage.Attempt `json:"route,omitempty"` // detail only
}

func logsID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func usageItem(r *usage.Row, admin, detail bool) UsageItem {
	it := UsageItem{ID: r.ID, Time: r.Time.UTC(), RequestID: r.RequestID, KeyID: logsID(r.KeyID), KeyName: r.KeyName,
		Model: r.Model, Stream: r.Stream, Status: r.Status, PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, CachedTokens: r.CachedTokens, ReasoningTokens: r.ReasoningTokens,
		Images: r.Images, Estimated: r.Estimated, CostMicros: r.CostMicros, TTFBMs: r.TTFB.Milliseconds(),
		DurationMs: r.Duration.Milliseconds(), ClientIP: r.ClientIP}
	if admin {
		user, served, channel, attempts, errText := r.User, r.ServedModel, r.Channel, r.Attempts, r.Error
		it.UserID, it.UserEmail, it.ServedModel, it.Channel = logsID(r.UserID), &user, &served, &channel
		it.CredentialID, it.Attempts, it.Error = logsID(r.CredentialID), &attempts, &errText
		if detail {
			route := r.RouteAttempts()
			it.Route = &route
		}
	}
	return it
}

func (d LogsDeps) usagePage(r *http.Request, admin bool, userID int64) (any, error) {
	f, err := usageFilter(r, admin)
	if err != nil {
		return nil, err
	}
	page, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	if f.BeforeID, err = page.AfterID(); err != nil {
		return nil, err
	}
	if userID != 0 {
		f.UserID = userID
	}
	f.Limit = page.Limit + 1
	rows, err := d.Usage.Query(r.Context(), f)
	if err != nil {
		return nil, err
	}
	items := make([]UsageItem, len(rows))
	for i := range rows {
		items[i] = usageItem(&rows[i], admin, false)
	}
	return PageByID(items, page.Limit, func(it UsageItem) int64 { return it.ID }), nil
}

func (d LogsDeps) adminUsage(r *http.Request, _ *Principal) (any, error) {
	return d.usagePage(r, true, 0)
}

func (d LogsDeps) myUsage(r *http.Request, p *Principal) (any, error) {
	return d.usagePage(r, false, p.UserID)
}

func (d LogsDeps) usageRow(r *http.Request, admin bool, userID int64) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	row, err := d.Usage.Get(r.Context(), id, userID)
	if errors.Is(err, usage.ErrNotFound) {
		return nil, NotFound("usage row " + strconv.FormatInt(id, 10))
	}
	if err != nil {
		return nil, err
	}
	return usageItem(&row, admin, true), nil
}

func (d LogsDeps) adminUsageRow(r *http.Request, _ *Principal) (any, error) {
	return d.usageRow(r, true, 0)
}

func (d LogsDeps) myUsageRow(r *http.Request, p *Principal) (any, error) {
	return d.usageRow(r, false, p.UserID)
}

func (d LogsDeps) usageCSV(w http.ResponseWriter, r *http.Request, admin bool, userID int64) error {
	f, err := usageFilter(r, admin)
	if err != nil {
		return err
	}
	view := usage.CSVAdmin
	if userID != 0 {
		f.UserID, view = userID, usage.CSVUser
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="usage-`+time.Now().UTC().Format("20060102T150405Z")+`.csv"`)
	// Rows go out as they are read: the export is never held whole, and
	// a filter error surfaces before the first byte (nothing is written
	// until the first rows or the end).
	return d.Usage.WriteCSV(r.Context(), w, f, view)
}

func (d LogsDeps) adminUsageCSV(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	return d.usageCSV(w, r, true, 0)
}

func (d LogsDeps) myUsageCSV(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return d.usageCSV(w, r, false, p.UserID)
}

// --- audit

// AuditItem is an audit log entry.
type AuditItem struct {
	ID         int64       `json:"id"`
	Time       string      `json:"time"`
	ActorID    *int64      `json:"actor_id"`
	ActorEmail string      `json:"actor_email"`
	Via        string      `json:"via"`
	IP         string      `json:"ip"`
	Method     string      `json:"method"`
	Route      string      `json:"route"`
	Action     string      `json:"action"`
	Target     string      `json:"target"`
	Status     int         `json:"status"`
	Before     logsRawJSON `json:"before"`
	After      logsRawJSON `json:"after"`
	RequestID  string      `json:"request_id"`
}

// logsRawJSON is a stored JSON value, null when none.
type logsRawJSON []byte

func (j logsRawJSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

func (d LogsDeps) auditList(r *http.Request, _ *Principal) (any, error) {
	q := r.URL.Query()
	var (
		f   audit.Filter
		err error
	)
	if f.Since, f.Until, err = logsTimeRange(r); err != nil {
		return nil, err
	}
	if f.ActorID, err = logsInt(r, "actor_id"); err != nil {
		return nil, err
	}
	f.Actor, f.Action, f.Target = q.Get("actor"), q.Get("action"), q.Get("target")
	if strings.Contains(strings.TrimSuffix(f.Action, "*"), "*") {
		return nil, Invalid("action", `Must be an action, or a prefix ending in "*" such as users.*.`)
	}
	page, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	if f.BeforeID, err = page.AfterID(); err != nil {
		return nil, err
	}
	f.Limit = page.Limit + 1
	entries, err := d.Audit.List(r.Context(), f)
	if err != nil {
		return nil, err
	}
	items := make([]AuditItem, len(entries))
	for i, e := range entries {
		items[i] = AuditItem{ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), ActorID: logsID(e.ActorID),
			ActorEmail: e.ActorEmail, Via: e.Via, IP: e.IP, Method: e.Method, Route: e.Route, Action: e.Action,
			Target: e.Target, Status: e.Status, Before: logsRawJSON(e.Before), After: logsRawJSON(e.After), RequestID: e.RequestID}
	}
	return PageByID(items, page.Limit, func(it AuditItem) int64 { return it.ID }), nil
}

// --- backups

// backupError maps the backup package's errors to the console's.
func backupError(err error) error {
	switch {
	case errors.Is(err, backup.ErrUnsupported):
		return Conflict("Backups through the console are for SQLite databases. Back up PostgreSQL with pg_dump " +
			"and MySQL with mysqldump: see docs/console-api.md, section Backups.")
	case errors.Is(err, backup.ErrNotFound):
		return NotFound("backup")
	}
	return err
}

func (d LogsDeps) backupCreate(r *http.Request, _ *Principal) (any, error) {
	info, err := d.Backups.Create(r.Context())
	if err != nil {
		return nil, backupError(err)
	}
	Audit(r, "backups.create", "backup:"+info.Name, nil, info)
	return Created(info), nil
}

func (d LogsDeps) backupList(r *http.Request, _ *Principal) (any, error) {
	list, err := d.Backups.List(r.Context())
	if err != nil {
		return nil, backupError(err)
	}
	// A directory of backups is short: one page, newest first.
	return List[backup.Info]{Items: list}, nil
}

func (d LogsDeps) backupDownload(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	f, info, err := d.Backups.Open(r.PathValue("name"))
	if err != nil {
		return backupError(err)
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/vnd.sqlite3")
	h.Set("Content-Disposition", `attachment; filename="`+info.Name+`"`)
	h.Set("Content-Length", strconv.FormatInt(info.SizeBytes, 10))
	if info.Fingerprint != "" {
		h.Set("X-Switchyard-Secret-Key-Fingerprint", info.Fingerprint)
	}
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, f)
	return err
}

// --- image tasks

// ImageTaskItem is an image task as the console lists it.
type ImageTaskItem struct {
	ID           string     `json:"id"`
	UserID       int64      `json:"user_id"`
	KeyID        int64      `json:"key_id"`
	RequestID    string     `json:"request_id"`
	Kind         string     `json:"kind"`
	Model        string     `json:"model"`
	Async        bool       `json:"async"`
	Status       string     `json:"status"`
	Progress     int        `json:"progress"`
	N            int        `json:"n"`
	Delivered    int        `json:"delivered"`
	ErrorCode    string     `json:"error_code"`
	ErrorMessage string     `json:"error_message"`
	CostMicros   int64      `json:"cost_micros"`
	Attempts     int        `json:"attempts"`
	Node         *string    `json:"node,omitempty"` // admins only
	Stored       bool       `json:"stored"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	WebhookState string     `json:"webhook_state"`
}

func logsOptTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func imageTaskItem(t *images.Task, admin bool) ImageTaskItem {
	it := ImageTaskItem{ID: t.ID, UserID: t.UserID, KeyID: t.KeyID, RequestID: t.RequestID, Kind: t.Kind, Model: t.Model,
		Async: t.Async, Status: t.Status, Progress: t.Progress, N: t.N, Delivered: t.Delivered, ErrorCode: t.ErrorCode,
		ErrorMessage: t.ErrorMessage, CostMicros: t.CostMicros, Attempts: t.Attempts, Stored: t.Stored,
		CreatedAt: t.CreatedAt.UTC(), StartedAt: logsOptTime(t.StartedAt), FinishedAt: logsOptTime(t.FinishedAt),
		WebhookState: t.WebhookState}
	if admin {
		node := t.Node
		it.Node = &node
	}
	return it
}

var logsTaskStatuses = []string{images.StatusQueued, images.StatusRunning, images.StatusSucceeded, images.StatusFailed,
	images.StatusCancelled}

func (d LogsDeps) imageTasks(r *http.Request, admin bool, userID int64) (any, error) {
	q := r.URL.Query()
	f := images.TaskFilter{UserID: userID, Status: q.Get("status"), Model: q.Get("model")}
	if f.Status != "" && !slices.Contains(logsTaskStatuses, f.Status) {
		return nil, Invalid("status", "Must be one of "+strings.Join(logsTaskStatuses, ", ")+".")
	}
	if admin {
		var err error
		if f.UserID, err = logsInt(r, "user_id"); err != nil {
			return nil, err
		}
	}
	page, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	f.Before, f.Limit = page.Cursor, page.Limit+1
	tasks, err := d.Images.Find(r.Context(), f)
	if errors.Is(err, images.ErrTaskNotFound) {
		return nil, Invalid("cursor", "Not a cursor this API gave out; start from the first page.")
	}
	if err != nil {
		return nil, err
	}
	out := List[ImageTaskItem]{Items: make([]ImageTaskItem, 0, min(len(tasks), page.Limit))}
	for i := range tasks[:min(len(tasks), page.Limit)] {
		out.Items = append(out.Items, imageTaskItem(&tasks[i], admin))
	}
	if len(tasks) > page.Limit {
		out.NextCursor = Cursor(tasks[page.Limit-1].ID)
	}
	return out, nil
}

func (d LogsDeps) adminImageTasks(r *http.Request, _ *Principal) (any, error) {
	return d.imageTasks(r, true, 0)
}

func (d LogsDeps) myImageTasks(r *http.Request, p *Principal) (any, error) {
	return d.imageTasks(r, false, p.UserID)
}

func (d LogsDeps) cancelTask(r *http.Request, admin bool, userID int64) (any, error) {
	id := r.PathValue("id")
	if images.ValidTask(id) != nil {
		return nil, NotFound("image task " + strconv.Quote(id))
	}
	t, err := d.Images.Cancel(r.Context(), id, userID)
	switch {
	case errors.Is(err, images.ErrTaskNotFound):
		return nil, NotFound("image task " + strconv.Quote(id))
	case errors.Is(err, images.ErrTaskFinished):
		return nil, Conflict("The task already ended (" + t.Status + ").")
	case err != nil:
		return nil, err
	}
	Audit(r, "image_tasks.cancel", "image_task:"+id, nil, map[string]any{"status": t.Status, "user_id": t.UserID})
	return imageTaskItem(&t, admin), nil
}

func (d LogsDeps) adminCancelTask(r *http.Request, _ *Principal) (any, error) {
	return d.cancelTask(r, true, 0)
}

func (d LogsDeps) myCancelTask(r *http.Request, p *Principal) (any, error) {
	return d.cancelTask(r, false, p.UserID)
}
