package console_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
)

// testFragment describes the routes mounted by mountTest.
const testFragment = `
paths:
  /api/v1/test/public:
    get:
      security: []
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/TestThing"}}}}
  /api/v1/test/things:
    get:
      parameters: [{$ref: "#/components/parameters/Limit"}, {$ref: "#/components/parameters/Cursor"}]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [items, next_cursor]
                properties:
                  items: {type: array, items: {$ref: "#/components/schemas/TestThing"}}
                  next_cursor: {$ref: "#/components/schemas/NextCursor"}
    post:
      responses:
        "201": {description: made, content: {application/json: {schema: {$ref: "#/components/schemas/TestThing"}}}}
  /api/v1/test/things/{id}:
    delete:
      parameters: [{$ref: "#/components/parameters/ID"}]
      responses:
        "204": {$ref: "#/components/responses/NoContent"}
  /api/v1/test/admin:
    post:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/TestThing"}}}}
  /api/v1/test/risky:
    post:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/TestThing"}}}}
  /api/v1/test/broken:
    get:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/TestThing"}}}}
  /api/v1/test/csv:
    get:
      responses:
        "200": {description: ok, content: {text/csv: {schema: {type: string}}}}
components:
  schemas:
    TestThing:
      type: object
      required: [id, name]
      additionalProperties: false
      properties:
        id: {type: integer}
        name: {type: string}
        nested: {type: object, properties: {size: {type: integer}}}
`

type thing struct {
	ID     int64       `json:"id"`
	Name   string      `json:"name"`
	Nested *thingInner `json:"nested,omitempty"`
}

type thingInner struct {
	Size int `json:"size"`
}

func mountTest(a *console.API) {
	a.Add(
		console.Route{Method: "GET", Path: "/api/v1/test/public", Access: console.Public,
			Handle: func(r *http.Request, p *console.Principal) (any, error) {
				name := "anonymous"
				if p != nil {
					name = p.Email
				}
				return thing{ID: 1, Name: name}, nil
			}},
		console.Route{Method: "GET", Path: "/api/v1/test/things", Access: console.User,
			Handle: func(r *http.Request, p *console.Principal) (any, error) {
				pg, err := console.PageOf(r)
				if err != nil {
					return nil, err
				}
				after, err := pg.AfterID()
				if err != nil {
					return nil, err
				}
				// Ids 10…1, newest first; fetch limit+1 as a store would.
				var items []thing
				for id := int64(10); id >= 1 && len(items) < pg.Limit+1; id-- {
					if after == 0 || id < after {
						items = append(items, thing{ID: id, Name: "t"})
					}
				}
				return console.PageByID(items, pg.Limit, func(t thing) int64 { return t.ID }), nil
			}},
		console.Route{Method: "POST", Path: "/api/v1/test/things", Access: console.User,
			Handle: func(r *http.Request, p *console.Principal) (any, error) {
				var in struct {
					Name     string      `json:"name"`
					Password string      `json:"password"`
					Nested   *thingInner `json:"nested"`
					Expires  *time.Time  `json:"expires_at"`
					Windows  []struct {
						From time.Time `json:"from"`
					} `json:"windows"`
				}
				if err := console.Decode(r, &in); err != nil {
					return nil, err
				}
				if in.Name == "" {
					return nil, console.Invalid("name", "Required.")
				}
				out := thing{ID: 7, Name: in.Name, Nested: in.Nested}
				console.Audit(r, "thing.create", "thing:7", nil, map[string]any{"name": in.Name, "password": in.Password,
					"nested": map[string]any{"api_key": "sk-live", "key_id": 3}})
				return console.Created(out), nil
			}},
		console.Route{Method: "DELETE", Path: "/api/v1/test/things/{id}", Access: console.Admin,
			Handle: func(r *http.Request, p *console.Principal) (any, error) {
				id, err := console.PathID(r, "id")
				if err != nil {
					return nil, err
				}
				if id != 7 {
					return nil, console.NotFound("thing " + r.PathValue("id"))
				}
				return console.NoContent(), nil
			}},
		console.Route{Method: "POST", Path: "/api/v1/test/admin", Access: console.Admin,
			Handle: func(r *http.Request, p *console.Principal) (any, error) {
				return nil, console.ManagedByFile("channels[name=main]")
			}},
		console.Route{Method: "POST", Path: "/api/v1/test/risky", Access: console.Admin, StepUp: true,
			Handle: func(r *http.Request, p *console.Principal) (any, error) { return thing{ID: 9, Name: "done"}, nil }},
		console.Route{Method: "GET", Path: "/api/v1/test/broken", Access: console.User,
			Handle: func(r *http.Request, p *console.Principal) (any, error) {
				return nil, errors.New("database password=hunter2 unreachable")
			}},
		console.Route{Method: "GET", Path: "/api/v1/test/csv", Access: console.User,
			Raw: func(w http.ResponseWriter, r *http.Request, p *console.Principal) error {
				w.Header().Set("Content-Type", "text/csv")
				_, err := w.Write([]byte("a,b\n1,2\n"))
				return err
			}},
	)
}

