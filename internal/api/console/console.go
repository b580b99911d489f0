package console

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/api"
)

// StepUpWindow is how long a password or TOTP re-entry unlocks StepUp routes.
const StepUpWindow = 5 * time.Minute

// Access says who may call a route.
type Access int

const (
	// Public routes need no credentials (login, setup, public settings).
	Public Access = iota
	// User routes need any signed-in user.
	User
	// Admin routes need the admin role.
	Admin
)

func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case User:
		return "user"
	case Admin:
		return "admin"
	}
	return "unknown"
}

// Roles.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// How a principal authenticated.
const (
	ViaSession = "session"
	ViaToken   = "token"
)

// Principal is the caller of a console request.
type Principal struct {
	UserID int64
	Email  string
	Role   string // RoleAdmin | RoleUser
	Via    string // ViaSession | ViaToken
	// SessionID identifies the session (for listing and revoking it);
	// TokenID the admin access token.
	SessionID string
	TokenID   int64
	// ReadOnly is a token limited to GET and HEAD.
	ReadOnly bool
	// StepUpAt is the session's last password or TOTP re-entry.
	StepUpAt time.Time
}

// IsAdmin reports whether p has the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleAdmin }

// Authenticator resolves the caller of a request: (nil, nil) when the
// request presents no credentials, an error when it presents bad ones
// (answered 401; a *Error is answered as it is, e.g. 429 for throttling).
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// Route is one operation of the API.
type Route struct {
	Method string // GET, POST, PUT, PATCH, DELETE
	Path   string // ServeMux pattern path: /api/v1/admin/users/{id}
	Access Access
	// StepUp routes need a recent password or TOTP re-entry.
	StepUp bool
	// Exactly one of Handle and Raw. Handle's value is sent as JSON with
	// 200 (Created and NoContent choose another status); Raw writes its own
	// answer (CSV, server-sent events, downloads) and returns an error only
	// before it wrote anything.
	Handle func(r *http.Request, p *Principal) (any, error)
	Raw    func(w http.ResponseWriter, r *http.Request, p *Principal) error
}

// Options configures an API.
type Options struct {
	Logger *slog.Logger
	Auth   Authenticator // nil: nobody is signed in
	// PublicURL is the origin a browser's console requests come from.
	PublicURL string
	Auditor   Auditor // nil: writes are not recorded
	Now       func() time.Time
}

// API is the console's router. Add routes, then Mount it.
type API struct {
	opts   Options
	log    *slog.Logger
	origin string // scheme://host[:port] of PublicURL, "" when unparsable

	mu      sync.Mutex
	routes  []Route
	router  *api.Router // set by Mount; routes added later mount at once
	docOnce sync.Once
	doc     []byte
	docErr  error
}

// New builds an API with no routes.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{opts: o, log: o.Logger.With("component", "console")}
	if u, err := url.Parse(o.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		a.origin = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	return a
}

// Add registers routes. It panics on a malformed route, which is a
// programming error found at start.
func (a *API) Add(routes ...Route) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rt := range routes {
		if (rt.Handle == nil) == (rt.Raw == nil) {
			panic("console: route " + rt.Method + " " + rt.Path + " needs exactly one of Handle and Raw")
		}
		if !strings.HasPrefix(rt.Path, "/api/") {
			panic("console: route " + rt.Path + " is not under /api/")
		}
		a.routes = append(a.routes, rt)
		if a.router != nil {
			a.mount(a.router, rt)
		}
	}
}

// Routes lists the registered routes (for the document check).
func (a *API) Routes() []Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.routes)
}

// Mount serves the routes, /api/openapi.json and a console-shaped 404 for
// any other path under /api/ on rt.
func (a *API) Mount(rt *api.Router) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.router = rt
	for _, r := range a.routes {
		a.mount(rt, r)
	}
	rt.Handle("GET /api/openapi.json", http.HandlerFunc(a.serveDocument))
	rt.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, NotFound("route "+r.Method+" "+r.URL.Path))
	}))
}

func (a *API) mount(rt *api.Router, route Route) {
	rt.Handle(route.Method+" "+route.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, route)
	}))
}

