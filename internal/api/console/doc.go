// Package console serves the JSON API of the web console under /api/v1 and
// its OpenAPI description at /api/openapi.json.
//
// Handlers are thin, like the /v1 ones: decode, check the role, call the
// domain package (auth, billing, pool, images, usage), encode. No handler
// knows a table. A slice of the API (channels, users, logs, …) lives in its
// own file with a MountXxx(a *API, d XxxDeps) function; XxxDeps holds the
// small interfaces that slice consumes, declared beside it, and internal/app
// wires the domain packages into them.
//
// What every route gets from API without writing it:
//
//   - Authentication through Options.Auth: a session cookie or an admin
//     access token (Authorization: Bearer). No credentials → 401
//     unauthenticated on every route but Public ones.
//   - Access: Route.Access is Public, User (any signed-in user) or Admin
//     (role admin) → 403 forbidden otherwise. A read-only token may only
//     GET/HEAD → 403 read_only_token.
//   - CSRF: an unsafe method carried by a cookie session must come with an
//     Origin equal to the public URL's origin or the request's own host, or,
//     without Origin, Sec-Fetch-Site: same-origin → 403 csrf_failed. Bearer
//     calls are exempt: a browser never attaches them by itself.
//   - Step-up: a StepUp route needs a password or TOTP re-entry in the last
//     StepUpWindow (Principal.StepUpAt) → 403 step_up_required. A full-scope
//     admin token passes: it is a script's credential, created by an admin
//     who stepped up to create it.
//   - Errors: {"error":{"code","message","field"}}; a handler returns an
//     *Error (Invalid, NotFound, Conflict, ManagedByFile, …); any other error
//     is logged and answered 500 internal without its text.
//   - Audit: every unsafe request by a signed-in caller (and any request whose
//     handler called Audit) is recorded through Options.Auditor with actor,
//     IP, route, target and status; Audit adds before/after values, from
//     which members that name secrets are removed.
//
// The OpenAPI document is assembled at start from the fragments in
// openapi/*.yaml (one per slice). Every operation without a "default"
// response gets one referring to the shared Error response, so that error
// answers are described too. The consoletest harness checks every response
// a test receives against the document, and internal/app checks that the
// routes a node mounts and the document's operations are the same set.
package console