func newServer(t *testing.T, opts ...consoletest.Option) *consoletest.Server {
	return consoletest.New(t, mountTest, append([]consoletest.Option{consoletest.WithFragment(testFragment)}, opts...)...)
}

func TestAccess(t *testing.T) {
	s := newServer(t)
	admin, user, anon := s.Admin(), s.User(), s.Anon()
	token := s.As(&console.Principal{UserID: 1, Email: "bot@example.com", Role: console.RoleAdmin, Via: console.ViaToken})
	readOnly := s.As(&console.Principal{UserID: 1, Email: "ro@example.com", Role: console.RoleAdmin, Via: console.ViaToken, ReadOnly: true})
	stale := s.As(&console.Principal{UserID: 1, Email: "a@example.com", Role: console.RoleAdmin, StepUpAt: time.Now().Add(-console.StepUpWindow - time.Second)})

	cases := []struct {
		name         string
		c            *consoletest.Client
		method, path string
		body         any
		status       int
		code         string
	}{
		{"public without credentials", anon, "GET", "/api/v1/test/public", nil, 200, ""},
		{"public with a session", user, "GET", "/api/v1/test/public", nil, 200, ""},
		{"no session", anon, "GET", "/api/v1/test/things", nil, 401, "unauthenticated"},
		{"no session on a write", anon, "POST", "/api/v1/test/things", `{"name":"x"}`, 401, "unauthenticated"},
		{"unknown session", s.Anon().With("Cookie", "sy_session=nope"), "GET", "/api/v1/test/things", nil, 401, "unauthenticated"},
		{"user on a user route", user, "GET", "/api/v1/test/things", nil, 200, ""},
		{"user on an admin route", user, "DELETE", "/api/v1/test/things/7", nil, 403, "forbidden"},
		{"admin", admin, "DELETE", "/api/v1/test/things/7", nil, 204, ""},
		{"unknown id", admin, "DELETE", "/api/v1/test/things/8", nil, 404, "not_found"},
		{"id that cannot exist", admin, "DELETE", "/api/v1/test/things/abc", nil, 404, "not_found"},
		{"cookie write without Origin", user.With("Origin", ""), "POST", "/api/v1/test/things", `{"name":"x"}`, 403, "csrf_failed"},
		{"cookie write from another origin", user.With("Origin", "https://evil.example"), "POST", "/api/v1/test/things", `{"name":"x"}`, 403, "csrf_failed"},
		{"cookie write with Sec-Fetch-Site same-origin", user.With("Origin", "").With("Sec-Fetch-Site", "same-origin"), "POST", "/api/v1/test/things", `{"name":"x"}`, 201, ""},
		{"cookie write with Sec-Fetch-Site cross-site", user.With("Origin", "").With("Sec-Fetch-Site", "cross-site"), "POST", "/api/v1/test/things", `{"name":"x"}`, 403, "csrf_failed"},
		{"cookie read without Origin", user.With("Origin", ""), "GET", "/api/v1/test/things", nil, 200, ""},
		{"token write without Origin", token, "POST", "/api/v1/test/things", `{"name":"x"}`, 201, ""},
		{"read-only token reads", readOnly, "GET", "/api/v1/test/things", nil, 200, ""},
		{"read-only token writes", readOnly, "POST", "/api/v1/test/things", `{"name":"x"}`, 403, "read_only_token"},
		{"managed by file", admin, "POST", "/api/v1/test/admin", nil, 409, "managed_by_file"},
		{"step-up fresh", admin, "POST", "/api/v1/test/risky", nil, 200, ""},
		{"step-up stale", stale, "POST", "/api/v1/test/risky", nil, 403, "step_up_required"},
		{"step-up by a full token", token, "POST", "/api/v1/test/risky", nil, 200, ""},
		{"unknown route", user, "GET", "/api/v1/nothing/here", nil, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.Do(tc.method, tc.path, tc.body)
			if tc.code != "" {
				r.ExpectError(t, tc.status, tc.code, "")
			} else {
				r.Expect(t, tc.status)
			}
			if cc := r.Header.Get("Cache-Control"); tc.path != "/api/v1/nothing/here" && cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
	// The public route sees who called when someone did.
	var th struct{ Name string }
	user.Do("GET", "/api/v1/test/public", nil).Decode(t, &th)
	if th.Name != "user@example.com" {
		t.Errorf("public route saw %q", th.Name)
	}
}

func TestPublicURLOrigin(t *testing.T) {
	s := newServer(t, consoletest.WithPublicURL("https://GW.example.com"))
	u := s.User()
	u.With("Origin", "https://gw.example.com").Do("POST", "/api/v1/test/things", `{"name":"x"}`).Expect(t, 201)
	// The request's own host is the same origin too (a node reached by another name).
	u.With("Origin", s.URL).Do("POST", "/api/v1/test/things", `{"name":"x"}`).Expect(t, 201)
	u.With("Origin", "http://gw.example.com").Do("POST", "/api/v1/test/things", `{"name":"x"}`).ExpectError(t, 403, "csrf_failed", "")
}

func TestDecodeNamesTheField(t *testing.T) {
	s := newServer(t)
	u := s.User()
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"missing required member", `{}`, 422, "name"},
		{"unknown member", `{"name":"x","nmae":"y"}`, 422, "nmae"},
		{"wrong type", `{"name":5}`, 422, "name"},
		{"wrong nested type", `{"name":"x","nested":{"size":"big"}}`, 422, "nested.size"},
		{"time of the wrong type", `{"name":"x","expires_at":5}`, 422, "expires_at"},
		{"time not RFC 3339", `{"name":"x","expires_at":"tomorrow"}`, 422, "expires_at"},
		{"time in an array", `{"name":"x","windows":[{"from":"2026-01-01T00:00:00Z"},{"from":"soon"}]}`, 422, "windows[1].from"},
		{"not an object", `[1]`, 422, ""},
		{"malformed", `{"name":`, 422, ""},
		{"trailing data", `{"name":"x"} {}`, 422, ""},
		{"empty", ``, 422, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := u.Do("POST", "/api/v1/test/things", tc.body)
			r.ExpectError(t, tc.status, "invalid", tc.field)
			if tc.field == "" && r.ErrorField() != "" {
				t.Errorf("field %q, want none", r.ErrorField())
			}
		})
	}
	u.Do("POST", "/api/v1/test/things", `{"name":"x","expires_at":"2026-01-01T00:00:00Z","windows":[{"from":"2026-01-01T00:00:00+08:00"}]}`).Expect(t, 201)
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/test/things", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "sy_session=x")
	s.Send(req).Expect(t, 401) // authentication comes first
	req, _ = http.NewRequest("POST", s.URL+"/api/v1/test/things", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range map[string]string{"Authorization": "Bearer " + bearer(t, s)} {
		req.Header.Set(k, v)
	}
	s.Send(req).ExpectError(t, 415, "unsupported_media_type", "")
}

