package console

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// Decode reads r's body as one JSON object into dst, strictly: an unknown
// member, a member of the wrong type, malformed or trailing JSON, a body
// over the size limit or a non-JSON content type is an *Error naming what
// is wrong. The console is our own client: unlike /v1, there is no reason
// to accept members we do not know, and a typo must not pass silently.
func Decode(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: "Send the body as application/json."}
		}
	}
	if r.Body == nil {
		return Invalid("", "The request body is empty; expected a JSON object.")
	}
	body := &readTracker{r: r.Body}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if body.err == nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isDecoderError(err) {
			// A member's own UnmarshalJSON refused its value (a time that
			// is not RFC 3339): encoding/json names no field for it, so
			// find the member whose value its type refuses.
			return Invalidf(unmarshalerField(body.buf, reflect.TypeOf(dst)), "Invalid value: %s.", err.Error())
		}
		return decodeError(err, dec)
	}
	if _, err := dec.Token(); err != io.EOF {
		if e := tooLarge(err); e != nil {
			return e
		}
		return Invalidf("", "Unexpected data after the JSON value at byte offset %d.", dec.InputOffset())
	}
	return nil
}

// readTracker keeps what was read (console bodies are small and bounded by
// the router) and the read error, to tell a broken body from a refused value.
type readTracker struct {
	r   io.Reader
	buf []byte
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// isDecoderError reports errors encoding/json itself makes about the text.
func isDecoderError(err error) bool {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	return errors.As(err, &syn) || errors.As(err, &typ) || strings.HasPrefix(err.Error(), "json: ")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// unmarshalerField returns the JSON path of the first member of data whose
// Go type (in t) has its own UnmarshalJSON and refuses the member's value;
// "" when there is none.
func unmarshalerField(data []byte, t reflect.Type) string {
	var tree any
	if json.Unmarshal(data, &tree) != nil {
		return ""
	}
	return findRefused(tree, t, "")
}

func findRefused(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return ""
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		raw, _ := json.Marshal(v)
		if json.Unmarshal(raw, reflect.New(t).Interface()) != nil {
			return path
		}
		return ""
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if p := findRefused(obj[name], f.Type, join(path, name)); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := v.([]any)
		for i, x := range arr {
			if p := findRefused(x, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		obj, _ := v.(map[string]any)
		for k, x := range obj {
			if p := findRefused(x, t.Elem(), join(path, k)); p != "" {
				return p
			}
		}
	}
	return ""
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func tooLarge(err error) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("The request body is over the limit of %d bytes.", mbe.Limit)}
	}
	return nil
}

func decodeError(err error, dec *json.Decoder) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	if e := tooLarge(err); e != nil {
		return e
	}
	switch {
	case errors.As(err, &syn):
		return Invalidf("", "The body is not valid JSON: %s (at byte offset %d).", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return Invalidf("", "The body must be a JSON object, not a JSON %s.", typ.Value)
		}
		return Invalidf(typ.Field, "Expected %s, got a JSON %s.", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF):
		return Invalid("", "The request body is empty; expected a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalidf("", "The body is truncated JSON (ended at byte offset %d).", dec.InputOffset())
	}
	// encoding/json reports an unknown member only in the message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return Invalidf(name, "Unknown member %q.", name)
	}
	return fmt.Errorf("read the request body: %w", err)
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "an integer"
	case strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "true or false"
	case goKind == "slice" || goKind == "array":
		return "an array"
	case goKind == "map" || goKind == "struct":
		return "an object"
	}
	return "another type"
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Page is a list request's ?limit and ?cursor.
type Page struct {
	Limit  int
	Cursor string // decoded; "" for the first page
}

// PageOf reads ?limit (1…MaxLimit, default DefaultLimit) and ?cursor (as
// given by a previous page's next_cursor).
func PageOf(r *http.Request) (Page, error) {
	p := Page{Limit: DefaultLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return p, Invalidf("limit", "Must be an integer from 1 to %d.", MaxLimit)
		}
		p.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return p, Invalid("cursor", "Not a cursor this API gave out; start from the first page.")
		}
		p.Cursor = string(b)
	}
	return p, nil
}

// AfterID reads the cursor of a list ordered by descending id: the id the
// previous page ended at, 0 on the first page.
func (p Page) AfterID() (int64, error) {
	if p.Cursor == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(p.Cursor, 10, 64)
	if err != nil || id <= 0 {
		return 0, Invalid("cursor", "Not a cursor this API gave out; start from the first page.")
	}
	return id, nil
}

// List is a page of a list.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// Cursor encodes a position for next_cursor.
func Cursor(position string) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte(position))
	return &s
}

// PageByID makes the page from items fetched with limit+1 rows, ordered by
// descending id: when there is one row more than the limit, the page ends at
// the limit and the cursor is the last shown id.
func PageByID[T any](items []T, limit int, id func(T) int64) List[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return List[T]{Items: items}
	}
	items = items[:limit]
	return List[T]{Items: items, NextCursor: Cursor(strconv.FormatInt(id(items[limit-1]), 10))}
}

// PathID reads a positive integer path value; anything else is a 404, as no
// such resource can exist.
func PathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, NotFound(name + " " + strconv.Quote(s))
	}
	return id, nil
}
