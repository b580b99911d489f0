package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/api"
)

// AuditEntry is one recorded write.
type AuditEntry struct {
	Time       time.Time
	ActorID    int64  // 0 when nobody was signed in (a failed login)
	ActorEmail string // the signed-in user, or who the request named
	Via        string // ViaSession, ViaToken, "cli" or "" (anonymous)
	IP         string
	Method     string
	Route      string // the route pattern: /api/v1/admin/users/{id}
	Action     string // "user.update"; the method and route when the handler named none
	Target     string // "user:12"; the route's path values when the handler named none
	Status     int
	Before     json.RawMessage // secrets removed; nil when none
	After      json.RawMessage
	RequestID  string
}

// Auditor records audit entries.
type Auditor interface {
	Record(ctx context.Context, e AuditEntry) error
}

type auditKey struct{}

// auditRecord is what a handler added with Audit.
type auditRecord struct {
	set            bool
	action, target string
	actorEmail     string
	before, after  any
}

// Audit describes the write a handler makes: action ("user.update"), target
// ("user:12"), and the values before and after (any JSON-encodable value;
// members naming secrets are removed before recording). It also makes an
// anonymous request (a login, the first-run setup) recorded.
func Audit(r *http.Request, action, target string, before, after any) {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		rec.set, rec.action, rec.target, rec.before, rec.after = true, action, target, before, after
	}
}

// AuditActor names who an anonymous request acted as (the email of a login
// attempt), for the audit row.
func AuditActor(r *http.Request, email string) {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		rec.set, rec.actorEmail = true, email
	}
}

func (a *API) audit(r *http.Request, route Route, p *Principal, status int, rec *auditRecord) {
	if a.opts.Auditor == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	e := AuditEntry{
		Time: a.opts.Now().UTC(), IP: api.ClientIP(r.Context()).String(), Method: r.Method, Route: route.Path,
		Action: rec.action, Target: rec.target, Status: status, RequestID: api.RequestID(r.Context()),
		ActorEmail: rec.actorEmail,
	}
	if p != nil {
		e.ActorID, e.ActorEmail, e.Via = p.UserID, p.Email, p.Via
	}
	if e.Action == "" {
		e.Action = r.Method + " " + route.Path
	}
	if e.Target == "" {
		e.Target = pathValues(r, route.Path)
	}
	e.Before, e.After = Redact(rec.before), Redact(rec.after)
	// The change is made; a failure to record it must not turn its answer
	// into an error, but it must be loud.
	if err := a.opts.Auditor.Record(context.WithoutCancel(r.Context()), e); err != nil {
		a.log.ErrorContext(r.Context(), "audit: record a console write", "action", e.Action, "error", err.Error())
	}
}

// pathValues renders a route's wildcards as "name=value,…".
func pathValues(r *http.Request, pattern string) string {
	var parts []string
	for _, seg := range strings.Split(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(strings.TrimSuffix(name, "}"), "...")
			parts = append(parts, name+"="+r.PathValue(name))
		}
	}
	return strings.Join(parts, ",")
}

// Redact encodes v as JSON with every member whose name says it holds a
// secret replaced by "[redacted]"; nil for a nil v.
func Redact(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`"[unencodable]"`)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return json.RawMessage(`"[unencodable]"`)
	}
	out, err := json.Marshal(redactTree(tree))
	if err != nil {
		return json.RawMessage(`"[unencodable]"`)
	}
	return out
}

func redactTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if SecretName(k) {
				if val != nil && val != "" {
					x[k] = "[redacted]"
				}
				continue
			}
			x[k] = redactTree(val)
		}
	case []any:
		for i := range x {
			x[i] = redactTree(x[i])
		}
	}
	return v
}

// SecretName reports whether a member name says it holds a secret:
// password, secret, token, key (an API key's value), code (a redemption or
// recovery code), and names ending in those words (access_token,
// api_key, recovery_codes). Identifiers and hints (key_id, key_prefix,
// token_id) are not secrets.
func SecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"password", "secret", "token", "key", "code", "codes", "totp", "recovery_code", "sealed"} {
		if n == w || strings.HasSuffix(n, "_"+w) {
			return true
		}
	}
	return false
}
