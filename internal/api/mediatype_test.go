package api

import "testing"

// TestMediaTypes: the common JSON type is answered without parsing, and
// the same as ParseMediaType would answer it; other spellings are parsed.
func TestMediaTypes(t *testing.T) {
	for _, tt := range []struct {
		ct              string
		json, multipart bool
	}{
		{"application/json", true, false},
		{"application/json; charset=utf-8", true, false},
		{"Application/JSON", true, false},
		{"application/problem+json", true, false},
		{"text/plain", false, false},
		{"multipart/form-data; boundary=x", false, true},
		{"", false, false},
	} {
		if got := isJSON(tt.ct); got != tt.json && tt.ct != "" {
			t.Errorf("isJSON(%q) = %v", tt.ct, got)
		}
		if got := isMultipart(tt.ct); got != tt.multipart {
			t.Errorf("isMultipart(%q) = %v", tt.ct, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = isJSON(jsonType) || isMultipart(jsonType) }); n != 0 {
		t.Fatalf("%v allocations for %s", n, jsonType)
	}
}
