package openai

import "strings"

// ParseDataURL splits a base64 data URL ("data:image/png;base64,AAAA") into
// its media type and payload. ok is false for any other URL, including
// non-base64 data URLs, which no upstream accepts as inline data.
func ParseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	meta, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 || meta == "" || data == "" {
		return "", "", false
	}
	if i := strings.IndexByte(meta, ';'); i >= 0 {
		meta = meta[:i] // drop parameters such as charset
	}
	return meta, data, true
}

// DataURL builds a base64 data URL.
func DataURL(mediaType, data string) string {
	return "data:" + mediaType + ";base64," + data
}

// IsHTTPURL reports whether u is an http or https URL.
func IsHTTPURL(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}
