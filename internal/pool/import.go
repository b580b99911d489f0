package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/config"
)

// Limits on imported values: far above any real key or token, low enough
// that a garbage file cannot fill the database.
const (
	maxImportBytes = 64 << 20
	maxKeyLen      = 4096
	maxTokenLen    = 16384
	maxEmailLen    = 191 // the credentials.email column
)

// ImportEntry is one credential read by ParseImport.
type ImportEntry struct {
	// Line is the 1-based line of a text file, or the 1-based index in a
	// JSON array.
	Line int
	Cred config.Credential
	// Err says why the entry is invalid; such an entry is reported, never
	// stored. It never contains a secret.
	Err error
}

// importJSON is one element of a JSON import: the field names of
// config.Credential in the configuration file.
type importJSON struct {
	Key          string    `json:"key"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	Email        string    `json:"email"`
	DailyLimit   int64     `json:"daily_limit"`
	DailyTokens  int64     `json:"daily_tokens"`
	DailySpend   float64   `json:"daily_spend"`
	Proxy        string    `json:"proxy"`
	Weight       int       `json:"weight"`
	// ServiceAccount (vertex) is the key file itself, or a string of it.
	ServiceAccount json.RawMessage `json:"service_account"`
	// AccessKeyID, SecretAccessKey and SessionToken (bedrock) are packed
	// into Key by Import, as the file's are.
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
}

// ParseImport reads credentials for Import: either a JSON array of objects
// with the configuration's credential fields (key, access_token,
// refresh_token, expires_at in RFC 3339, email, daily_limit, daily_tokens,
// daily_spend, proxy, weight; access_key_id, secret_access_key and
// session_token for bedrock; service_account for vertex), recognised by a
// first non-space byte '['; or one such object, or one Google
// service-account key file as downloaded (a multi-line JSON document),
// recognised by '{'; or plain text with one API key per line (blank lines
// and lines starting with # are skipped; a bedrock key is
// ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN], and the AWS console's
// accessKeys.csv is read as such keys). Entries that are
// invalid come back with Err set; the error is for input that cannot be
// read at all, such as malformed JSON, and names the byte offset.
func ParseImport(r io.Reader) ([]ImportEntry, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxImportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read import: %w", err)
	}
	if len(data) > maxImportBytes {
		return nil, fmt.Errorf("read import: larger than %d MiB", maxImportBytes>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) > 0 && t[0] == '[' {
		return parseJSONImport(data)
	}
	if len(t) > 0 && t[0] == '{' {
		return parseJSONObjectImport(data)
	}
	return parseTextImport(data), nil
}

// awsCSVHeader is the first line of the accessKeys.csv the AWS console
// offers for download when it creates an access key.
const awsCSVHeader = "access key id,secret access key"

func parseTextImport(data []byte) []ImportEntry {
	var out []ImportEntry
	awsCSV := false
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(out) == 0 && !awsCSV && strings.EqualFold(line, awsCSVHeader) {
			awsCSV = true
			continue
		}
		if awsCSV {
			// ACCESS_KEY_ID,SECRET becomes the bedrock key ID:SECRET.
			line = strings.Replace(line, ",", ":", 1)
		}
		e := ImportEntry{Line: i + 1, Cred: config.Credential{Key: config.Secret(line)}}
		e.Err = validateCredential(e.Cred)
		if e.Err == nil {
			e.Cred.Weight = 1
		}
		out = append(out, e)
	}
	return out
}

func parseJSONImport(data []byte) ([]ImportEntry, error) {
	var raws []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raws); err != nil {
		return nil, jsonDocError(err, dec)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse import: unexpected data after the JSON array at byte offset %d", dec.InputOffset())
	}
	out := make([]ImportEntry, len(raws))
	for i, raw := range raws {
		out[i] = parseJSONEntry(i+1, raw)
	}
	return out, nil
}

// jsonDocError names where a JSON document went wrong, without quoting it.
func jsonDocError(err error, dec *json.Decoder) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("parse import: malformed JSON at byte offset %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return fmt.Errorf("parse import: want a JSON array of objects, found %s at byte offset %d", typ.Value, typ.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("parse import: malformed JSON at byte offset %d: unexpected end of input", dec.InputOffset())
	}
	return fmt.Errorf("parse import: malformed JSON at byte offset %d: %w", dec.InputOffset(), err)
}

// parseJSONObjectImport reads one JSON object: a service-account key file
// (its "type" member says so) becomes a vertex credential; any other
// object is one credential entry, as in an array.
func parseJSONObjectImport(data []byte) ([]ImportEntry, error) {
	var raw json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, jsonDocError(err, dec)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse import: unexpected data after the JSON object at byte offset %d", dec.InputOffset())
	}
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &probe) == nil && probe.Type == "service_account" {
		sa, err := compactServiceAccount(string(raw))
		e := ImportEntry{Line: 1, Err: err, Cred: config.Credential{ServiceAccount: config.Secret(sa), Weight: 1}}
		if err == nil {
			e.Err = validateCredential(e.Cred)
		}
		return []ImportEntry{e}, nil
	}
	return []ImportEntry{parseJSONEntry(1, raw)}, nil
}

// compactServiceAccount is a key file on one line: a file pasted as
// downloaded and the same file re-indented are one credential (the
// fingerprint is of the stored text).
func compactServiceAccount(s string) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(strings.TrimSpace(s))); err != nil || !strings.HasPrefix(b.String(), "{") {
		return "", fieldErr("service_account", "service_account is not a JSON key file")
	}
	return b.String(), nil
}

func parseJSONEntry(n int, raw json.RawMessage) ImportEntry {
	e := ImportEntry{Line: n}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		e.Err = errors.New("not a JSON object")
		return e
	}
	var v importJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		e.Err = jsonEntryError(err)
		return e
	}
	sa, err := serviceAccountOf(v.ServiceAccount)
	if err != nil {
		e.Err = err
		return e
	}
	e.Cred = config.Credential{
		Key: config.Secret(v.Key), AccessToken: config.Secret(v.AccessToken), RefreshToken: config.Secret(v.RefreshToken),
		ExpiresAt: v.ExpiresAt, Email: v.Email, DailyLimit: v.DailyLimit, DailyTokens: v.DailyTokens,
		DailySpend: v.DailySpend, Proxy: v.Proxy, Weight: v.Weight, ServiceAccount: config.Secret(sa),
		AccessKeyID: config.Secret(v.AccessKeyID), SecretAccessKey: config.Secret(v.SecretAccessKey),
		SessionToken: config.Secret(v.SessionToken),
	}
	e.Cred.PackAWSKey()
	if e.Err = validateCredential(e.Cred); e.Err == nil {
		e.Cred.Weight = max(e.Cred.Weight, 1)
	}
	return e
}

// serviceAccountOf reads service_account given as the key file's JSON
// object or as a string holding it.
func serviceAccountOf(raw json.RawMessage) (string, error) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0 || string(t) == "null":
		return "", nil
	case t[0] == '{':
		var b bytes.Buffer
		if err := json.Compact(&b, t); err != nil {
			return "", fieldErr("service_account", "service_account is not a JSON key file")
		}
		return b.String(), nil
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", fieldErr("service_account", "service_account is not a JSON key file")
		}
		return s, nil
	}
	return "", fieldErr("service_account", "service_account: want the key file (an object) or a string of it")
}

// jsonEntryError explains a bad entry by field, never by value: a value
// may be a secret.
func jsonEntryError(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("field %s: want %s, found %s", typ.Field, typ.Type, typ.Value)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(msg, "json: unknown field "))
	}
	var perr *time.ParseError
	if errors.As(err, &perr) {
		return errors.New("field expires_at: want an RFC 3339 time such as 2030-01-02T15:04:05Z")
	}
	return errors.New("not a valid credential object")
}

// fieldError is a validation error that knows the field it is about; its
// message names the field too, as the import report shows it.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }

func fieldErr(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// validateCredential reports why c cannot be stored, naming the field but
// never quoting a secret.
func validateCredential(c config.Credential) error {
	key, at, rt, sa := c.Key.Value(), c.AccessToken.Value(), c.RefreshToken.Value(), c.ServiceAccount.Value()
	switch {
	case sa != "" && (key != "" || at != "" || rt != ""):
		return fieldErr("service_account", "service_account goes alone, without key or tokens")
	case len(sa) > maxTokenLen:
		return fieldErr("service_account", "service_account longer than %d bytes", maxTokenLen)
	case key == "" && at == "" && rt == "" && sa == "" && c.AccessKeyID == "" && c.SecretAccessKey == "" && c.SessionToken == "":
		// An incomplete AWS key is for the file's rules to name the
		// missing field of (Import and AddCredential apply them).
		return fieldErr("key", "empty: set key (an API key) or access_token (an OAuth token)")
	case key != "" && (at != "" || rt != ""):
		return fieldErr("access_token", "set either key or access_token/refresh_token, not both")
	case rt != "" && at == "":
		return fieldErr("refresh_token", "refresh_token goes with access_token")
	case len(key) > maxKeyLen:
		return fieldErr("key", "key longer than %d bytes", maxKeyLen)
	case len(at) > maxTokenLen:
		return fieldErr("access_token", "access_token longer than %d bytes", maxTokenLen)
	case len(rt) > maxTokenLen:
		return fieldErr("refresh_token", "refresh_token longer than %d bytes", maxTokenLen)
	case len(c.Email) > maxEmailLen:
		return fieldErr("email", "email longer than %d bytes", maxEmailLen)
	case c.Weight < 0:
		return fieldErr("weight", "weight %d is negative", c.Weight)
	case c.DailyLimit < 0:
		return fieldErr("daily_limit", "daily_limit %d is negative", c.DailyLimit)
	case c.DailyTokens < 0:
		return fieldErr("daily_tokens", "daily_tokens %d is negative", c.DailyTokens)
	case c.DailySpend < 0 || c.DailySpend != c.DailySpend:
		return fieldErr("daily_spend", "daily_spend must be 0 (no limit) or more")
	}
	for _, f := range []struct{ name, value string }{
		{"key", key}, {"access_token", at}, {"refresh_token", rt}, {"email", c.Email}, {"proxy", c.Proxy},
	} {
		if err := cleanValue(f.value); err != nil {
			return fieldErr(f.name, "%s %s", f.name, err)
		}
	}
	if c.Proxy != "" {
		u, err := url.Parse(c.Proxy)
		if err != nil || u.Host == "" {
			return fieldErr("proxy", "proxy is not a URL such as http://host:3128")
		}
		if s := strings.ToLower(u.Scheme); s != "http" && s != "https" && s != "socks5" {
			return fieldErr("proxy", "proxy scheme must be http, https or socks5")
		}
	}
	return nil
}

// cleanValue rejects what cannot be part of a key, token or address:
// a stray space or line break almost always means a mangled paste.
func cleanValue(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			return errors.New("contains whitespace")
		case unicode.IsControl(r):
			return errors.New("contains a control character")
		}
	}
	return nil
}
