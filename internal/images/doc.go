// Package images holds the parts of image handling that do not depend on
// HTTP or on a provider: signed URLs, storage and the inspection of
// uploaded images. Handlers and the task runner build on it.
//
// # Signed URLs (sign.go)
//
// A stored image is served at GET /p/img/{task}/{index}?exp=…&sig=…
// without an API key, so the URL itself is the credential. sig is
// HMAC-SHA256 under a subkey of secret_key (HKDF info
// "switchyard/images/url/v1"): every node derives the same key and a
// restart changes nothing, so links work anywhere until they expire, and
// no URL state is stored. The signed message is a version tag followed by
// the task id (length-prefixed), the index and the expiry (fixed width),
// so no two (task, index, exp) share a message. Verify accepts only the
// exact spelling Sign produced (canonical decimals, unpadded base64url),
// compares in constant time, and checks the signature before the expiry:
// ErrExpired is reserved for genuine links; everything else is
// ErrBadSignature. Both are a 403 to the client. Task ids are limited to
// [A-Za-z0-9_-], so they need no escaping in a path or a storage key.
//
// # Storage (store.go)
//
// Store is the small interface handlers and the sweeper need: Put, Open,
// Delete. FileStore keeps objects under a directory, reached only through
// an os.Root, with keys restricted to plain segments (no "..", no leading
// '.', no absolute paths, backslashes or NUL), so a key can never name a
// file outside it. A Put writes a temporary file beside the target, syncs
// it and renames it into place: readers see the old object or the whole
// new one, and a failed or oversized Put leaves nothing behind. Files are
// 0600 and directories 0700.
//
// S3Store (s3.go) keeps objects in a bucket of any S3-compatible service,
// under the URL's prefix, using only the standard library: requests are
// signed by hand with AWS Signature Version 4, path-style by default or
// virtual-host style with path_style=false. Credentials come from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, never
// from the URL, and no error carries the secret. S3 replaces objects
// atomically. A Put of known size streams with UNSIGNED-PAYLOAD and is
// abandoned before its last byte if the body's length is wrong; one of
// unknown size is spooled (memory, then a temporary file) to learn its
// length, and its real SHA-256 is signed. S3 error bodies surface as
// S3Error with status and code; a missing key is ErrNotFound. Package
// s3fake is an in-process S3 that verifies signatures, for tests.
//
// # Inspection (sniff.go)
//
// Inspect decides an upload's format from its bytes alone (PNG, JPEG,
// WebP, GIF; anything else, SVG and HEIC included, is ErrUnsupported with
// a message naming what it looks like). It decodes the header first and
// refuses dimensions beyond Limits before any pixel memory is allocated,
// which defeats decompression bombs; then it decodes the whole image, so
// what it accepts the upstream can read. Input beyond Limits.MaxBytes is
// refused while reading, never buffered.
//
// # Tasks (tasks.go)
//
// Every image request has a row in image_tasks. A synchronous one is
// created running on its node and finished by its handler; an async one
// is created queued. Claim moves the oldest queued task to running with a
// conditional UPDATE (status = 'queued'), so on any number of nodes each
// task is taken once. Finish applies only while the task is still running
// on that node and attempt, so a cancel or a takeover always wins over a
// late result. Cancel, Finish and the webhook columns are one UPDATE each.
//
// # Runner (runner.go)
//
// The runner is the lease holder of its node's tasks. Workers claim and
// run tasks (Exec); a heartbeat loop bumps heartbeat_at of every task the
// node runs, synchronous ones included (Track), and cancels the context
// of any the table says is no longer this node's: that is how a cancel
// made on another node reaches the run. A task whose heartbeat is older
// than StaleAfter belonged to a node that stopped: it is requeued, and
// after MaxAttempts starts it fails as interrupted. A node with a stable
// Node id requeues its own running tasks at Start. Stop waits for running
// tasks up to its context and otherwise leaves them running for the
// requeue. The sweeper deletes the outputs (and leftover inputs) of tasks
// that ended more than Retention ago; it never selects a task that has
// not ended. Webhooks are leased (WebhookLease) so two nodes do not
// deliver the same one, and retried with exponential backoff.
//
// # Webhooks and downloads (webhook.go, fetch.go)
//
// SignWebhook/VerifyWebhook implement X-Switchyard-Signature
// (t=…,v1=hex(HMAC-SHA256(secret, t + "." + body))). WebhookSender makes
// one delivery attempt through a netguard client and says whether a
// failure is worth retrying. Fetch downloads an image URL an upstream
// returned: no redirects, a size cap while reading, and a format decided
// from the bytes.
package images