// unsafe reports whether a method changes state.
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, route Route) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	var p *Principal
	if a.opts.Auth != nil {
		var err error
		p, err = a.opts.Auth.Authenticate(r)
		if err != nil {
			if e := asError(err); e != nil {
				a.writeError(w, r, e)
				return
			}
			a.log.DebugContext(r.Context(), "authentication refused", "error", err.Error())
			a.writeError(w, r, Unauthenticated())
			return
		}
	}
	if err := a.admit(r, route, p); err != nil {
		a.writeError(w, r, err)
		return
	}
	rec := &auditRecord{}
	ctx := context.WithValue(r.Context(), auditKey{}, rec)
	r = r.WithContext(ctx)
	sw := &statusWriter{ResponseWriter: w}
	if route.Raw != nil {
		if err := route.Raw(sw, r, p); err != nil {
			if sw.status == 0 {
				a.writeError(sw, r, err)
			} else {
				a.log.WarnContext(ctx, "console stream ended with an error", "route", route.Path, "error", err.Error())
			}
		}
	} else {
		v, err := route.Handle(r, p)
		if err != nil {
			a.writeError(sw, r, err)
		} else {
			writeValue(sw, v)
		}
	}
	if unsafe(r.Method) && (p != nil || rec.set) {
		a.audit(r, route, p, sw.status, rec)
	}
}

// admit applies the access rules common to every route.
func (a *API) admit(r *http.Request, route Route, p *Principal) *Error {
	if route.Access == Public && p == nil {
		return nil
	}
	if p == nil {
		if route.Access != Public {
			return Unauthenticated()
		}
		return nil
	}
	if p.Via == ViaSession && unsafe(r.Method) && !a.sameOrigin(r) {
		return &Error{Status: http.StatusForbidden, Code: "csrf_failed",
			Message: "The request's Origin is not this console's; reload the console and try again."}
	}
	if p.ReadOnly && unsafe(r.Method) {
		return &Error{Status: http.StatusForbidden, Code: "read_only_token",
			Message: "This access token is read-only."}
	}
	if route.Access == Admin && !p.IsAdmin() {
		return Forbidden("This needs an administrator.")
	}
	if route.StepUp && !a.steppedUp(p) {
		return StepUpRequired()
	}
	return nil
}

// steppedUp reports whether p may call a StepUp route now.
func (a *API) steppedUp(p *Principal) bool {
	if p.Via == ViaToken {
		return !p.ReadOnly
	}
	return !p.StepUpAt.IsZero() && a.opts.Now().Sub(p.StepUpAt) <= StepUpWindow
}

// SteppedUp reports whether p re-entered a password or TOTP within
// StepUpWindow (or is a full-scope token), for handlers whose need of a
// step-up depends on the request (a credit adjustment above a threshold).
func (a *API) SteppedUp(p *Principal) bool { return p != nil && a.steppedUp(p) }

// sameOrigin is the CSRF check for cookie sessions.
func (a *API) sameOrigin(r *http.Request) bool {
	origin := strings.ToLower(r.Header.Get("Origin"))
	if origin == "" || origin == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	if a.origin != "" && origin == a.origin {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+strings.ToLower(r.Host)
}

// created and noContent choose a status other than 200 for Handle's value.
type created struct{ v any }
type noContent struct{}

// Created answers v with 201.
func Created(v any) any { return created{v} }

// NoContent answers 204 with no body.
func NoContent() any { return noContent{} }

func writeValue(w http.ResponseWriter, v any) {
	status := http.StatusOK
	switch x := v.(type) {
	case noContent:
		w.WriteHeader(http.StatusNoContent)
		return
	case created:
		status, v = http.StatusCreated, x.v
	}
	WriteJSON(w, status, v)
}

// WriteJSON writes v as a JSON answer (for Raw handlers that answer JSON on
// some paths).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// A value that cannot be encoded is a programming error.
		b, status = []byte(`{"error":{"code":"internal","message":"The answer could not be encoded."}}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e == nil {
		a.log.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		e = Internal()
	} else if e.Status >= 500 {
		a.log.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	WriteJSON(w, e.Status, errorBody{Error: e})
}

// statusWriter remembers the status for the audit row.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// asError finds the *Error in err's chain, nil when there is none.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