// bearer registers a full-scope admin token and returns it.
func bearer(t *testing.T, s *consoletest.Server) string {
	c := s.As(&console.Principal{UserID: 1, Email: "bot@example.com", Role: console.RoleAdmin, Via: console.ViaToken})
	tok, ok := strings.CutPrefix(c.Header("Authorization"), "Bearer ")
	if !ok {
		t.Fatal("a token client sends no bearer token")
	}
	return tok
}

func TestInternalErrorsHideTheirText(t *testing.T) {
	s := newServer(t)
	r := s.User().Do("GET", "/api/v1/test/broken", nil).ExpectError(t, 500, "internal", "")
	if strings.Contains(string(r.Body), "hunter2") {
		t.Fatalf("the cause leaked: %s", r.Body)
	}
}

func TestPagination(t *testing.T) {
	s := newServer(t)
	u := s.User()
	var seen []int64
	path := "/api/v1/test/things?limit=3"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var pg struct {
			Items      []thing `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		u.Do("GET", path, nil).Expect(t, 200).Decode(t, &pg)
		for _, it := range pg.Items {
			seen = append(seen, it.ID)
		}
		if pg.NextCursor == nil {
			break
		}
		path = "/api/v1/test/things?limit=3&cursor=" + *pg.NextCursor
	}
	if len(seen) != 10 || seen[0] != 10 || seen[9] != 1 {
		t.Fatalf("pages gave %v, want 10…1 once each", seen)
	}
	u.Do("GET", "/api/v1/test/things?limit=0", nil).ExpectError(t, 422, "invalid", "limit")
	u.Do("GET", "/api/v1/test/things?limit=201", nil).ExpectError(t, 422, "invalid", "limit")
	u.Do("GET", "/api/v1/test/things?cursor=%21%21", nil).ExpectError(t, 422, "invalid", "cursor")
	u.Do("GET", "/api/v1/test/things?cursor="+*console.Cursor("x"), nil).ExpectError(t, 422, "invalid", "cursor")
}

func TestAuditRecordsWrites(t *testing.T) {
	s := newServer(t)
	u := s.User()
	u.Do("GET", "/api/v1/test/things", nil).Expect(t, 200)
	u.Do("POST", "/api/v1/test/things", `{"name":"x","password":"hunter2"}`).Expect(t, 201)
	s.Admin().Do("DELETE", "/api/v1/test/things/8", nil).Expect(t, 404)
	s.Anon().Do("POST", "/api/v1/test/things", `{"name":"x"}`).Expect(t, 401)
	logs := s.Audits()
	if len(logs) != 2 {
		t.Fatalf("%d audit rows, want 2 (the two signed-in writes): %+v", len(logs), logs)
	}
	c := logs[0]
	if c.ActorID != 2 || c.ActorEmail != "user@example.com" || c.Via != console.ViaSession || c.Action != "thing.create" ||
		c.Target != "thing:7" || c.Status != 201 || c.Route != "/api/v1/test/things" || c.IP != "127.0.0.1" || c.RequestID == "" {
		t.Errorf("create row: %+v", c)
	}
	if strings.Contains(string(c.After), "hunter2") || strings.Contains(string(c.After), "sk-live") {
		t.Errorf("a secret was recorded: %s", c.After)
	}
	var after map[string]any
	if err := json.Unmarshal(c.After, &after); err != nil {
		t.Fatal(err)
	}
	if after["password"] != "[redacted]" || after["nested"].(map[string]any)["key_id"] != float64(3) || after["name"] != "x" {
		t.Errorf("redaction: %s", c.After)
	}
	d := logs[1]
	if d.Action != "DELETE /api/v1/test/things/{id}" || d.Target != "id=8" || d.Status != 404 || d.Before != nil {
		t.Errorf("delete row: %+v", d)
	}
}

func TestRawRoute(t *testing.T) {
	s := newServer(t)
	r := s.User().Do("GET", "/api/v1/test/csv", nil).Expect(t, 200)
	if string(r.Body) != "a,b\n1,2\n" {
		t.Fatalf("body %q", r.Body)
	}
}

func TestDocumentServedAndValid(t *testing.T) {
	s := newServer(t)
	r := s.Anon().Do("GET", "/api/openapi.json", nil).Expect(t, 200)
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	for path, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			if op.Responses.Default() == nil {
				t.Errorf("%s %s has no default (error) response", m, path)
			}
		}
	}
}

// TestCheckCatchesUndescribedAnswers proves the harness's check fails on a
// body, status or content type the document does not describe.
func TestCheckCatchesUndescribedAnswers(t *testing.T) {
	raw, err := console.DocumentWith([]byte(testFragment))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	bad := []struct {
		name, method, path string
		r                  consoletest.Resp
	}{
		{"extra member", "GET", "/api/v1/test/public", consoletest.Resp{Status: 200, Header: jsonHeader, Body: []byte(`{"id":1,"name":"a","extra":1}`)}},
		{"missing member", "GET", "/api/v1/test/public", consoletest.Resp{Status: 200, Header: jsonHeader, Body: []byte(`{"id":1}`)}},
		{"wrong type", "GET", "/api/v1/test/public", consoletest.Resp{Status: 200, Header: jsonHeader, Body: []byte(`{"id":"1","name":"a"}`)}},
		{"error of another shape", "GET", "/api/v1/test/public", consoletest.Resp{Status: 400, Header: jsonHeader, Body: []byte(`{"message":"x"}`)}},
		{"undescribed content type", "GET", "/api/v1/test/csv", consoletest.Resp{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(`a`)}},
		{"body on 204", "DELETE", "/api/v1/test/things/7", consoletest.Resp{Status: 204, Header: jsonHeader, Body: []byte(`{}`)}},
		{"undocumented path", "GET", "/api/v1/test/nope", consoletest.Resp{Status: 200, Header: jsonHeader, Body: []byte(`{}`)}},
	}
	for _, tc := range bad {
		if err := consoletest.Check(doc, tc.method, tc.path, &tc.r); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	good := consoletest.Resp{Status: 422, Header: jsonHeader, Body: []byte(`{"error":{"code":"invalid","message":"m","field":"f"}}`)}
	if err := consoletest.Check(doc, "POST", "/api/v1/test/things", &good); err != nil {
		t.Errorf("an error answer was refused: %v", err)
	}
}

func TestAssembleRefusesClashes(t *testing.T) {
	clash := `
paths:
  /api/v1/test/public:
    get:
      responses: {"200": {description: other}}
`
	if _, err := console.DocumentWith([]byte(testFragment), []byte(clash)); err == nil ||
		!strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("a clashing operation was merged: %v", err)
	}
	schemaClash := `
components:
  schemas:
    Error: {type: string}
`
	if _, err := console.DocumentWith([]byte(schemaClash)); err == nil {
		t.Fatal("a clashing schema was merged")
	}
	if _, err := console.DocumentWith([]byte("servers: []\n")); err == nil {
		t.Fatal("a fragment with top-level members other than paths and components was merged")
	}
}

func TestRouteMissingFromDocumentFails(t *testing.T) {
	ft := &fakeT{TB: t}
	consoletest.New(ft, func(a *console.API) {
		a.Add(console.Route{Method: "GET", Path: "/api/v1/test/undocumented", Access: console.User,
			Handle: func(*http.Request, *console.Principal) (any, error) { return nil, nil }})
	})
	if !strings.Contains(strings.Join(ft.errs, "\n"), "/api/v1/test/undocumented is not in the OpenAPI document") {
		t.Fatalf("an undocumented route passed: %v", ft.errs)
	}
}

type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, strings.TrimSpace(fmt.Sprintf(format, args...)))
}
