package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/images"
)

// Task records. A synchronous request's record is written once, when it
// has ended, by a goroutine off the request path; an async request's is
// written before the 202 (the task must exist before the client can ask
// for it) and then moved along by the runner.

// submitImageTask queues job and answers 202 with the task.
func (h *Handler) submitImageTask(ctx context.Context, w http.ResponseWriter, r *http.Request, key *auth.Key, job *imageJob, task string) {
	o := h.img.o
	var inputs []string
	for i := range job.Files {
		in := &job.Files[i]
		k := "in/" + task + "/" + strconv.Itoa(i)
		if err := putFile(ctx, o.Store, k, in.path, in.Size, in.ContentType); err != nil {
			for _, done := range inputs {
				_ = o.Store.Delete(context.WithoutCancel(ctx), done)
			}
			h.fail(w, r, fmt.Errorf("keep input image for task %s: %w", task, err))
			return
		}
		in.Key = k
		inputs = append(inputs, k)
	}
	params, err := json.Marshal(job)
	if err != nil {
		h.fail(w, r, fmt.Errorf("encode task %s: %w", task, err))
		return
	}
	t := &images.Task{
		ID: task, UserID: key.UserID, KeyID: key.ID, RequestID: api.RequestID(ctx), Kind: job.Kind, Model: job.Model,
		Async: true, Status: images.StatusQueued, N: job.N, ResponseFormat: job.Format, Params: params, Inputs: inputs,
		WebhookURL: key.WebhookURL, CreatedAt: o.Now(),
	}
	if err := o.Tasks.Create(ctx, t); err != nil {
		for _, done := range inputs {
			_ = o.Store.Delete(context.WithoutCancel(ctx), done)
		}
		h.fail(w, r, fmt.Errorf("create task %s: %w", task, err))
		return
	}
	if o.Kick != nil {
		o.Kick()
	}
	w.Header().Set("Location", "/v1/images/tasks/"+task)
	writeJSON(w, http.StatusAccepted, h.taskView(*t))
}

func putFile(ctx context.Context, s images.Store, key, path string, size int64, ctype string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.Put(ctx, key, f, size, ctype)
}

// recordSyncTask records a synchronous request's task off the request
// path: a goroutine creates it (running), lets the runner's heartbeat
// cancel the request if the task is cancelled through the API, and
// finishes it with the outcome sent on the returned channel.
func (h *Handler) recordSyncTask(ctx context.Context, cancel context.CancelFunc, key *auth.Key, job *imageJob, task string) chan<- imageOutcome {
	o := h.img.o
	done := make(chan imageOutcome, 1)
	t := &images.Task{
		ID: task, UserID: key.UserID, KeyID: key.ID, RequestID: api.RequestID(ctx), Kind: job.Kind, Model: job.Model,
		N: job.N, ResponseFormat: job.Format, Params: []byte("{}"), Node: o.Node, CreatedAt: o.Now(),
	}
	wctx := context.WithoutCancel(ctx)
	go func() {
		log := func(doing string, err error) {
			h.log.LogAttrs(wctx, slog.LevelError, doing, slog.String("task", task), slog.String("error", err.Error()))
		}
		err := o.Tasks.Create(wctx, t)
		var untrack func()
		if err != nil {
			log("record image task", err)
		} else if o.Track != nil {
			untrack = o.Track(task, cancel)
		}
		out := <-done
		if untrack != nil {
			untrack()
		}
		if err != nil {
			return
		}
		status, code, msg := outcomeStatus(ctx, out)
		fin := images.Finish{Status: status, Delivered: out.delivered, CostMicros: out.cost, Outputs: out.outputs,
			Stored: len(out.outputs) > 0, ErrorCode: code, ErrorMessage: msg, Made: job.made(key.UserID)}
		ok, err := o.Tasks.Finish(wctx, task, o.Node, fin)
		if err != nil {
			log("finish image task", err)
		}
		if err == nil && !ok && out.cost > 0 {
			// Cancelled after the answer was on its way: what the client
			// got, and paid for, stays on the record.
			if _, err := o.Tasks.KeepCancelled(wctx, task, o.Node, fin); err != nil {
				log("record what a cancelled image task delivered", err)
			}
		}
	}()
	return done
}

// outcomeStatus is a finished run's task status and error.
func outcomeStatus(ctx context.Context, out imageOutcome) (status, code, msg string) {
	switch {
	case out.err == nil && (out.delivered > 0 || out.status == http.StatusOK):
		return images.StatusSucceeded, "", ""
	case ctx.Err() != nil || out.status == 499:
		return images.StatusFailed, "client_gone", "The request was cancelled, or its client went away, before the images were delivered."
	case out.err == nil:
		return images.StatusFailed, "upstream_error", fmt.Sprintf("The request ended with status %d.", out.status)
	}
	ae := apierror.As(out.err)
	if ae == nil {
		return images.StatusFailed, apierror.CodeServerError, "The server had an error while processing the task."
	}
	return images.StatusFailed, ae.Code, ae.Message
}

