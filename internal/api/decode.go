package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/bodyread"
)

// DecodeJSON reads r's body as one JSON value into dst. Every failure is an
// *apierror.Error the caller can hand to WriteOpenAI/WriteAnthropic as is:
// a body over the limit → 413, malformed JSON → 400 with the byte offset, a
// field of the wrong type → 400 naming the field, a non-JSON content type →
// 415. A missing Content-Type is accepted: curl and many scripts omit it.
// Unknown fields are accepted, because OpenAI adds fields faster than any
// gateway can list them.
func DecodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return apierror.UnsupportedMediaType(ct, "Content-Type: application/json")
	}
	if r.Body == nil {
		return apierror.InvalidRequest("The request body is empty; expected a JSON object.", "")
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, dec)
	}
	// One value only: trailing garbage usually means a broken client.
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierror.RequestTooLarge(mbe.Limit)
		}
		return apierror.InvalidRequest(fmt.Sprintf(
			"Unexpected data after the JSON value at byte offset %d.", dec.InputOffset()), "")
	}
	return nil
}

func decodeError(err error, dec *json.Decoder) error {
	var (
		mbe *http.MaxBytesError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return apierror.RequestTooLarge(mbe.Limit)
	case errors.As(err, &syn):
		return apierror.InvalidRequest(fmt.Sprintf(
			"The request body is not valid JSON: %s (at byte offset %d).", syn.Error(), syn.Offset), "")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apierror.InvalidRequest(fmt.Sprintf(
				"The request body must be a JSON object, not a JSON %s.", typ.Value), "")
		}
		return apierror.InvalidRequest(fmt.Sprintf(
			"Invalid type for %s: expected %s, got %s (at byte offset %d).", field, typ.Type, typ.Value, typ.Offset), field)
	case errors.Is(err, io.EOF):
		return apierror.InvalidRequest("The request body is empty; expected a JSON object.", "")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierror.InvalidRequest(fmt.Sprintf(
			"The request body is truncated JSON (ended at byte offset %d).", dec.InputOffset()), "")
	}
	if errors.Is(err, errBodyTooSlow) {
		return fmt.Errorf("%w: %w", BodyTooSlow(), err)
	}
	// A read error: the client went away or sent a broken chunked body. Keep
	// the cause in the chain for the caller's log; the client sees only 400.
	return fmt.Errorf("%w: %w", apierror.InvalidRequest("Could not read the request body.", ""), err)
}

// jsonType is the Content-Type nearly every API client sends: isJSON and
// isMultipart answer it without mime.ParseMediaType (an allocation each,
// on every request).
const jsonType = "application/json"

func isJSON(contentType string) bool {
	if contentType == jsonType {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// ReadJSONBody reads the whole body (bounded by the middleware) of a request
// that must be JSON, for handlers that pass it on as bytes instead of
// decoding it. Failures are *apierror.Error values as for DecodeJSON.
func ReadJSONBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return nil, apierror.UnsupportedMediaType(ct, "Content-Type: application/json")
	}
	if r.Body == nil {
		return nil, apierror.InvalidRequest("The request body is empty; expected a JSON object.", "")
	}
	b, err := readAll(r.Body, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierror.RequestTooLarge(mbe.Limit)
		}
		if errors.Is(err, errBodyTooSlow) {
			return nil, fmt.Errorf("%w: %w", BodyTooSlow(), err)
		}
		return nil, fmt.Errorf("%w: %w", apierror.InvalidRequest("Could not read the request body.", ""), err)
	}
	// Read to its end: closed now, net/http need not try to read the rest
	// before the answer's header goes out (an allocation per request).
	_ = r.Body.Close()
	if len(b) == 0 {
		return nil, apierror.InvalidRequest("The request body is empty; expected a JSON object.", "")
	}
	return b, nil
}

// sizeHintCap bounds the buffer a request's Content-Length may claim before
// its bytes arrive; a larger body grows as it comes.
const sizeHintCap = 1 << 20

// readAll reads a request body to its end, in one buffer of its announced
// size when that is at most sizeHintCap (bodyread.Read). Its limit is the
// router's MaxBytesReader, not this.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size > sizeHintCap {
		size = -1
	}
	return bodyread.Read(r, size, math.MaxInt64-1)
}
