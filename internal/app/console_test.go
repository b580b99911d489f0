package app_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
)

// TestConsoleRoutesMatchTheDocument holds the routes a node mounts and the
// OpenAPI document's operations to the same set, with the same access:
// a route only in the code is undocumented, one only in the document a lie.
func TestConsoleRoutesMatchTheDocument(t *testing.T) {
	a := apptest.Start(t, apptest.Config(t))
	raw, err := console.Document()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := console.Operations(raw)
	if err != nil {
		t.Fatal(err)
	}
	mounted := []string{"GET /api/openapi.json"}
	public := map[string]bool{"GET /api/openapi.json": true}
	for _, r := range a.Console().Routes() {
		op := r.Method + " " + r.Path
		mounted = append(mounted, op)
		public[op] = r.Access == console.Public
	}
	slices.Sort(mounted)
	for _, op := range mounted {
		if !slices.Contains(ops, op) {
			t.Errorf("%s is mounted but not in the OpenAPI document", op)
		}
	}
	for _, op := range ops {
		if !slices.Contains(mounted, op) {
			t.Errorf("%s is in the OpenAPI document but no route serves it", op)
		}
	}
	// The document says which operations need no credentials: security: [].
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths {
		for m, op := range item {
			key := strings.ToUpper(m) + " " + path
			documentedPublic := op.Security != nil && len(*op.Security) == 0
			if slices.Contains(mounted, key) && documentedPublic != public[key] {
				t.Errorf("%s: public in the document %v, in the code %v", key, documentedPublic, public[key])
			}
		}
	}
}

// TestConsoleNeedsCredentials calls every route of a real node that is not
// public without credentials: each must answer 401 unauthenticated in the
// console's error shape, whatever its method, before reading any body.
func TestConsoleNeedsCredentials(t *testing.T) {
	a := apptest.Start(t, apptest.Config(t))
	base := "http://" + a.Addr()
	for _, r := range a.Console().Routes() {
		if r.Access == console.Public {
			continue
		}
		path := r.Path
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + "1" + path[j+1:]
		}
		req, err := http.NewRequest(r.Method, base+path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || body.Error.Code != "unauthenticated" {
			t.Errorf("%s %s without credentials: %d %q, want 401 unauthenticated", r.Method, r.Path, res.StatusCode, body.Error.Code)
		}
	}
	// Unknown console paths answer in the console's shape too.
	res, err := http.Get(base + "/api/v1/no/such/thing")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 404 || body.Error.Code != "not_found" {
		t.Errorf("unknown console path: %d %q", res.StatusCode, body.Error.Code)
	}
	res, err = http.Get(base + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/api/openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestConsoleAccessEveryRoute signs an admin and a user in on a real node
// and calls every route: a user on an admin route gets 403 forbidden; a
// cookie write without a same-origin Origin gets 403 csrf_failed (the
// admin's session, on every unsafe route, public ones too); a step-up
// route called by an admin who has not stepped up gets 403
// step_up_required. Each before anything is read or changed.
func TestConsoleAccessEveryRoute(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.Admin = config.Admin{Email: "root@example.com", Password: filePassword}
	a := apptest.Start(t, cfg)
	base := nodeBase(a)
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "root@example.com", "password": filePassword})
	admin := sessionCookie(res)
	if admin == "" {
		t.Fatalf("admin login: %d", res.StatusCode)
	}
	if res, out := call(t, base, "POST", "/api/v1/admin/users", admin, map[string]string{"email": "plain@example.com"}); res.StatusCode != 201 {
		t.Fatalf("create user: %d %v", res.StatusCode, out)
	}
	if _, err := a.Accounts().SetPassword(t.Context(), "plain@example.com", filePassword); err != nil {
		t.Fatal(err)
	}
	res, _ = call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "plain@example.com", "password": filePassword})
	user := sessionCookie(res)
	if user == "" {
		t.Fatalf("user login: %d", res.StatusCode)
	}

	send := func(r console.Route, cookie, origin string) (int, string) {
		path := r.Path
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + "1" + path[j+1:]
		}
		req, err := http.NewRequest(r.Method, base+path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cookie", "sy_session="+cookie)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Error.Code
	}
	var admins, unsafe, stepUps int
	for _, r := range a.Console().Routes() {
		if r.Access == console.Admin {
			admins++
			if st, code := send(r, user, base); st != 403 || code != "forbidden" {
				t.Errorf("%s %s as a user: %d %q, want 403 forbidden", r.Method, r.Path, st, code)
			}
		}
		if r.Method != "GET" && r.Method != "HEAD" {
			unsafe++
			if st, code := send(r, admin, ""); st != 403 || code != "csrf_failed" {
				t.Errorf("%s %s without Origin: %d %q, want 403 csrf_failed", r.Method, r.Path, st, code)
			}
			if st, code := send(r, admin, "https://evil.example"); st != 403 || code != "csrf_failed" {
				t.Errorf("%s %s from another origin: %d %q, want 403 csrf_failed", r.Method, r.Path, st, code)
			}
		}
		if r.StepUp {
			stepUps++
			if st, code := send(r, admin, base); st != 403 || code != "step_up_required" {
				t.Errorf("%s %s before a step-up: %d %q, want 403 step_up_required", r.Method, r.Path, st, code)
			}
		}
	}
	if admins < 20 || unsafe < 20 || stepUps < 2 {
		t.Fatalf("only %d admin, %d unsafe and %d step-up routes: the console is not mounted whole", admins, unsafe, stepUps)
	}
}