// ImageTaskExec is the runner's work for one async task.
func (h *Handler) ImageTaskExec(keyByID func(id int64) *auth.Key) images.Exec {
	return func(ctx context.Context, t images.Task, progress func(int)) images.Finish {
		var job imageJob
		if err := json.Unmarshal(t.Params, &job); err != nil {
			return images.Finish{Status: images.StatusFailed, ErrorCode: apierror.CodeServerError, ErrorMessage: "The task's parameters are unreadable."}
		}
		key := keyByID(t.KeyID)
		if key == nil {
			return images.Finish{Status: images.StatusFailed, ErrorCode: apierror.CodeInvalidAPIKey,
				ErrorMessage: "The API key that submitted the task is no longer valid."}
		}
		progress(5)
		if d := h.img.o.TaskTimeout; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		ctx, cancel := context.WithCancelCause(auth.WithKey(ctx, key))
		defer cancel(nil)
		// The previews are for watching the run: once it has ended, its
		// images (or its error) are what there is to see.
		defer h.img.o.Previews.Drop(t.ID)
		out := h.runImageJobID(ctx, newCaptureWriter(), &job, t.ID, t.RequestID, &asyncRun{cancel: cancel})
		status, code, msg := outcomeStatus(ctx, out)
		return images.Finish{Status: status, Delivered: out.delivered, CostMicros: out.cost, Outputs: out.outputs,
			Stored: len(out.outputs) > 0, ErrorCode: code, ErrorMessage: msg, Made: job.made(t.UserID)}
	}
}

// made describes job's images for the gallery.
func (j *imageJob) made(userID int64) *images.Made {
	m := &images.Made{UserID: userID, Model: j.Model, Size: j.Size, Quality: j.Quality}
	if raw, ok := j.Body["prompt"]; ok {
		_ = json.Unmarshal(raw, &m.Prompt)
	}
	for _, f := range j.Form {
		if f.Name == "prompt" && m.Prompt == "" {
			m.Prompt = f.Value
		}
	}
	return m
}

// taskRequest authenticates a task request and reads its id; on failure
// it has answered.
func (h *Handler) taskRequest(w http.ResponseWriter, r *http.Request) (*auth.Key, string, bool) {
	key, ok := h.imageKey(w, r)
	if !ok {
		return nil, "", false
	}
	id := r.PathValue("id")
	if images.ValidTask(id) != nil {
		h.fail(w, r, apierror.TaskNotFound(id))
		return nil, "", false
	}
	return key, id, true
}

