package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
)

func keysCommand() command {
	return command{
		name:    "keys",
		args:    "create --user EMAIL --name NAME | list | revoke ID",
		subs:    []string{"create", "list", "revoke"},
		summary: "create API keys for users, list them, or revoke one",
		about: `'keys create --user EMAIL --name NAME' generates a key (sk-sy- and 48
random characters) for an existing user and prints it once: only its
SHA-256 hash and its first 10 characters are stored, so it cannot be shown
again. The options set its model allowlist, USD quota cap, rate limits, IP
allowlist, expiry, admin flag, the default response_format of its image
requests, and a webhook for its async image tasks. --webhook-url needs a
secret of at least 16 characters that signs the deliveries; give it with
--webhook-secret or, to keep it out of the shell history, in the
environment variable SWITCHYARD_WEBHOOK_SECRET. It is stored sealed with
the secret key. --webhook-url must be https:// unless the configuration
sets images.webhook_allow_private.

'keys list [--user EMAIL]' prints every key (or one user's) with its prefix,
status, limits, image response format and webhook host, never the key, its
hash or its webhook secret. --json prints a JSON array.

'keys revoke ID' refuses the key from now on; running servers refuse it
within 2 seconds. A key declared in the configuration file stays revoked
until the file gives it a new value.

All open the database exactly as 'serve' does; the file's users and keys
are applied by 'serve' only.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			user := fs.String("user", "", "owner's `EMAIL` (create, required; list: only this user's keys)")
			name := fs.String("name", "", "key `NAME`, unique per user (create, required)")
			models := fs.String("models", "", "allowed `MODELS`, comma-separated names or patterns such as claude-* (create; default: every model)")
			quota := fs.String("quota", "", "spending cap in `USD` (create; default: no cap)")
			rpm := fs.Int("rpm", 0, "requests per minute, 0 = no limit (create)")
			tpm := fs.Int64("tpm", 0, "tokens per minute, 0 = no limit (create)")
			daily := fs.Int("daily-requests", 0, "requests per day, 0 = no limit (create)")
			ipAllow := fs.String("ip-allow", "", "allowed client `CIDRS` or IPs, comma-separated (create; default: any)")
			expires := fs.String("expires", "", "expiry `TIME` in RFC 3339, e.g. 2027-01-01T00:00:00Z (create; default: never)")
			admin := fs.Bool("admin", false, "the key may force routes and use the admin API (create)")
			imageFormat := fs.String("image-response-format", "", "default `FORMAT` of the key's image responses, url or b64_json (create; default: the group's)")
			webhookURL := fs.String("webhook-url", "", "https `URL` told when the key's async image tasks end (create)")
			webhookSecret := fs.String("webhook-secret", "", "`SECRET` (16+ characters) signing webhook deliveries (create; default: $"+webhookSecretEnv+")")
			asJSON := fs.Bool("json", false, "list as a JSON array")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				switch {
				case len(pos) == 1 && pos[0] == "create":
					nk := auth.NewKey{User: *user, Name: *name, Models: splitList(*models), RPM: *rpm, TPM: *tpm,
						DailyRequests: *daily, IPAllow: splitList(*ipAllow), Admin: *admin,
						ImageResponseFormat: *imageFormat, WebhookURL: *webhookURL, WebhookSecret: *webhookSecret}
					if nk.WebhookURL != "" && nk.WebhookSecret == "" {
						nk.WebhookSecret = os.Getenv(webhookSecretEnv)
					}
					if msg := parseKeyFlags(&nk, *quota, *expires); msg != "" {
						fmt.Fprintf(stderr, "switchyard keys create: %s\n", msg)
						return 2
					}
					return keysCreate(ctx, cf, nk, stdout, stderr)
				case len(pos) == 1 && pos[0] == "list":
					return keysList(ctx, cf, *user, *asJSON, stdout, stderr)
				case len(pos) == 2 && pos[0] == "revoke":
					id, err := strconv.ParseInt(pos[1], 10, 64)
					if err != nil || id <= 0 {
						fmt.Fprintf(stderr, "switchyard keys revoke: %q is not a key id (see 'switchyard keys list')\n", pos[1])
						return 2
					}
					return keysRevoke(ctx, cf, id, stdout, stderr)
				case len(pos) == 1 && pos[0] == "revoke":
					fmt.Fprintln(stderr, "switchyard keys revoke: missing ID (see 'switchyard keys list')")
					return 2
				}
				fmt.Fprintf(stderr, "switchyard keys: unexpected arguments %q (want \"create --user EMAIL --name NAME\", \"list\" or \"revoke ID\")\n", pos)
				return 2
			}
		},
	}
}

// webhookSecretEnv may hold keys create's webhook secret, so that it stays
// out of the shell history and the process list.
const webhookSecretEnv = "SWITCHYARD_WEBHOOK_SECRET"

// parseKeyFlags checks the flags of keys create and fills nk; it returns a
// usage message, or "".
func parseKeyFlags(nk *auth.NewKey, quota, expires string) string {
	switch {
	case nk.User == "":
		return "--user is required"
	case nk.Name == "":
		return "--name is required"
	}
	if quota != "" {
		usd, err := strconv.ParseFloat(quota, 64)
		if err != nil || usd < 0 || math.IsInf(usd, 0) || math.IsNaN(usd) {
			return fmt.Sprintf("--quota %q is not an amount of USD of 0 or more", quota)
		}
		m := int64(math.Round(usd * 1e6))
		nk.QuotaMicros = &m
	}
	if expires != "" {
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			return fmt.Sprintf("--expires %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", expires)
		}
		nk.ExpiresAt = t
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func keysCreate(ctx context.Context, cf *configFlags, nk auth.NewKey, stdout, stderr io.Writer) int {
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		nk.WebhookAllowHTTP = t.cfg.Images.WebhookAllowPrivate
		as := t.as.WithKeyring(t.st.Keyring)
		value, info, err := as.CreateKey(ctx, nk)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		// The key alone on stdout, so that a script can capture it; the notes
		// go to stderr.
		fmt.Fprintln(stdout, value)
		auditCLI(ctx, t.st.DB, stderr, []string{"keys", "create"}, "keys.create", fmt.Sprintf("key:%d", info.ID), nil,
			map[string]any{"id": info.ID, "user": info.User, "name": info.Name, "prefix": info.Prefix, "models": info.Models,
				"quota_micros": info.QuotaMicros, "expires_at": info.ExpiresAt, "admin": info.Admin})
		fmt.Fprintf(stderr, "created key %q (id %d) for %s.\n"+
			"Copy the key now: it cannot be shown again (only its hash is stored).\n", info.Name, info.ID, info.User)
		return 0
	})
}

func keysList(ctx context.Context, cf *configFlags, user string, asJSON bool, stdout, stderr io.Writer) int {
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		as := t.as
		keys, err := as.ListKeys(ctx, user)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		if asJSON {
			return writeJSON(keys, stdout, stderr)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tNAME\tPREFIX\tSTATUS\tMODELS\tQUOTA_USD\tSPENT_USD\tRPM\tTPM\tDAILY\tIP_ALLOW\tEXPIRES\tADMIN\tFROM_FILE\tIMAGE_FORMAT\tWEBHOOK")
		for _, k := range keys {
			quota, expires := "-", "-"
			if k.QuotaMicros != nil {
				quota = strconv.FormatFloat(float64(*k.QuotaMicros)/1e6, 'f', -1, 64)
			}
			if k.ExpiresAt != nil {
				expires = k.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%v\t%v\t%s\t%s\n", k.ID, k.User, k.Name, k.Prefix, k.Status,
				dash(strings.Join(k.Models, ",")), quota, strconv.FormatFloat(float64(k.SpentMicros)/1e6, 'f', 6, 64), k.RPM, k.TPM, k.DailyRequests, dash(strings.Join(k.IPAllow, ",")),
				expires, k.Admin, k.ManagedByFile, dash(k.ImageResponseFormat), dash(webhookHost(k.WebhookURL)))
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
			return 1
		}
		return 0
	})
}

// webhookHost is what keys list shows of a webhook URL: its scheme and
// host. The path and query may carry a token of the receiver's.
func webhookHost(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(set)"
	}
	return u.Scheme + "://" + u.Host
}

func keysRevoke(ctx context.Context, cf *configFlags, id int64, stdout, stderr io.Writer) int {
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		as := t.as
		if err := as.RevokeKey(ctx, id); err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "revoked key id %d\n", id)
		auditCLI(ctx, t.st.DB, stderr, []string{"keys", "revoke"}, "keys.revoke", fmt.Sprintf("key:%d", id), nil, nil)
		return 0
	})
}