// ImageTask serves GET /v1/images/tasks/{id}.
func (h *Handler) ImageTask(w http.ResponseWriter, r *http.Request) {
	key, id, ok := h.taskRequest(w, r)
	if !ok {
		return
	}
	t, err := h.img.o.Tasks.GetOwned(r.Context(), id, key.UserID)
	if errors.Is(err, images.ErrTaskNotFound) {
		h.fail(w, r, apierror.TaskNotFound(id))
		return
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("read task %s: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, h.taskView(t))
}

// CancelImageTask serves DELETE /v1/images/tasks/{id}.
func (h *Handler) CancelImageTask(w http.ResponseWriter, r *http.Request) {
	key, id, ok := h.taskRequest(w, r)
	if !ok {
		return
	}
	t, err := h.img.o.Tasks.Cancel(r.Context(), id, key.UserID)
	switch {
	case errors.Is(err, images.ErrTaskNotFound):
		h.fail(w, r, apierror.TaskNotFound(id))
		return
	case errors.Is(err, images.ErrTaskFinished):
		h.fail(w, r, apierror.TaskFinished(id, t.Status))
		return
	case err != nil:
		h.fail(w, r, fmt.Errorf("cancel task %s: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, h.taskView(t))
}

// taskView is a task as clients see it: the task's state, and signed URLs
// (fresh for url_ttl) of its stored images once it has succeeded.
type taskView struct {
	ID         string       `json:"id"`
	Object     string       `json:"object"`
	Status     string       `json:"status"`
	Progress   int          `json:"progress"`
	Kind       string       `json:"kind"`
	Model      string       `json:"model"`
	Async      bool         `json:"async"`
	N          int          `json:"n"`
	Delivered  int          `json:"delivered"`
	CostMicros int64        `json:"cost_micros"`
	CreatedAt  int64        `json:"created_at"`
	StartedAt  *int64       `json:"started_at"`
	FinishedAt *int64       `json:"finished_at"`
	Error      *taskError   `json:"error"`
	Data       []taskImage  `json:"data"`
	Webhook    *taskWebhook `json:"webhook,omitempty"`
}

type taskError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type taskImage struct {
	Index       int    `json:"index"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Bytes       int64  `json:"bytes"`
	ExpiresAt   int64  `json:"expires_at"`
}

type taskWebhook struct {
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
}

func unixPtr(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

func (h *Handler) taskView(t images.Task) taskView {
	v := taskView{
		ID: t.ID, Object: "image.task", Status: t.Status, Progress: t.Progress, Kind: t.Kind, Model: t.Model, Async: t.Async,
		N: t.N, Delivered: t.Delivered, CostMicros: t.CostMicros, CreatedAt: t.CreatedAt.Unix(),
		StartedAt: unixPtr(t.StartedAt), FinishedAt: unixPtr(t.FinishedAt), Data: []taskImage{},
	}
	if t.ErrorCode != "" {
		v.Error = &taskError{Code: t.ErrorCode, Message: t.ErrorMessage}
	}
	if t.WebhookURL != "" {
		v.Webhook = &taskWebhook{State: t.WebhookState, Attempts: t.WebhookAttempts}
	}
	// A cancelled task has stored images when some arrived, and were
	// charged, before the cancellation reached the node running it.
	if (t.Status == images.StatusSucceeded || t.Status == images.StatusCancelled) && t.Stored {
		exp := h.img.o.Now().Add(h.img.o.URLTTL)
		for _, out := range t.Outputs {
			i := strings.LastIndexByte(out.Key, '/')
			idx, err := strconv.Atoi(out.Key[i+1:])
			if err != nil {
				continue
			}
			u, err := h.img.o.Signer.URL(h.img.o.PublicURL(), t.ID, idx, exp)
			if err != nil {
				continue
			}
			v.Data = append(v.Data, taskImage{Index: idx, URL: u, ContentType: out.ContentType, Bytes: out.Bytes, ExpiresAt: exp.Unix()})
		}
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalJSON(v)
	if err != nil {
		http.Error(w, `{"error":{"message":"encode failed","type":"server_error","code":"server_error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ImageFile serves GET /p/img/{task}/{index}?exp=…&sig=…: no API key, the
// signature is the credential.
func (h *Handler) ImageFile(w http.ResponseWriter, r *http.Request) {
	o := h.img.o
	task := r.PathValue("task")
	idx, err := images.ParseIndex(r.PathValue("index"))
	if err != nil {
		h.fail(w, r, apierror.LinkInvalid())
		return
	}
	q := r.URL.Query()
	if err := o.Signer.Verify(task, idx, q.Get("exp"), q.Get("sig"), o.Now()); err != nil {
		if errors.Is(err, images.ErrExpired) {
			h.fail(w, r, apierror.LinkExpired())
			return
		}
		h.fail(w, r, apierror.LinkInvalid())
		return
	}
	key, err := images.Key(task, idx)
	if err != nil {
		h.fail(w, r, apierror.LinkInvalid())
		return
	}
	rc, info, err := o.Store.Open(r.Context(), key)
	if errors.Is(err, images.ErrNotFound) {
		h.fail(w, r, apierror.ImageGone())
		return
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("open image %s: %w", key, err))
		return
	}
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", info.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if exp, err := strconv.ParseInt(q.Get("exp"), 10, 64); err == nil {
		// A cache may keep it no longer than the link is valid.
		hd.Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(exp-o.Now().Unix(), 0), 10))
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", info.ModTime, rs) // ranges, HEAD, If-Modified-Since
		return
	}
	if info.Size >= 0 {
		hd.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, rc)
	}
}

// ImageWebhooks returns the notifier the runner calls when an async task
// has ended: it POSTs the task, as GET /v1/images/tasks/{id} shows it, to
// the URL the submitting key had, signed with that key's webhook secret.
func (h *Handler) ImageWebhooks(sender *images.WebhookSender, keyByID func(id int64) *auth.Key) images.Notifier {
	return &webhookNotifier{h: h, sender: sender, keyByID: keyByID}
}

type webhookNotifier struct {
	h       *Handler
	sender  *images.WebhookSender
	keyByID func(id int64) *auth.Key
}

// webhookEvent is the body of a task webhook.
type webhookEvent struct {
	Type string   `json:"type"` // image.task.succeeded | .failed | .cancelled
	Task taskView `json:"data"`
}

func (n *webhookNotifier) Notify(ctx context.Context, t images.Task) error {
	key := n.keyByID(t.KeyID)
	if key == nil || len(key.WebhookSecret) == 0 {
		return images.Permanent(errors.New("the key that submitted the task is gone or has no webhook secret"))
	}
	body, err := marshalJSON(webhookEvent{Type: "image.task." + t.Status, Task: n.h.taskView(t)})
	if err != nil {
		return images.Permanent(err)
	}
	// One delivery id per task, so a receiver can drop repeats.
	err = n.sender.Send(ctx, t.WebhookURL, "whd_"+t.ID, key.WebhookSecret, body)
	var we *images.WebhookError
	if errors.As(err, &we) && we.Permanent {
		return images.Permanent(err)
	}
	return err
}
